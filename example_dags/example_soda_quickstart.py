"""The quick start (README, docs/index.md): one notifier keeps an incident in step with a task.

When ``load_orders`` fails, the incident moves to ``investigating``; when it succeeds (the re-run
after a fix, say), it moves to ``resolved`` with resolution notes naming the run.
"""

from __future__ import annotations

# [START quickstart]
from datetime import datetime

# Airflow 3; on Airflow 2.11, import the same names from airflow.providers.common.compat.sdk.
from airflow.sdk import DAG, task

from airflow_provider_soda.notifications.incidents import SodaCloudIncidentNotifier

# On a failure the incident moves to investigating; on a success, to resolved with notes.
move_incident = SodaCloudIncidentNotifier(incident_id="{{ params.incident_id }}")

with DAG(
    dag_id="example_soda_quickstart",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,  # Airflow 2.11 would otherwise run every day since the start date
    params={"incident_id": "7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01"},  # from the incident's URL
):

    @task(on_failure_callback=move_incident, on_success_callback=move_incident)
    def load_orders() -> None: ...  # your pipeline step

    load_orders()
# [END quickstart]
