"""Pydantic models of the Soda Cloud incident API.

The schemas are ``PublicApiUpdateIncidentDTO``, ``IncidentContentDTO`` and ``PublicApiIncidentsResponse``.

Requests are strict, so that a typo fails before anything is sent; responses are lenient,
because Soda's documentation has changed which response fields are required.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from airflow_provider_soda.exceptions import SodaCloudValidationError
from airflow_provider_soda.models.common import MAX_ID_LENGTH, normalise_id


class IncidentStatus(str, Enum):
    """``IncidentStatusDTO``."""

    REPORTED = "reported"
    INVESTIGATING = "investigating"
    FIXING = "fixing"
    RESOLVED = "resolved"


class IncidentSeverity(str, Enum):
    """``IncidentSeverityDTO``."""

    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


#: The fields an update may set, by their Python names.
UPDATE_FIELDS = ("status", "severity", "title", "description", "resolution_notes")


def normalise_enum_value(value: Any) -> Any:
    """Return a status or severity given as text without blanks and in lower case (``" Resolved"``)."""
    if isinstance(value, str) and not isinstance(value, Enum):
        return value.strip().lower()
    return value


MAX_INCIDENT_ID_LENGTH = MAX_ID_LENGTH


def normalise_incident_id(incident_id: Any) -> str:
    """Check an incident id before it goes into a URL path (see :func:`~.common.normalise_id`)."""
    return normalise_id(
        incident_id,
        "incident_id",
        hint="Pass the id of the Soda Cloud incident (params, dag_run.conf or XCom).",
    )


def _allowed(enum: type[Enum]) -> str:
    return ", ".join(str(member.value) for member in enum)


class IncidentUpdate(BaseModel):
    """Body of ``POST /api/v1/incidents/{incidentId}``: only the fields that are set are sent.

    Enum values are matched case-insensitively and without surrounding blanks (``" Resolved"``
    becomes ``resolved``), because they usually come from templates and params.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)

    status: IncidentStatus | None = None
    severity: IncidentSeverity | None = None
    title: str | None = Field(default=None, min_length=1)
    description: str | None = None
    resolution_notes: str | None = Field(default=None, alias="resolutionNotes")

    @field_validator("status", "severity", mode="before")
    @classmethod
    def _normalise_enum(cls, value: Any) -> Any:
        return normalise_enum_value(value)

    @model_validator(mode="after")
    def _at_least_one_field(self) -> IncidentUpdate:
        if not self.model_fields_set or all(getattr(self, name) is None for name in self.model_fields_set):
            raise ValueError(f"nothing to update: set at least one of {', '.join(UPDATE_FIELDS)}")
        return self

    @classmethod
    def build(cls, **fields: Any) -> IncidentUpdate:
        """Validate ``fields`` (Python names), turning pydantic's error into one readable sentence."""
        given = {name: value for name, value in fields.items() if value is not None}
        try:
            return cls(**given)
        except ValidationError as err:
            raise SodaCloudValidationError(f"Invalid incident update: {_describe(err)}") from None

    def to_payload(self) -> dict[str, Any]:
        """Return the JSON body, camelCase as on the wire, without unset fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _describe(err: ValidationError) -> str:
    problems = []
    for error in err.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"]) or "update"
        if field == "status" and error["type"] == "enum":
            problems.append(f"status must be one of: {_allowed(IncidentStatus)}")
        elif field == "severity" and error["type"] == "enum":
            problems.append(f"severity must be one of: {_allowed(IncidentSeverity)}")
        elif error["type"] == "extra_forbidden":
            problems.append(f"unknown field {field!r}; allowed: {', '.join(UPDATE_FIELDS)}")
        elif field == "update":
            problems.append(error["msg"].removeprefix("Value error, "))
        else:
            problems.append(f"{field}: {error['msg']}")
    return "; ".join(problems)


class Incident(BaseModel):
    """``IncidentContentDTO`` as returned by Soda Cloud; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, defer_build=True)

    id: str | None = None
    number: int | None = None
    name: str | None = None
    # Known values become enums; a value added by Soda later is kept as a plain string.
    status: IncidentStatus | str | None = Field(default=None, union_mode="left_to_right")
    severity: IncidentSeverity | str | None = Field(default=None, union_mode="left_to_right")
    description: str | None = None
    resolution_notes: str | None = Field(default=None, alias="resolutionNotes")
    cloud_url: str | None = Field(default=None, alias="cloudUrl")
    # True or False, or None where the organisation lacks Soda's root-cause-report preview.
    has_rca_report: bool | None = Field(default=None, alias="hasRcaReport")

    @property
    def severity_value(self) -> str | None:
        """The severity as a plain string, whether or not this provider knows the value."""
        return self.severity.value if isinstance(self.severity, Enum) else self.severity

    @property
    def status_value(self) -> str | None:
        """The status as a plain string, whether or not this provider knows the value."""
        return self.status.value if isinstance(self.status, Enum) else self.status

    def changes(self, update: IncidentUpdate) -> dict[str, list[Any]]:
        """Return what ``update`` would change, ``{field: [now, asked]}`` by Python field name."""
        current = {
            "status": self.status_value,
            "severity": self.severity_value,
            "title": self.name,
            "description": self.description,
            "resolution_notes": self.resolution_notes,
        }
        asked = update.model_dump(mode="json", exclude_none=True)
        return {field: [current[field], value] for field, value in asked.items() if current[field] != value}

    def satisfies(self, update: IncidentUpdate) -> bool:
        """Tell whether the incident already holds every field ``update`` sets (sending it would change nothing)."""
        return not self.changes(update)

    def to_xcom(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict with snake_case keys, as pushed to XCom."""
        return self.model_dump(mode="json", by_alias=False)


class IncidentPage(BaseModel):
    """One page of ``GET /api/v1/incidents`` (``PublicApiIncidentsResponse``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    content: list[Incident] = Field(default_factory=list)
    last: bool | None = None  # whether this is the last page; None when Soda leaves it out
    total_elements: int | None = Field(default=None, alias="totalElements")
