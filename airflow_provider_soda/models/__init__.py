"""Pydantic models of the Soda Cloud API, one module per resource.

Requests are strict, so that a typo fails before anything is sent; responses are lenient,
because Soda's documentation has changed which response fields are required. Every public name
is importable from here (``from airflow_provider_soda.models import Incident, Scan``).
"""

from __future__ import annotations

from airflow_provider_soda.models.checks import Check, CheckDataset, CheckPage, LinkedIncident
from airflow_provider_soda.models.common import MAX_ID_LENGTH, ErrorBody, TestLogin, normalise_id
from airflow_provider_soda.models.datasets import Dataset, DatasetPage
from airflow_provider_soda.models.incidents import (
    MAX_INCIDENT_ID_LENGTH,
    UPDATE_FIELDS,
    Incident,
    IncidentPage,
    IncidentSeverity,
    IncidentStatus,
    IncidentUpdate,
    normalise_enum_value,
    normalise_incident_id,
)
from airflow_provider_soda.models.scans import (
    COMPLETED_STATES,
    FINAL_STATES,
    INCOMPLETE_STATES,
    RUNNING_STATES,
    EvaluationStatus,
    Scan,
    ScanCheck,
    ScanLog,
    ScanLogLevel,
    ScanLogPage,
    ScanState,
)

__all__ = [
    "COMPLETED_STATES",
    "FINAL_STATES",
    "INCOMPLETE_STATES",
    "MAX_ID_LENGTH",
    "MAX_INCIDENT_ID_LENGTH",
    "RUNNING_STATES",
    "UPDATE_FIELDS",
    "Check",
    "CheckDataset",
    "CheckPage",
    "Dataset",
    "DatasetPage",
    "ErrorBody",
    "EvaluationStatus",
    "Incident",
    "IncidentPage",
    "IncidentSeverity",
    "IncidentStatus",
    "IncidentUpdate",
    "LinkedIncident",
    "Scan",
    "ScanCheck",
    "ScanLog",
    "ScanLogLevel",
    "ScanLogPage",
    "ScanState",
    "TestLogin",
    "normalise_enum_value",
    "normalise_id",
    "normalise_incident_id",
]
