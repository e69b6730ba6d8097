"""Pydantic models of the Soda Cloud incident API.

The schemas are ``PublicApiUpdateIncidentDTO``, ``IncidentContentDTO`` and ``ErrorResponse``.

Requests are strict, so that a typo fails before anything is sent; responses are lenient,
because Soda's documentation has changed which response fields are required.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from enum import Enum
from itertools import product
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from airflow_provider_soda.exceptions import SodaCloudValidationError


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


def _allowed(enum: type[Enum]) -> str:
    return ", ".join(str(member.value) for member in enum)


class IncidentUpdate(BaseModel):
    """Body of ``POST /api/v1/incidents/{incidentId}``: only the fields that are set are sent.

    Enum values are matched case-insensitively and without surrounding blanks (``" Resolved"``
    becomes ``resolved``), because they usually come from templates and params.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    status: IncidentStatus | None = None
    severity: IncidentSeverity | None = None
    title: str | None = Field(default=None, min_length=1)
    description: str | None = None
    resolution_notes: str | None = Field(default=None, alias="resolutionNotes")

    @field_validator("status", "severity", mode="before")
    @classmethod
    def _normalise_enum(cls, value: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, Enum):
            return value.strip().lower()
        return value

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

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

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


class ErrorBody(BaseModel):
    """``ErrorResponse``: Soda's error ``code`` and ``message``, both optional."""

    model_config = ConfigDict(extra="ignore")

    code: str | None = None
    message: str | None = None

    @classmethod
    def parse(cls, text: str) -> ErrorBody:
        """Soda's error from a response body; empty when the body is not an ``ErrorResponse`` (a proxy page)."""
        try:
            return cls.model_validate_json(text)
        except ValidationError:
            return cls()


class TestLogin(BaseModel):
    """Answer of ``GET /api/v1/test-login``."""

    __test__ = False  # not a pytest test class
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    organisation_name: str | None = Field(default=None, alias="organisationName")


