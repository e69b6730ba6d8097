"""Test DAG: one UpdateIncidentOperator whose fields come from params and templates."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_soda.operators.incidents import UpdateIncidentOperator

with DAG(
    dag_id="soda_test_update_incident",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params={
        "incident_id": Param("7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01", type="string"),
        "status": Param("investigating", type="string"),
    },
):
    UpdateIncidentOperator(
        task_id="update",
        incident_id="{{ params.incident_id }}",
        status="{{ params.status }}",
        description="Run {{ run_id }} of {{ dag.dag_id }}",
        retries=1,
        retry_delay=timedelta(0),
    )
