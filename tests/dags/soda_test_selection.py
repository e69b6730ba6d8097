"""Test DAGs for bulk updates by selection and the quality gate; dag_run.conf drives each case."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_soda.operators.gate import SodaCloudIncidentGateOperator
from airflow_provider_soda.operators.incidents import UpdateIncidentsOperator
from airflow_provider_soda.retry_policy import default_retry_policy

PLAIN_RETRIES: dict[str, Any] = {"retry_policy": None} if default_retry_policy() is not None else {}

with DAG(
    dag_id="soda_test_update_selection",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    render_template_as_native_obj=True,  # so that "{{ params.selection }}" renders the dict itself
    params={"selection": {"dataset_id": "ds-orders"}, "status": "resolved", "dry_run": False},
):
    UpdateIncidentsOperator(
        task_id="update",
        selection="{{ params.selection }}",
        status="{{ params.status }}",
        max_incidents=3,
    )

with DAG(
    dag_id="soda_test_update_selection_deferrable",
    schedule=None,
    start_date=datetime(2026, 1, 1),
):
    UpdateIncidentsOperator(
        task_id="update",
        selection={"status": "open"},
        status="resolved",
        deferrable=True,
        defer_after_seconds=0.2,
        max_incidents=20,
    )

with DAG(
    dag_id="soda_test_gate",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params={"dataset_ids": ["ds-orders"], "min_severity": "critical"},
    render_template_as_native_obj=True,
):
    SodaCloudIncidentGateOperator(
        task_id="gate",
        dataset_ids="{{ params.dataset_ids }}",
        min_severity="{{ params.min_severity }}",
        **PLAIN_RETRIES,
    )
