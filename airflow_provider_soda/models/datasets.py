"""Pydantic models of the Soda Cloud datasets listing (``PublicApiDatasetsResponse``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Dataset(BaseModel):
    """``DatasetsContentDTO`` (the fields this provider reads); unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, defer_build=True)

    id: str
    name: str | None = None
    qualified_name: str | None = Field(default=None, alias="qualifiedName")
    cloud_url: str | None = Field(default=None, alias="cloudUrl")


class DatasetPage(BaseModel):
    """One page of ``GET /api/v1/datasets`` (``PublicApiDatasetsResponse``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    content: list[Dataset] = Field(default_factory=list)
    last: bool | None = None
