"""Pydantic models of Soda Cloud's checks listing (``PublicApiChecksResponse``).

A check carries the incidents linked to it (``IncidentSlimDTO``): the link between a scan's
check results and the incidents those checks opened.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_soda.models.incidents import IncidentStatus
from airflow_provider_soda.models.scans import EvaluationStatus, enum_value


class LinkedIncident(BaseModel):
    """``IncidentSlimDTO``: an incident as a check lists it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, defer_build=True)

    id: str
    number: int | None = None
    name: str | None = None
    status: IncidentStatus | str | None = Field(default=None, union_mode="left_to_right")
    cloud_url: str | None = Field(default=None, alias="cloudUrl")

    @property
    def status_value(self) -> str | None:
        return enum_value(self.status)


class CheckDataset(BaseModel):
    """``DatasetSlimDTO``: a dataset a check is about."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, defer_build=True)

    id: str | None = None
    name: str | None = None
    qualified_name: str | None = Field(default=None, alias="qualifiedName")
    cloud_url: str | None = Field(default=None, alias="cloudUrl")


class Check(BaseModel):
    """``ChecksContentDTO`` (the fields this provider reads); unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, defer_build=True)

    id: str
    name: str | None = None
    evaluation_status: EvaluationStatus | str | None = Field(
        default=None, alias="evaluationStatus", union_mode="left_to_right"
    )
    cloud_url: str | None = Field(default=None, alias="cloudUrl")
    column: str | None = None
    datasets: list[CheckDataset] = Field(default_factory=list)
    incidents: list[LinkedIncident] = Field(default_factory=list)

    @property
    def status_value(self) -> str | None:
        return enum_value(self.evaluation_status)


class CheckPage(BaseModel):
    """One page of ``GET /api/v1/checks``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    content: list[Check] = Field(default_factory=list)
    last: bool | None = None
