"""DAGs that run scans deferred in a real triggerer (tests/test_scans_triggerer.py)."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_soda.operators.scans import SodaCloudScanOperator

with DAG(dag_id="soda_scan_in_triggerer", schedule=None, start_date=datetime(2026, 1, 1)):
    SodaCloudScanOperator(task_id="scan", scan_definition="customers_daily", poll_interval=1, deferrable=True)

with DAG(dag_id="soda_scan_cleared_in_triggerer", schedule=None, start_date=datetime(2026, 1, 1)):
    SodaCloudScanOperator(task_id="scan", scan_definition="orders_daily", poll_interval=1, deferrable=True)

with DAG(dag_id="soda_scan_timeout_in_triggerer", schedule=None, start_date=datetime(2026, 1, 1)):
    SodaCloudScanOperator(
        task_id="scan", scan_definition="payments_daily", poll_interval=1, timeout=8, deferrable=True
    )

with DAG(dag_id="soda_scan_cleared_in_worker", schedule=None, start_date=datetime(2026, 1, 1)):
    SodaCloudScanOperator(
        task_id="scan", scan_definition="inventory_hourly", poll_interval=1, deferrable=False
    )
