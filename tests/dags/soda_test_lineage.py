"""Test DAGs for the OpenLineage facets of scans and contract verifications (tests/test_lineage.py)."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_soda.operators.contracts import SodaCloudVerifyContractOperator
from airflow_provider_soda.operators.scans import SodaCloudScanOperator

for dag_id, fail_on, resolve, deferrable in (
    ("soda_test_lineage_scan", [], False, False),  # completes with failures, and the task succeeds
    ("soda_test_lineage_scan_failing", ["failures"], False, False),  # the same scan fails the task
    ("soda_test_lineage_scan_resolving", [], True, False),  # the checks are read for the resolution
    ("soda_test_lineage_scan_deferred", [], False, True),  # waits in the triggerer, ends in a new process
):
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1)):
        SodaCloudScanOperator(
            task_id="scan",
            scan_definition="lineage_mix",
            poll_interval=0.2,
            fail_on=fail_on,
            resolve_incidents=resolve,
            deferrable=deferrable,
            retries=0,
        )

with DAG(dag_id="soda_test_lineage_contract", schedule=None, start_date=datetime(2026, 1, 1)):
    SodaCloudVerifyContractOperator(
        task_id="verify",
        dataset="warehouse/analytics/public/orders",
        poll_interval=0.2,
        fail_on=[],
        retries=0,
    )
