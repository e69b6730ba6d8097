"""Request validation happens before any request; response parsing is lenient."""

from __future__ import annotations

import pytest

from airflow_provider_soda.exceptions import SodaCloudValidationError
from airflow_provider_soda.models import Incident, IncidentSeverity, IncidentStatus, IncidentUpdate


def test_only_set_fields_are_sent_in_camel_case() -> None:
    update = IncidentUpdate.build(status="resolved", resolution_notes="done", title=None)
    assert update.to_payload() == {"status": "resolved", "resolutionNotes": "done"}


@pytest.mark.parametrize("value", ["Resolved", " RESOLVED ", "resolved", IncidentStatus.RESOLVED])
def test_enum_values_are_normalised(value: str) -> None:
    assert IncidentUpdate.build(status=value).status is IncidentStatus.RESOLVED


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": "closed"}, "status must be one of: reported, investigating, fixing, resolved"),
        ({"severity": "blocker"}, "severity must be one of: minor, major, critical"),
        ({}, "set at least one of status, severity, title, description, resolution_notes"),
        ({"status": None, "title": None}, "set at least one"),
        ({"priority": "high"}, "unknown field 'priority'"),
        ({"title": ""}, "title"),
        ({"description": 42}, "description"),
    ],
)
def test_invalid_updates_name_the_problem(fields: dict[str, object], message: str) -> None:
    with pytest.raises(SodaCloudValidationError, match=message):
        IncidentUpdate.build(**fields)


def test_validation_error_is_a_value_error_without_pydantic_noise() -> None:
    with pytest.raises(ValueError, match="Invalid incident update") as excinfo:
        IncidentUpdate.build(status="closed")
    assert "errors.pydantic.dev" not in str(excinfo.value)


def test_incident_parsing_is_lenient() -> None:
    incident = Incident.model_validate(
        {"id": "i", "status": "archived", "severity": "major", "cloudUrl": "u", "newField": {"x": 1}}
    )
    assert incident.status == "archived"
    assert incident.status_value == "archived"
    assert incident.severity is IncidentSeverity.MAJOR
    assert incident.cloud_url == "u"
    assert incident.description is None


def test_xcom_form_is_plain_json_with_snake_case_keys() -> None:
    incident = Incident.model_validate({"id": "i", "number": 3, "status": "fixing", "resolutionNotes": "n"})
    assert incident.to_xcom() == {
        "id": "i",
        "number": 3,
        "name": None,
        "status": "fixing",
        "severity": None,
        "description": None,
        "resolution_notes": "n",
        "cloud_url": None,
        "has_rca_report": None,
    }


def test_error_body_is_read_leniently() -> None:
    from airflow_provider_soda.models import ErrorBody

    assert ErrorBody.parse(
        '{"code": "not_found", "message": "Incident x not found", "extra": 1}'
    ) == ErrorBody(code="not_found", message="Incident x not found")
    assert ErrorBody.parse("<html>Bad gateway</html>") == ErrorBody()
    assert ErrorBody.parse('{"code": 5}') == ErrorBody()
    assert ErrorBody.parse("") == ErrorBody()
