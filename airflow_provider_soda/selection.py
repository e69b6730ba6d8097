"""The list endpoint's filters as one validated object: which incidents a task acts on.

Kept apart from :mod:`airflow_provider_soda.models` so that parsing a DAG file does not build it:
the operators and sensors import it when they run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from enum import Enum
from itertools import product
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from airflow_provider_soda.endpoints import MAX_LIST_ITEMS
from airflow_provider_soda.exceptions import SodaCloudValidationError
from airflow_provider_soda.models import (
    IncidentSeverity,
    IncidentStatus,
    normalise_enum_value,
    normalise_incident_id,
)
from airflow_provider_soda.models.incidents import _allowed

#: Every status but ``resolved``; ``status="open"`` in a selection stands for these.
OPEN_STATUSES = (IncidentStatus.REPORTED, IncidentStatus.INVESTIGATING, IncidentStatus.FIXING)
#: Severities from the least to the most severe, for "at or above" comparisons.
SEVERITY_ORDER = (IncidentSeverity.MINOR, IncidentSeverity.MAJOR, IncidentSeverity.CRITICAL)
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


def _given_values(value: Any, name: str) -> Any:
    """As :func:`_values`, but a filter that was given must hold a value.

    ``None`` means "no such filter". An empty list or a blank string after rendering (an upstream
    XCom that returned ``[]``, a param left empty) would silently drop the filter and widen the
    selection to the whole organisation, so it is refused, naming the field.
    """
    values = _values(value)
    if value is not None and isinstance(values, tuple):
        if not values:
            raise ValueError(_empty_filter(name, "an empty list"))
        blank = [v for v in values if isinstance(v, str) and not isinstance(v, Enum) and not v.strip()]
        if len(blank) == len(values):
            raise ValueError(_empty_filter(name, "a blank value"))
        if blank:
            raise ValueError(f"holds a blank value beside {len(values) - len(blank)} other(s): remove it")
    return values


def _empty_filter(name: str, what: str) -> str:
    return (
        f"{what} was given, which would drop this filter and select incidents of every {name.removesuffix('_id')}. "
        f"Pass at least one {name} (when an upstream task found nothing to select, skip this task "
        "instead), or leave the filter out if no filtering on it is meant"
    )


def _enum_values(value: Any, name: str) -> Any:
    """One status or severity, or several: a tuple of normalised values without repeats."""
    values = _given_values(value, name)
    if isinstance(values, tuple):
        return tuple(dict.fromkeys(normalise_enum_value(v) for v in values))
    return values


class IncidentSelection(BaseModel):
    """Which incidents to list: the filters of ``GET /api/v1/incidents``, combined with AND.

    ``status``, ``severity`` and ``dataset_id`` take one value or several; several values of one
    filter mean any of them (Soda's endpoint takes one, so each value gets its own request
    sequence). ``status="open"`` means every status but ``resolved``. A filter left out (``None``)
    does not filter; a filter given with no value (``[]``, ``""``) is refused, because dropping it
    would widen the selection, except ``incident_ids=[]``, which matches nothing (narrower, not
    wider). Creation-time bounds must be
    timezone-aware: a naive datetime is ambiguous across Airflow and Soda Cloud.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

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
        values = _enum_values(value, "status")
        if isinstance(values, tuple):
            return tuple(dict.fromkeys(s for v in values for s in (OPEN_STATUSES if v == "open" else (v,))))
        return values

    @field_validator("severity", mode="before")
    @classmethod
    def _severities(cls, value: Any) -> Any:
        return _enum_values(value, "severity")

    @field_validator("dataset_id", mode="before")
    @classmethod
    def _dataset_ids(cls, value: Any) -> Any:
        values = _given_values(value, "dataset_id")
        if isinstance(values, tuple):
            return tuple(dict.fromkeys(v.strip() if isinstance(v, str) else v for v in values))
        return values

    @field_validator("incident_ids", mode="before")
    @classmethod
    def _incident_ids(cls, value: Any) -> Any:
        """Ids as ``incident_id`` takes them (blanks trimmed, empty ones refused); ``[]`` matches nothing."""
        if value is None:
            return None
        values = _values(value)
        if not isinstance(values, tuple):
            return values
        try:
            return tuple(dict.fromkeys(normalise_incident_id(v) for v in values))
        except SodaCloudValidationError as err:
            raise ValueError(str(err).removesuffix(".")) from None

    @field_validator("lead_id", mode="before")
    @classmethod
    def _lead_id(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                raise ValueError(_empty_filter("lead_id", "a blank value"))
            return value.strip()
        return value

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
