"""Start a Soda Cloud scan in one task and wait for it in another.

``start_scan`` returns as soon as Soda Cloud accepted the scan (``wait_for_completion=False``) and
pushes its id to XCom ``soda_cloud_scan_id``; ``wait_for_scan`` waits for it in the triggerer,
with the same outcome rules as the operator. The sensor also waits for scans started elsewhere
(a Soda schedule, another DAG): give it their id.
"""

from __future__ import annotations

from datetime import datetime

# Airflow 3; on Airflow 2.11, import the same names from airflow.providers.common.compat.sdk.
from airflow.sdk import DAG, Param

from airflow_provider_soda.operators.scans import SodaCloudScanOperator
from airflow_provider_soda.sensors.scans import SodaCloudScanSensor

with DAG(
    dag_id="example_soda_scan_sensor",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "soda"],
    params={"scan_definition": Param("orders_daily", type="string", minLength=1)},
):
    # [START howto_sensor_scan]
    start = SodaCloudScanOperator(
        task_id="start_scan",
        scan_definition="{{ params.scan_definition }}",
        wait_for_completion=False,  # return once Soda Cloud has the scan
    )
    wait = SodaCloudScanSensor(
        task_id="wait_for_scan",
        scan_id="{{ ti.xcom_pull(task_ids='start_scan', key='soda_cloud_scan_id') }}",
        deferrable=True,
        poke_interval=30,
        timeout=3600,
    )
    start >> wait
    # [END howto_sensor_scan]
