"""Deadline alerts: move the incident to ``investigating`` when a DAG run is late.

Airflow's deadline alerts (Airflow 3.1+) run their callback in the triggerer when a run misses its
deadline, here 30 minutes after it was queued. ``SodaCloudIncidentNotifier`` is awaitable (it has
``async_notify``), so it is the callback itself: the incident moves to ``investigating`` with a
description saying which run missed its deadline, without blocking the triggerer's event loop.

The callback's context holds only the run and the deadline (no ``params``), so the incident id
is given here, or taken from the run's conf: ``"{{ dag_run.conf.incident_id }}"``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Airflow 3; on Airflow 2.11, import the same names from airflow.providers.common.compat.sdk.
from airflow.sdk import DAG, task

from airflow_provider_soda.notifications.incidents import SodaCloudIncidentNotifier

try:
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference
except ImportError:  # an Airflow without deadline alerts: the DAG runs without one
    deadline: dict[str, object] = {}
else:
    deadline = {
        # [START howto_notifier_deadline_alert]
        "deadline": DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(minutes=30),
            callback=AsyncCallback(
                SodaCloudIncidentNotifier,
                kwargs={"incident_id": "7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01", "describe_failure": True},
            ),
        )
        # [END howto_notifier_deadline_alert]
    }

with DAG(
    dag_id="example_soda_incident_deadline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "soda"],
    **deadline,  # type: ignore[arg-type]
):

    @task
    def nightly_load() -> int:
        """Stands in for a pipeline that must finish within 30 minutes of being queued."""
        return 1250

    nightly_load()
