"""Drive a Soda Cloud incident from a pipeline's outcome.

When ``load_orders`` fails, the incident moves to ``investigating`` with a description that says
which run failed. When it succeeds (for instance the re-run after a fix), the incident moves to
``resolved`` with resolution notes naming that run.

The incident id comes from the DAG params; override it per run with ``dag_run.conf``::

    airflow dags trigger example_soda_incident_lifecycle --conf '{"incident_id": "<id>"}'

The default id is the demo incident of the offline emulator
(``python -m airflow_provider_soda.testing.emulator``); set ``fail_pipeline`` to see the failure path.
"""

from __future__ import annotations

from datetime import datetime

# Airflow 3; on Airflow 2.11, import the same names from airflow.providers.common.compat.sdk.
from airflow.sdk import DAG, Param, task

from airflow_provider_soda.operators.incidents import UpdateIncidentOperator

with DAG(
    dag_id="example_soda_incident_lifecycle",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "soda"],
    params={
        "incident_id": Param("7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01", type="string", minLength=1),
        "fail_pipeline": Param(False, type="boolean"),
    },
) as dag:

    @task(retries=0)
    def load_orders(params: dict[str, object] | None = None) -> int:
        """Stands in for the real pipeline step whose data quality Soda checks."""
        if params and params["fail_pipeline"]:
            raise RuntimeError("orders source returned no rows")
        return 1250

    loaded = load_orders()

    # [START howto_operator_update_incident]
    # Runs only when the pipeline failed: tell the people watching the incident.
    investigate = UpdateIncidentOperator(
        task_id="mark_incident_investigating",
        incident_id="{{ params.incident_id }}",
        status="investigating",
        description=(
            "Airflow: task load_orders failed in DAG {{ dag.dag_id }}, run {{ run_id }}. "
            "The pipeline team is investigating."
        ),
        trigger_rule="one_failed",
    )

    # Runs only when the pipeline succeeded: close the incident and say what fixed it.
    resolve = UpdateIncidentOperator(
        task_id="resolve_incident",
        incident_id="{{ params.incident_id }}",
        status="resolved",
        resolution_notes="Fixed: load_orders succeeded in DAG {{ dag.dag_id }}, run {{ run_id }}.",
        trigger_rule="all_success",
    )

    loaded >> [investigate, resolve]
    # [END howto_operator_update_incident]
