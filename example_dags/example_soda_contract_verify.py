"""Fix, verify, resolve on Soda v4: the orders contract is verified on a Soda Runner after the load.

Soda v4 runs checks as a dataset's **data contract**, verified on a Soda Runner (formerly Soda
Agent), with no soda-core in the Airflow image. When ``load_orders`` fails, a notifier moves the
incident to ``investigating``. When the (fixed) load succeeds, ``verify_orders`` verifies the
contract kept beside this DAG (``contracts/orders.yml``): published first if it differs from
Soda Cloud's, then verified. The incident is resolved only when every check linked to it passes
again; a check that still fails fails the task and leaves the incident open.

Organisations on Soda v3 (scan definitions on a Soda Agent) use ``example_soda_fix_verify_resolve``.
Run it against the offline emulator with ``make demo``; with a real Soda Cloud, point
``contracts/orders.yml`` at your dataset and pass the incident's id::

    airflow dags trigger example_soda_contract_verify --conf '{"incident_id": "<id>"}'
"""

from __future__ import annotations

from datetime import datetime

# Airflow 3; on Airflow 2.11, import the same names from airflow.providers.common.compat.sdk.
from airflow.sdk import DAG, Param, task

from airflow_provider_soda.notifications.incidents import SodaCloudIncidentNotifier
from airflow_provider_soda.operators.contracts import SodaCloudVerifyContractOperator

with DAG(
    dag_id="example_soda_contract_verify",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "soda", "soda-v4"],
    params={
        "incident_id": Param("7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01", type="string", minLength=1),
        "fail_pipeline": Param(False, type="boolean"),
    },
) as dag:
    # [START howto_operator_verify_contract]
    @task(
        retries=0,
        on_failure_callback=SodaCloudIncidentNotifier(
            incident_id="{{ params.incident_id }}", status="investigating", describe_failure=True
        ),
    )
    def load_orders(params: dict[str, object] | None = None) -> int:
        """Stands in for the pipeline step whose data the contract checks."""
        if params and params["fail_pipeline"]:
            raise RuntimeError("orders source returned no rows")
        return 1250

    # Runs only after a successful load: verify the contract on the Soda Runner, resolve what passes.
    verify = SodaCloudVerifyContractOperator(
        task_id="verify_orders",
        contract_file="contracts/orders.yml",  # or dataset="warehouse/analytics/public/orders"
        resolve_incidents=True,  # resolve what the verification verified, and only that
        deferrable=True,  # the worker slot is free while the Soda Runner verifies
        poll_interval=30,
        timeout=3600,
    )

    load_orders() >> verify
    # [END howto_operator_verify_contract]
