"""Pydantic models of Soda v4's contracts and Soda Runners (``/api/v1/contracts``, ``/api/v1/runners``).

Responses are lenient, as everywhere: unknown fields are ignored and optional ones may be absent.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Contract(BaseModel):
    """``ContractContentDTO``: a dataset's data contract and its published YAML (``contents``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, defer_build=True)

    id: str
    dataset_id: str | None = Field(default=None, alias="datasetId")
    dataset_qualified_name: str | None = Field(default=None, alias="datasetQualifiedName")
    contents: str | None = None
    created: str | None = None
    last_updated: str | None = Field(default=None, alias="lastUpdated")


class ContractEnvelope(BaseModel):
    """``PublicApiGetContractResponse`` / ``PublicApiPublishContractResponse``: ``{"contract": {...}}``."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    contract: Contract


class ContractPage(BaseModel):
    """One page of ``GET /api/v1/contracts``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    content: list[Contract] = Field(default_factory=list)
    last: bool | None = None


class Runner(BaseModel):
    """``PublicApiRunnerDTO``: a Soda Runner (formerly Soda Agent), where verifications run."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, defer_build=True)

    id: str
    name: str | None = None
    label: str | None = None
    is_online: bool | None = Field(default=None, alias="isOnline")
    last_seen: datetime | None = Field(default=None, alias="lastSeenTimestamp")
    type: str | None = None

    def describe(self) -> str:
        """``"'eu-runner' (SELF_HOSTED) offline, last seen 2026-12-06T08:00:00+00:00"``, for logs."""
        state = {True: "online", False: "offline", None: "state unknown"}[self.is_online]
        seen = self.last_seen.isoformat() if self.last_seen else "never"
        kind = f" ({self.type})" if self.type else ""
        return f"{(self.name or self.label or self.id)!r}{kind} {state}, last seen {seen}"


class RunnerPage(BaseModel):
    """One page of ``GET /api/v1/runners``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    content: list[Runner] = Field(default_factory=list)
    last: bool | None = None


class DatasetRef(BaseModel):
    """``PublicApiDatasetDTO``, the fields relied on: a one-dataset read (by id or qualified name)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, defer_build=True)

    id: str
    name: str | None = None
    qualified_name: str | None = Field(default=None, alias="qualifiedName")
    cloud_url: str | None = Field(default=None, alias="cloudUrl")
