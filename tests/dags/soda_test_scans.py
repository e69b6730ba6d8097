"""Test DAGs for SodaCloudScanOperator and SodaCloudScanSensor: worker and triggerer, outcomes, resolution."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_soda.operators.scans import SodaCloudScanOperator
from airflow_provider_soda.sensors.scans import SodaCloudScanSensor

PARAMS = {"definition": "orders_daily"}

for deferrable in (False, True):
    mode = "deferred" if deferrable else "worker"
    with DAG(
        dag_id=f"soda_test_scan_{mode}",
        schedule="@daily",
        start_date=datetime(2026, 1, 1),
        catchup=False,
        params=PARAMS,
    ):
        SodaCloudScanOperator(
            task_id="scan",
            scan_definition="{{ params.definition }}",
            data_timestamp="{{ data_interval_end }}",
            poll_interval=0.2,
            deferrable=deferrable,
            log_lines=4,
        )

    with DAG(
        dag_id=f"soda_test_scan_timeout_{mode}", schedule=None, start_date=datetime(2026, 1, 1), params=PARAMS
    ):
        SodaCloudScanOperator(
            task_id="scan",
            scan_definition="{{ params.definition }}",
            poll_interval=0.2,
            timeout=1.5,
            deferrable=deferrable,
        )

    with DAG(
        dag_id=f"soda_test_scan_resolve_{mode}", schedule=None, start_date=datetime(2026, 1, 1), params=PARAMS
    ):
        SodaCloudScanOperator(
            task_id="scan",
            scan_definition="{{ params.definition }}",
            poll_interval=0.2,
            deferrable=deferrable,
            resolve_incidents=True,
            fail_on=[],
        )

for sensor_mode in ("poke", "reschedule", "deferred"):
    with DAG(
        dag_id=f"soda_test_scan_sensor_{sensor_mode}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        params=PARAMS,
    ):
        start = SodaCloudScanOperator(
            task_id="start", scan_definition="{{ params.definition }}", wait_for_completion=False
        )
        start >> SodaCloudScanSensor(
            task_id="wait",
            scan_id="{{ ti.xcom_pull(task_ids='start', key='soda_cloud_scan_id') }}",
            poke_interval=0.2,
            timeout=30,
            mode="reschedule" if sensor_mode == "reschedule" else "poke",
            deferrable=sensor_mode == "deferred",
            resolve_incidents=True,
        )

with DAG(
    dag_id="soda_test_scan_fail_on_warnings", schedule=None, start_date=datetime(2026, 1, 1), params=PARAMS
):
    SodaCloudScanOperator(
        task_id="scan", scan_definition="{{ params.definition }}", poll_interval=0.2, fail_on=["warnings"]
    )

with DAG(dag_id="soda_test_scan_dry_run", schedule=None, start_date=datetime(2026, 1, 1), params=PARAMS):
    SodaCloudScanOperator(
        task_id="scan",
        scan_definition="{{ params.definition }}",
        poll_interval=0.2,
        resolve_incidents=True,
        dry_run=True,
    )

with DAG(dag_id="soda_test_scan_unknown", schedule=None, start_date=datetime(2026, 1, 1)):
    SodaCloudScanOperator(task_id="scan", scan_definition="orders_dialy", retries=2)

# Retries that must not run a scan twice (a start of unknown outcome, a failure after the scan)
for deferrable in (False, True):
    mode = "deferred" if deferrable else "worker"
    with DAG(
        dag_id=f"soda_test_scan_retried_{mode}", schedule=None, start_date=datetime(2026, 1, 1), params=PARAMS
    ):
        SodaCloudScanOperator(
            task_id="scan",
            scan_definition="{{ params.definition }}",
            poll_interval=0.2,
            deferrable=deferrable,
            resolve_incidents=True,
            retries=2,
            retry_delay=timedelta(0),
        )

with DAG(
    dag_id="soda_test_scan_max_incidents", schedule=None, start_date=datetime(2026, 1, 1), params=PARAMS
):
    SodaCloudScanOperator(
        task_id="scan",
        scan_definition="{{ params.definition }}",
        poll_interval=0.2,
        resolve_incidents=True,
        max_incidents=1,
        fail_on=[],
        retries=2,
        retry_delay=timedelta(0),
    )

with DAG(
    dag_id="soda_test_scan_sensor_retried", schedule=None, start_date=datetime(2026, 1, 1), params=PARAMS
):
    SodaCloudScanOperator(
        task_id="start", scan_definition="{{ params.definition }}", wait_for_completion=False
    ) >> SodaCloudScanSensor(
        task_id="wait",
        scan_id="{{ ti.xcom_pull(task_ids='start', key='soda_cloud_scan_id') }}",
        poke_interval=0.2,
        timeout=30,
        retries=2,
        retry_delay=timedelta(0),
    )
