"""The shortest way: callbacks move the Soda Cloud incident, no extra tasks needed.

``SodaCloudIncidentNotifier`` picks the status from the callback: a failure moves the incident to
``investigating``; a success moves it to ``resolved`` with resolution notes naming the run that
fixed it. Here ``describe_failure=True`` also replaces the incident's description with one naming
the DAG, run, task and try (off by default, so that what people wrote on the incident stays);
``include_error=True`` would add the exception's first line. Pass ``status``, ``description`` or
``resolution_notes`` to say something else.

Here the callbacks sit on the task that matters. To react to any task of the DAG instead, put
the same notifiers on the DAG::

    DAG(..., on_failure_callback=notifier, on_success_callback=notifier)

A notifier never fails the task it reports on: if Soda Cloud is down or the id is wrong, it
logs an error and the task keeps the state it earned.
"""

from __future__ import annotations

from datetime import datetime

# Airflow 3; on Airflow 2.11, import the same names from airflow.providers.common.compat.sdk.
from airflow.sdk import DAG, Param, task

from airflow_provider_soda.notifications.incidents import SodaCloudIncidentNotifier

# [START howto_notifier]
# One notifier serves both callbacks: it tells failure from success from the context.
move_incident = SodaCloudIncidentNotifier(incident_id="{{ params.incident_id }}", describe_failure=True)
# [END howto_notifier]

with DAG(
    dag_id="example_soda_incident_notifiers",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "soda"],
    params={
        "incident_id": Param("7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01", type="string", minLength=1),
        "fail_pipeline": Param(False, type="boolean"),
    },
):
    # [START howto_notifier_callbacks]
    @task(retries=0, on_failure_callback=move_incident, on_success_callback=move_incident)
    def load_orders(params: dict[str, object] | None = None) -> int:
        # [END howto_notifier_callbacks]
        """Stands in for the real pipeline step whose data quality Soda checks."""
        if params and params["fail_pipeline"]:
            raise RuntimeError("orders source returned no rows")
        return 1250

    load_orders()
