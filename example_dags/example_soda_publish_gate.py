"""Do not publish while a critical incident is open on the dataset: a data-quality gate.

``quality_gate`` lists the open incidents of the dataset at or above ``min_severity``. With
``on_open="skip"`` it is skipped when it finds any, and ``publish`` with it: the run succeeds
without publishing, and the gate's log lists each blocking incident with its link. Use
``on_open="fail"`` (the default) to fail the run instead.
"""

from __future__ import annotations

from datetime import datetime

# Airflow 3; on Airflow 2.11, import the same names from airflow.providers.common.compat.sdk.
from airflow.sdk import DAG, Param, task

from airflow_provider_soda.operators.gate import SodaCloudIncidentGateOperator

with DAG(
    dag_id="example_soda_publish_gate",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "soda"],
    params={
        "dataset_id": Param("ds-orders", type="string", minLength=1),
        "min_severity": Param("critical", enum=["minor", "major", "critical"]),
    },
):

    @task
    def build_orders_report() -> str:
        return "s3://reports/orders/latest.parquet"

    # [START howto_operator_gate]
    gate = SodaCloudIncidentGateOperator(
        task_id="quality_gate",
        dataset_ids="{{ params.dataset_id }}",
        min_severity="{{ params.min_severity }}",
        on_open="skip",
    )

    @task
    def publish(report: str) -> str:
        """Stands in for the real publication (a table swap, a dashboard refresh...)."""
        return f"published {report}"

    report = build_orders_report()
    report >> gate >> publish(report)
    # [END howto_operator_gate]
