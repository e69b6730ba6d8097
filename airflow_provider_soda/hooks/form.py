"""The Soda Cloud connection form, described once for every Airflow release the provider runs on.

Airflow 3.2 and later draw the form from provider metadata (``conn-fields`` and
``ui-field-behaviour`` in :func:`~airflow_provider_soda.get_provider_info.get_provider_info`)
without importing the hook. Airflow 2.11's web server, 3.0 and 3.1 call the hook's
``get_connection_form_widgets()`` / ``get_ui_field_behaviour()`` instead; those are built here
from the same description, so the two forms cannot drift. Importing this module imports no
form library; wtforms and Flask-AppBuilder are imported only when an old UI asks for widgets.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_soda.endpoints import DEFAULT_REGION, REGIONS

#: Extra fields, as JSON schemas (the metadata format of Airflow 3.2+).
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "region": {
        "label": "Region",
        "description": "The Soda Cloud you log in to; API keys work only in their own "
        "region. Ignored when a custom base URL is set.",
        "schema": {
            "type": ["string", "null"],
            # null: the field left empty (the default region applies), which the
            # type admits, so the enum must too.
            "enum": [*REGIONS, None],
            "default": DEFAULT_REGION,
            # The dropdown shows "US (cloud.us.soda.io)"; the stored value stays "us".
            "values_display": {
                name: f"{name.upper()} ({url.removeprefix('https://')})" for name, url in REGIONS.items()
            },
        },
    },
    "token": {
        "label": "Cookie token (instead of an API key)",
        "description": "A pre-authenticated Soda Cloud token, sent as cookie 'token'. "
        "Only used when no API key is set.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "verify": {
        "label": "CA bundle (optional)",
        "description": "Path, on the workers, of a CA bundle file for a corporate TLS "
        "proxy in front of Soda Cloud. TLS verification cannot be turned off.",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Request timeout (seconds)",
        "schema": {"type": ["number", "null"], "minimum": 1, "default": 30},
    },
    "update_incident_requests": {
        "label": "Incident updates per window",
        "description": "How many incident updates Soda Cloud allows per window. Leave empty "
        "for the documented limit (10).",
        "schema": {"type": ["integer", "null"], "minimum": 1},
    },
    "update_incident_period": {
        "label": "Window length (seconds)",
        "description": "Length of that window. Leave empty for the documented 60 s.",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
    "rate_limit_group": {
        "label": "Rate limit group (optional)",
        "description": "Connections naming the same group share one rate-limit queue. "
        "Set it on every connection of one Soda organisation if Soda counts its limits "
        "per organisation rather than per API key.",
        "schema": {"type": ["string", "null"]},
    },
    "rate_limits": {
        "label": "Other rate limit overrides (advanced)",
        "description": 'Any endpoint, e.g. {"test_login": {"requests": 10, "period": 10}}. '
        "Leave empty for Soda Cloud's documented limits.",
        "schema": {"type": ["object", "null"]},
    },
    "webhook_token": {
        "label": "Webhook token (receives Soda webhooks)",
        "description": "Set it to receive Soda Cloud's webhooks at /soda-cloud/webhooks/<this "
        "connection's id> on the Airflow API server; Soda must send the header "
        "'Authorization: Bearer <token>'. At least 16 characters. Empty: no webhooks.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "webhook_link_back": {
        "label": "Link incidents back to Airflow",
        "description": "When a webhook delivery offers it, add a link to the Airflow asset "
        "to the Soda Cloud incident (sent only to this connection's own Soda Cloud host).",
        "schema": {"type": ["boolean", "null"], "default": False},
    },
}

#: Standard fields: which are hidden, and how the others are labelled.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port", "extra"],
    "relabeling": {
        "login": "API key ID",
        "password": "API key secret",
        "host": "Custom base URL (optional)",
    },
    "placeholders": {
        "login": "API key ID from Soda Cloud: Profile -> API Keys",
        "password": "API key secret",
        "host": "https://cloud.soda.io (leave empty to use the region)",
    },
}


def _types(schema: dict[str, Any]) -> set[str]:
    kinds = schema.get("type", "string")
    return {kinds} if isinstance(kinds, str) else set(kinds)


def legacy_widget_kind(schema: dict[str, Any]) -> str:
    """Return which of the form classes old UIs accept renders ``schema``: password, integer, boolean or string.

    Those UIs accept only string, password, integer and boolean fields, so a choice becomes text
    with its values in the description, and a number or a JSON object becomes text too (the
    connection's settings parse them either way).
    """
    if schema.get("format") == "password":
        return "password"
    if "integer" in _types(schema):
        return "integer"
    if "boolean" in _types(schema):
        return "boolean"
    return "string"


def legacy_description(field: dict[str, Any]) -> str:
    """Return the field's description plus what the 3.2+ form shows through its widget (choices, JSON)."""
    schema: dict[str, Any] = field["schema"]
    text = str(field.get("description", ""))
    choices = [value for value in schema.get("enum", []) if value is not None]
    if choices:
        text += f" One of: {', '.join(choices)} (default {schema.get('default')})."
    if "object" in _types(schema):
        text += " A JSON object."
    return text.strip()


def connection_form_widgets() -> dict[str, Any]:
    """``get_connection_form_widgets()`` for Airflow 2.11, 3.0 and 3.1, built from :data:`CONN_FIELDS`."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, PasswordField, StringField
    from wtforms.validators import NumberRange, Optional

    widgets: dict[str, Any] = {}
    for name, field in CONN_FIELDS.items():
        label, description = lazy_gettext(field["label"]), legacy_description(field)
        kind = legacy_widget_kind(field["schema"])
        if kind == "password":
            widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), description=description)
        elif kind == "boolean":
            widgets[name] = BooleanField(label, description=description)
        elif kind == "integer":
            minimum = field["schema"].get("minimum")
            validators = [Optional(), *([NumberRange(min=minimum)] if minimum is not None else [])]
            widgets[name] = IntegerField(
                label, widget=BS3TextFieldWidget(), description=description, validators=validators
            )
        else:
            default = field["schema"].get("default")
            widgets[name] = StringField(
                label,
                widget=BS3TextFieldWidget(),
                description=description,
                default=None if default is None else str(default),
            )
    return widgets


def ui_field_behaviour() -> dict[str, Any]:
    """``get_ui_field_behaviour()`` for Airflow 2.11, 3.0 and 3.1, from :data:`UI_FIELD_BEHAVIOUR`."""
    return {
        "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
        "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
        "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
    }
