"""Pydantic models of the Soda Cloud API, one module per resource.

Requests are strict, so that a typo fails before anything is sent; responses are lenient,
because Soda's documentation has changed which response fields are required. Every public name
is importable from here (``from airflow_provider_soda.models import Incident, Scan``), and loaded
on first use: a DAG file that imports the incident operators does not pay for the scan models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_soda.models.checks import Check, CheckDataset, CheckPage, LinkedIncident
    from airflow_provider_soda.models.common import MAX_ID_LENGTH, ErrorBody, TestLogin, normalise_id
    from airflow_provider_soda.models.contracts import (
        Contract,
        ContractEnvelope,
        ContractPage,
        DatasetRef,
        Runner,
        RunnerPage,
    )
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
        ENDING_STATES,
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
    from airflow_provider_soda.models.webhooks import (
        WebhookCheckResult,
        WebhookContract,
        WebhookDataset,
        WebhookDelivery,
        WebhookIncident,
    )

#: Public name -> the module (of this package) that defines it.
_WHERE: dict[str, str] = {
    "Check": "checks",
    "CheckDataset": "checks",
    "CheckPage": "checks",
    "LinkedIncident": "checks",
    "MAX_ID_LENGTH": "common",
    "ErrorBody": "common",
    "TestLogin": "common",
    "normalise_id": "common",
    "Dataset": "datasets",
    "DatasetPage": "datasets",
    "MAX_INCIDENT_ID_LENGTH": "incidents",
    "UPDATE_FIELDS": "incidents",
    "Incident": "incidents",
    "IncidentPage": "incidents",
    "IncidentSeverity": "incidents",
    "IncidentStatus": "incidents",
    "IncidentUpdate": "incidents",
    "normalise_enum_value": "incidents",
    "normalise_incident_id": "incidents",
    "Contract": "contracts",
    "ContractEnvelope": "contracts",
    "ContractPage": "contracts",
    "DatasetRef": "contracts",
    "Runner": "contracts",
    "RunnerPage": "contracts",
    "COMPLETED_STATES": "scans",
    "ENDING_STATES": "scans",
    "FINAL_STATES": "scans",
    "INCOMPLETE_STATES": "scans",
    "RUNNING_STATES": "scans",
    "EvaluationStatus": "scans",
    "Scan": "scans",
    "ScanCheck": "scans",
    "ScanLog": "scans",
    "ScanLogLevel": "scans",
    "ScanLogPage": "scans",
    "ScanState": "scans",
    "WebhookCheckResult": "webhooks",
    "WebhookContract": "webhooks",
    "WebhookDataset": "webhooks",
    "WebhookDelivery": "webhooks",
    "WebhookIncident": "webhooks",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "COMPLETED_STATES",
    "ENDING_STATES",
    "FINAL_STATES",
    "INCOMPLETE_STATES",
    "MAX_ID_LENGTH",
    "MAX_INCIDENT_ID_LENGTH",
    "RUNNING_STATES",
    "UPDATE_FIELDS",
    "Check",
    "CheckDataset",
    "CheckPage",
    "Contract",
    "ContractEnvelope",
    "ContractPage",
    "Dataset",
    "DatasetPage",
    "DatasetRef",
    "ErrorBody",
    "EvaluationStatus",
    "Incident",
    "IncidentPage",
    "IncidentSeverity",
    "IncidentStatus",
    "IncidentUpdate",
    "LinkedIncident",
    "Runner",
    "RunnerPage",
    "Scan",
    "ScanCheck",
    "ScanLog",
    "ScanLogLevel",
    "ScanLogPage",
    "ScanState",
    "TestLogin",
    "WebhookCheckResult",
    "WebhookContract",
    "WebhookDataset",
    "WebhookDelivery",
    "WebhookIncident",
    "normalise_enum_value",
    "normalise_id",
    "normalise_incident_id",
]
