"""DAGs that run scans deferred in a real triggerer (tests/test_scans_triggerer.py)."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_soda.operators.contracts import SodaCloudVerifyContractOperator
from airflow_provider_soda.operators.scans import SodaCloudScanOperator
from airflow_provider_soda.sensors.scans import SodaCloudScanSensor

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

# Soda v4: a contract verification deferred in the triggerer (tests/test_scans_triggerer.py, 5.)
with DAG(dag_id="soda_contract_in_triggerer", schedule=None, start_date=datetime(2026, 1, 1)):
    SodaCloudVerifyContractOperator(
        task_id="verify", dataset="warehouse/analytics/public/orders", poll_interval=1, deferrable=True
    )

# A deferred sensor that a user clears: it did not start the scan, so nothing cancels it (6.)
with DAG(dag_id="soda_sensor_cleared_in_triggerer", schedule=None, start_date=datetime(2026, 1, 1)):
    SodaCloudScanOperator(
        task_id="start", scan_definition="shipments_daily", wait_for_completion=False
    ) >> SodaCloudScanSensor(
        task_id="wait",
        scan_id="{{ ti.xcom_pull(task_ids='start', key='soda_cloud_scan_id') }}",
        poke_interval=1,
        timeout=600,
        deferrable=True,
    )
