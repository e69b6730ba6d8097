"""make e2e-cluster: one deferrable bulk run of 300 incidents under the real triggerer.

Connection ``soda_cloud_bulk`` points at a second emulator (50 updates per 2 s) seeding
``inc-0001`` ... ``inc-0300``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_soda.operators.incidents import UpdateIncidentsOperator

INCIDENTS = 300

with DAG(dag_id="soda_cluster_bulk", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    UpdateIncidentsOperator(
        task_id="resolve_all",
        soda_cloud_conn_id="soda_cloud_bulk",
        incident_ids=[f"inc-{number:04d}" for number in range(1, INCIDENTS + 1)],
        status="resolved",
        resolution_notes="Backfill finished in run {{ run_id }}.",
        deferrable=True,
        defer_after_seconds=0.5,
        retries=0,
    )
