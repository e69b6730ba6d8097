"""After a backfill, resolve every open Soda Cloud incident of the dataset it repaired.

The DAG does not know incident ids: it names the dataset, and the operator selects the open
incidents on it. ``preview`` (``dry_run=True``) logs what would change and sends nothing, so the
run's log shows the plan before the update; ``max_incidents`` stops the task before the first
update if the selection matches more than expected (a wrong dataset id, say).
"""

from __future__ import annotations

from datetime import datetime

# Airflow 3; on Airflow 2.11, import the same names from airflow.providers.common.compat.sdk.
from airflow.sdk import DAG, Param, task

from airflow_provider_soda.operators.incidents import UpdateIncidentsOperator

# [START howto_selection]
SELECTION = {"dataset_id": "{{ params.dataset_id }}", "status": "open"}
# [END howto_selection]

with DAG(
    dag_id="example_soda_resolve_after_backfill",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "soda"],
    params={
        # The dataset id from the dataset's page in Soda Cloud (the emulator seeds ds-orders).
        "dataset_id": Param("ds-orders", type="string", minLength=1),
    },
):

    @task
    def backfill_orders() -> None:
        """Stands in for the real backfill (a dbt run, a Spark job...)."""

    # [START howto_operator_update_incidents_selection]
    preview = UpdateIncidentsOperator(
        task_id="preview",
        selection=SELECTION,
        status="resolved",
        dry_run=True,
    )

    resolve = UpdateIncidentsOperator(
        task_id="resolve_open_incidents",
        selection=SELECTION,
        status="resolved",
        resolution_notes="Backfilled by {{ dag.dag_id }}, run {{ run_id }}.",
        max_incidents=50,
    )

    backfill_orders() >> preview >> resolve
    # [END howto_operator_update_incidents_selection]
