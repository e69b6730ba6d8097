"""Fix, verify, resolve: an incident is resolved because Soda's own checks pass again.

Not on the pipeline's word. When ``load_orders`` fails, a notifier moves the incident to
``investigating``. When the (fixed) load succeeds, ``verify_orders`` runs the Soda scan
definition that checks the orders table, on the Soda Agent, with no soda-core in the Airflow
image. The incidents linked to the checks that now pass are resolved, with notes naming the
scan and this run; if the check behind the incident still fails, the task fails, the incident
stays open, and the log lists it with its link.

Run it against the offline emulator with ``make demo``; with a real Soda Cloud, set the
``scan_definition`` param to your definition's name (the smaller text under its label on the
Scans page) and ``incident_id`` to the incident the load's failure concerns::

    airflow dags trigger example_soda_fix_verify_resolve --conf '{"incident_id": "<id>"}'
"""

from __future__ import annotations

from datetime import datetime

# Airflow 3; on Airflow 2.11, import the same names from airflow.providers.common.compat.sdk.
from airflow.sdk import DAG, Param, task

from airflow_provider_soda.notifications.incidents import SodaCloudIncidentNotifier
from airflow_provider_soda.operators.scans import SodaCloudScanOperator

with DAG(
    dag_id="example_soda_fix_verify_resolve",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "soda"],
    params={
        "incident_id": Param("7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01", type="string", minLength=1),
        "scan_definition": Param("orders_daily", type="string", minLength=1),
        "fail_pipeline": Param(False, type="boolean"),
    },
) as dag:
    # [START howto_operator_scan]
    @task(
        retries=0,
        on_failure_callback=SodaCloudIncidentNotifier(
            incident_id="{{ params.incident_id }}", status="investigating", describe_failure=True
        ),
    )
    def load_orders(params: dict[str, object] | None = None) -> int:
        """Stands in for the pipeline step whose data Soda checks."""
        if params and params["fail_pipeline"]:
            raise RuntimeError("orders source returned no rows")
        return 1250

    # Runs only after a successful load: the fix is in, now ask Soda whether the data is good.
    verify = SodaCloudScanOperator(
        task_id="verify_orders",
        scan_definition="{{ params.scan_definition }}",
        resolve_incidents=True,  # resolve what the scan verified, and only that
        deferrable=True,  # the worker slot is free while the Soda Agent scans
        poll_interval=30,
        timeout=3600,
    )

    load_orders() >> verify
    # [END howto_operator_scan]
