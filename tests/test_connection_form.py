"""One description of the connection form serves both the metadata form (3.2+) and the hook's
legacy methods (older UIs): they must list the same fields, labels and behaviour."""

from __future__ import annotations

from airflow_provider_soda.get_provider_info import get_provider_info
from airflow_provider_soda.hooks.form import (
    CONN_FIELDS,
    legacy_description,
    legacy_widget_kind,
    ui_field_behaviour,
)
from airflow_provider_soda.hooks.settings import SodaCloudSettings
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook


def test_provider_metadata_is_the_shared_description() -> None:
    (connection_type,) = get_provider_info()["connection-types"]
    assert connection_type["conn-fields"] is CONN_FIELDS
    behaviour = connection_type["ui-field-behaviour"]
    assert (
        SodaCloudHook.get_ui_field_behaviour()
        == ui_field_behaviour()
        == {
            "hidden_fields": behaviour["hidden-fields"],
            "relabeling": behaviour["relabeling"],
            "placeholders": behaviour["placeholders"],
        }
    )


def test_legacy_fields_use_only_the_classes_old_uis_accept() -> None:
    kinds = {name: legacy_widget_kind(field["schema"]) for name, field in CONN_FIELDS.items()}
    assert kinds == {
        "region": "string",
        "token": "password",
        "verify": "string",
        "timeout": "string",
        "update_incident_requests": "integer",
        "update_incident_period": "string",
        "rate_limit_group": "string",
        "rate_limits": "string",
        "webhook_token": "password",
        "webhook_link_back": "boolean",
    }
    assert "One of: eu, us (default eu)." in legacy_description(CONN_FIELDS["region"])
    assert legacy_description(CONN_FIELDS["rate_limits"]).endswith("A JSON object.")


def test_settings_read_what_a_legacy_text_field_stores() -> None:
    """Old UIs store numbers typed into text fields as strings; the settings must take them."""
    from airflow.providers.common.compat.sdk import Connection

    conn = Connection(
        conn_id="legacy",
        conn_type="soda_cloud",
        login="id",
        password="secret",
        extra='{"region": "us", "timeout": "12.5", "update_incident_period": "30", "update_incident_requests": 5}',
    )
    settings = SodaCloudSettings.from_connection(conn)
    assert (settings.base_url, settings.timeout) == ("https://cloud.us.soda.io", 12.5)
    limit = settings.rate_limit("update_incident")
    assert (limit.requests, limit.period) == (5, 30.0)


def test_legacy_widgets_build_with_the_real_form_library() -> None:
    """Where a UI reads the hook's widgets (2.11's web server; 3.0/3.1 with Flask-AppBuilder), they
    build with the real wtforms and Flask-AppBuilder, one field per described field."""
    import pytest

    pytest.importorskip(
        "flask_appbuilder",
        reason="no Flask-AppBuilder here: this Airflow draws the form from provider metadata (3.2+), "
        "or needs apache-airflow-providers-fab for any provider's form fields (3.0/3.1)",
    )
    from wtforms import BooleanField, IntegerField, PasswordField, StringField

    widgets = SodaCloudHook.get_connection_form_widgets()
    assert list(widgets) == list(CONN_FIELDS)
    kinds = {
        StringField: "string",
        PasswordField: "password",
        IntegerField: "integer",
        BooleanField: "boolean",
    }
    for name, field in widgets.items():
        assert kinds[field.field_class] == legacy_widget_kind(CONN_FIELDS[name]["schema"]), name
        assert str(field.args[0]) == CONN_FIELDS[name]["label"]
        assert field.kwargs["description"] == legacy_description(CONN_FIELDS[name])


def test_the_ui_receives_the_soda_cloud_form() -> None:
    """What Airflow 3's UI asks its API for to draw the form: every field, typed and labelled."""
    import pytest

    from airflow_provider_soda.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_2_PLUS

    if not AIRFLOW_V_3_0_PLUS:
        pytest.skip("Airflow 2's web server renders the hook's widgets itself (previous test)")
    if not AIRFLOW_V_3_2_PLUS:
        pytest.importorskip(
            "flask_appbuilder",
            reason="Airflow 3.0/3.1 show a provider's form fields only with apache-airflow-providers-fab",
        )
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "soda_cloud"]
    extra = meta.extra_fields or {}
    assert set(extra) == set(CONN_FIELDS)
    assert extra["region"]["schema"]["title"] == "Region"
    assert "string" in extra["region"]["schema"]["type"]
    assert "integer" in extra["update_incident_requests"]["schema"]["type"]
    assert extra["token"]["schema"].get("format") == "password"
    assert meta.standard_fields is not None
    login, port = meta.standard_fields.login, meta.standard_fields.port
    assert login is not None
    assert login.title == "API key ID"
    assert port is not None
    assert port.hidden
