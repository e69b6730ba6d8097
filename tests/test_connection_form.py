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