class IncidentPage(BaseModel):
    """One page of ``GET /api/v1/incidents`` (``PublicApiIncidentsResponse``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    content: list[Incident] = Field(default_factory=list)
    last: bool | None = None  # whether this is the last page; None when Soda leaves it out
    total_elements: int | None = Field(default=None, alias="totalElements")


#: Every status but ``resolved``; ``status="open"`` in a selection stands for these.
OPEN_STATUSES = (IncidentStatus.REPORTED, IncidentStatus.INVESTIGATING, IncidentStatus.FIXING)
#: Severities from the least to the most severe, for "at or above" comparisons.
SEVERITY_ORDER = (IncidentSeverity.MINOR, IncidentSeverity.MAJOR, IncidentSeverity.CRITICAL)
#: The list endpoint takes at most this many ids per request, and this page size.
MAX_LIST_ITEMS = 1000
#: The filters of a selection, by their Python names.
SELECTION_FIELDS = (
    "status",
    "severity",
    "dataset_id",
    "incident_ids",
    "lead_id",
    "created_from",
    "created_to",
)


def _values(value: Any) -> Any:
    """One value or several: a string becomes a one-item tuple; lists and tuples become tuples."""
    if value is None:
        return ()
    if isinstance(value, (str, Enum)):
        return (value,)
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(value)
    return value


class IncidentSelection(BaseModel):
    """Which incidents to list: the filters of ``GET /api/v1/incidents``, combined with AND.

    ``status``, ``severity`` and ``dataset_id`` take one value or several; several values of one
    filter mean any of them (Soda's endpoint takes one, so each value gets its own request
    sequence). ``status="open"`` means every status but ``resolved``. ``incident_ids=None`` does
    not filter on ids, while an empty list matches nothing. Creation-time bounds must be
    timezone-aware: a naive datetime is ambiguous across Airflow and Soda Cloud.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: tuple[IncidentStatus, ...] = ()
    severity: tuple[IncidentSeverity, ...] = ()
    dataset_id: tuple[str, ...] = ()
    incident_ids: tuple[str, ...] | None = None
    lead_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _statuses(cls, value: Any) -> Any:
        values = _values(value)
        if isinstance(values, tuple):
            expanded: list[Any] = []
            for item in values:
                if isinstance(item, str) and not isinstance(item, Enum):
                    item = item.strip().lower()
                expanded.extend(OPEN_STATUSES if item == "open" else (item,))
            return tuple(dict.fromkeys(expanded))
        return values

    @field_validator("severity", mode="before")
    @classmethod
    def _severities(cls, value: Any) -> Any:
        values = _values(value)
        if isinstance(values, tuple):
            return tuple(
                dict.fromkeys(
                    v.strip().lower() if isinstance(v, str) and not isinstance(v, Enum) else v for v in values
                )
            )
        return values

    @field_validator("dataset_id", mode="before")
    @classmethod
    def _dataset_ids(cls, value: Any) -> Any:
        values = _values(value)
        if isinstance(values, tuple):
            cleaned = tuple(dict.fromkeys(v.strip() if isinstance(v, str) else v for v in values))
            if any(v == "" for v in cleaned):
                raise ValueError("dataset_id must not be empty")
            return cleaned
        return values

    @field_validator("incident_ids", mode="before")
    @classmethod
    def _incident_ids(cls, value: Any) -> Any:
        return None if value is None else _values(value)

    @field_validator("lead_id", mode="before")
    @classmethod
    def _lead_id(cls, value: Any) -> Any:
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("created_from", "created_to")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError(
                f"{value.isoformat()} has no timezone; pass an aware datetime "
                "(pendulum, or datetime(..., tzinfo=timezone.utc)) or an ISO 8601 string with an offset"
            )
        return value

    @model_validator(mode="after")
    def _ordered_bounds(self) -> IncidentSelection:
        if self.created_from and self.created_to and self.created_from > self.created_to:
            raise ValueError("created_from is after created_to: nothing could match")
        return self

    @classmethod
    def build(cls, **filters: Any) -> IncidentSelection:
        """Validate ``filters`` (Python names), turning pydantic's error into one readable sentence."""
        try:
            return cls(**filters)
        except ValidationError as err:
            raise SodaCloudValidationError(
                f"Invalid incident selection: {_describe_selection(err)}"
            ) from None

    def is_unfiltered(self) -> bool:
        """Tell whether this selection would match every incident the key may see."""
        return not (
            self.status
            or self.severity
            or self.dataset_id
            or self.incident_ids is not None
            or self.lead_id
            or self.created_from
            or self.created_to
        )

    def queries(self) -> Iterator[dict[str, str]]:
        """Yield the query of each request sequence (without ``page`` and ``size``).

        One per combination of the several-valued filters, and per 1,000 ids.
        """
        if self.incident_ids is not None and not self.incident_ids:
            return  # an explicit empty list of ids matches nothing: no request at all
        common: dict[str, str] = {}
        if self.lead_id:
            common["leadId"] = self.lead_id
        if self.created_from:
            common["from"] = self.created_from.isoformat()
        if self.created_to:
            common["to"] = self.created_to.isoformat()
        ids = self.incident_ids or ()
        chunks: list[str | None] = [
            ",".join(ids[i : i + MAX_LIST_ITEMS]) for i in range(0, len(ids), MAX_LIST_ITEMS)
        ] or [None]
        for status, severity, dataset_id, chunk in product(
            self.status or [None], self.severity or [None], self.dataset_id or [None], chunks
        ):
            query = dict(common)
            for name, value in (
                ("status", status and status.value),
                ("severity", severity and severity.value),
                ("datasetId", dataset_id),
                ("incidentIds", chunk),
            ):
                if value:
                    query[name] = value
            yield query

    def describe(self) -> str:
        """Return the selection in one line for logs and errors, e.g. ``status in (reported, fixing), dataset_id=x``."""
        parts = []
        for name in SELECTION_FIELDS:
            value = getattr(self, name)
            if value is None or value == ():
                continue
            if isinstance(value, tuple):
                shown = [v.value if isinstance(v, Enum) else v for v in value]
                if name == "incident_ids" and len(shown) > 5:
                    parts.append(f"{len(shown)} incident ids")
                    continue
                parts.append(f"{name}={shown[0]}" if len(shown) == 1 else f"{name} in ({', '.join(shown)})")
            else:
                parts.append(f"{name}={value.isoformat() if isinstance(value, datetime) else value}")
        return ", ".join(parts) or "every incident (no filter)"

    def to_json(self) -> dict[str, Any]:
        """Return the selection as JSON-serialisable keyword arguments of :meth:`build` (for triggers)."""
        return self.model_dump(mode="json", exclude_defaults=True)


def _describe_selection(err: ValidationError) -> str:
    problems = []
    for error in err.errors(include_url=False, include_input=False):
        field = str(error["loc"][0]) if error["loc"] else "selection"
        if field == "status" and error["type"] == "enum":
            problems.append(f"status must be one of: {_allowed(IncidentStatus)} (or open)")
        elif field == "severity" and error["type"] == "enum":
            problems.append(f"severity must be one of: {_allowed(IncidentSeverity)}")
        elif error["type"] == "extra_forbidden":
            problems.append(f"unknown filter {field!r}; valid filters: {', '.join(SELECTION_FIELDS)}")
        elif field == "selection":
            problems.append(error["msg"].removeprefix("Value error, "))
        else:
            problems.append(f"{field}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(dict.fromkeys(problems))
