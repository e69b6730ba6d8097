"""make e2e-cluster: 20 tasks fail at once, each moving its own Soda Cloud incident on failure.

The incidents ``inc-0001`` ... ``inc-0020`` are seeded by the emulator (``--extra-incidents``).
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_soda.notifications.incidents import SodaCloudIncidentNotifier

TASKS = 20

with DAG(dag_id="soda_cluster_storm", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    for number in range(1, TASKS + 1):

        @task(
            task_id=f"load_{number:02d}",
            retries=0,
            on_failure_callback=SodaCloudIncidentNotifier(incident_id=f"inc-{number:04d}"),
        )
        def load() -> None:
            raise RuntimeError("the warehouse is down")

        load()
