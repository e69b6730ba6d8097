"""Pydantic models of Soda Cloud's webhook deliveries (what Soda POSTs to the receiver).

Soda documents these payloads loosely and they drift between versions, so every model here is
lenient: unknown fields are ignored, a field of the wrong type reads as missing, and enum values
are kept as sent (the receiver maps them, keeping the raw value). A delivery is never refused for
what it carries beside the fields the receiver uses.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

#: Texts longer than this are cut: a title or a link has no business being longer, and an
#: asset event's ``extra`` lives in Airflow's database.
MAX_TEXT = 1000

#: The events Soda's webhook integration sends.
INCIDENT_CREATED = "incidentCreated"
INCIDENT_UPDATED = "incidentUpdated"
CHECK_EVALUATION = "checkEvaluation"
CONTRACT_PUBLISHED = "contractPublished"
EVENTS = (INCIDENT_CREATED, INCIDENT_UPDATED, CHECK_EVALUATION, CONTRACT_PUBLISHED)


def text(value: Any) -> str | None:
    """Return a string field as the receiver uses it: stripped, capped, or None when it is not text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()[:MAX_TEXT]
    return None


def _objects(value: Any) -> list[Any]:
    """Return a list field's items that are objects (or, for datasets, bare ids); anything else is empty."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, (dict, str))]


#: A text field read leniently (:func:`text`).
Text = Annotated[str | None, BeforeValidator(text)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)


class WebhookDataset(_Lenient):
    """One dataset of a check result: an object with ``id`` (older payloads: the bare id)."""

    id: str | None = None
    name: str | None = None

    @classmethod
    def parse(cls, value: Any) -> WebhookDataset:
        if isinstance(value, str):
            return cls(id=text(value))
        return cls(id=text(value.get("id")), name=text(value.get("name")))


class WebhookCheckResult(_Lenient):
    """A check result: the check, its datasets and its outcome (``outcome`` or ``evaluationStatus``)."""

    id: Text = None
    name: Text = None
    cloud_url: Text = Field(default=None, alias="sodaCloudUrl")
    column: Text = None
    outcome: Text = None
    evaluation_status: Text = Field(default=None, alias="evaluationStatus")
    datasets: list[WebhookDataset] = Field(default_factory=list)

    @field_validator("datasets", mode="before")
    @classmethod
    def _datasets(cls, value: Any) -> list[WebhookDataset]:
        return [WebhookDataset.parse(item) for item in _objects(value)]

    @property
    def result(self) -> str | None:
        """The outcome as sent (newer payloads call it ``evaluationStatus``), lower case."""
        raw = self.evaluation_status or self.outcome
        return raw.lower() if raw else None


def _check_results(value: Any) -> list[WebhookCheckResult]:
    return [WebhookCheckResult.model_validate(item) for item in _objects(value) if isinstance(item, dict)]


#: A list of check results read leniently: items that are no object are dropped.
CheckResults = Annotated[list[WebhookCheckResult], BeforeValidator(_check_results)]


class WebhookIncident(_Lenient):
    """The incident of an ``incidentCreated`` / ``incidentUpdated`` delivery."""

    id: Text = None
    number: int | None = None
    title: Text = None
    severity: Text = None
    status: Text = None
    cloud_url: Text = Field(default=None, alias="sodaCloudUrl")
    link_callback_url: Text = Field(default=None, alias="incidentLinkCallbackUrl")
    check_results: CheckResults = Field(default_factory=list, alias="checkResults")

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, value: Any) -> int | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdecimal():
            return int(value.strip()[:18])
        return None


class WebhookContract(_Lenient):
    """The contract of a ``contractPublished`` delivery (its ``contents`` are not kept)."""

    dataset: Text = None
    datasource: Text = None
    author: str | None = None

    @field_validator("author", mode="before")
    @classmethod
    def _author(cls, value: Any) -> str | None:
        if isinstance(value, dict):  # {"name": ..., "email": ...} in some payloads
            value = value.get("name") or value.get("email")
        return text(value)


class WebhookDelivery(_Lenient):
    """One delivery: ``event`` says which of the other fields it carries."""

    event: Text = None
    incident: WebhookIncident | None = None
    check_results: CheckResults = Field(default_factory=list, alias="checkResults")
    contract: WebhookContract | None = None

    @field_validator("incident", "contract", mode="before")
    @classmethod
    def _object(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else None
