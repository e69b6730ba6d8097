"""Test DAGs for SodaCloudVerifyContractOperator: the three sources, worker and triggerer, resolution."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_soda.operators.contracts import SodaCloudVerifyContractOperator
from airflow_provider_soda.sensors.scans import SodaCloudScanSensor

ORDERS = "warehouse/analytics/public/orders"
PARAMS = {"dataset": ORDERS}

for deferrable in (False, True):
    mode = "deferred" if deferrable else "worker"
    with DAG(
        dag_id=f"soda_test_contract_{mode}", schedule=None, start_date=datetime(2026, 1, 1), params=PARAMS
    ):
        SodaCloudVerifyContractOperator(
            task_id="verify",
            dataset="{{ params.dataset }}",
            poll_interval=0.2,
            deferrable=deferrable,
            log_lines=4,
            retries=2,
            retry_delay=timedelta(0),
        )

    with DAG(
        dag_id=f"soda_test_contract_resolve_{mode}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        params=PARAMS,
    ):
        SodaCloudVerifyContractOperator(
            task_id="verify",
            dataset="{{ params.dataset }}",
            poll_interval=0.2,
            deferrable=deferrable,
            resolve_incidents=True,
            fail_on=[],
        )

    with DAG(dag_id=f"soda_test_contract_queued_{mode}", schedule=None, start_date=datetime(2026, 1, 1)):
        SodaCloudVerifyContractOperator(
            task_id="verify",
            contract_id="contract-orders",
            poll_interval=0.2,
            deferrable=deferrable,
            runner_check_after=0.5,
            timeout=3,
        )

with DAG(dag_id="soda_test_contract_file", schedule=None, start_date=datetime(2026, 1, 1)):
    SodaCloudVerifyContractOperator(
        task_id="verify",
        contract_file="contracts/orders.yml",
        poll_interval=0.2,
        check_paths=["checks.row_count"],
    )

with DAG(dag_id="soda_test_contract_by_id", schedule=None, start_date=datetime(2026, 1, 1)):
    SodaCloudVerifyContractOperator(task_id="verify", contract_id="contract-orders", poll_interval=0.2)

with DAG(dag_id="soda_test_contract_sensor", schedule=None, start_date=datetime(2026, 1, 1), params=PARAMS):
    SodaCloudVerifyContractOperator(
        task_id="start", dataset="{{ params.dataset }}", wait_for_completion=False
    ) >> SodaCloudScanSensor(
        task_id="wait",
        scan_id="{{ ti.xcom_pull(task_ids='start', key='soda_cloud_scan_id') }}",
        poke_interval=0.2,
        timeout=30,
        resolve_incidents=True,
        fail_on=[],
    )

with DAG(
    dag_id="soda_test_contract_templated",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params={"dataset": ORDERS, "paths": ["checks.row_count"]},
    render_template_as_native_obj=False,
):
    SodaCloudVerifyContractOperator(
        task_id="verify",
        dataset="{{ params.dataset }}",
        check_paths="{{ params.paths | tojson }}",
        poll_interval=0.2,
        retries=2,
        retry_delay=timedelta(0),
    )
