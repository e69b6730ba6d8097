"""Hold a downstream job until the Soda Cloud incident on its input is resolved.

``wait_for_resolution`` defers: the worker slot is free while it waits, and in the triggerer
every waiting sensor of the connection shares one Soda Cloud request per poll. It gives up
after ``timeout`` (here: fails; ``soft_fail=True`` would skip the job instead). The sensor
returns the incident, so the job can read how it was resolved.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

# Airflow 3; on Airflow 2.11, import the same names from airflow.providers.common.compat.sdk.
from airflow.sdk import DAG, Param, task

from airflow_provider_soda.sensors.incidents import SodaCloudIncidentSensor

with DAG(
    dag_id="example_soda_wait_for_resolution",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "soda"],
    params={"incident_id": Param("7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01", type="string", minLength=1)},
):
    # [START howto_sensor_incident]
    wait = SodaCloudIncidentSensor(
        task_id="wait_for_resolution",
        incident_id="{{ params.incident_id }}",
        target_status="resolved",
        deferrable=True,
        poke_interval=10,
        timeout=timedelta(hours=6),
    )

    @task
    def rebuild_orders_mart(incidents: list[dict[str, Any]]) -> str:
        """Stands in for the downstream job; the sensor's XCom says how the incident ended."""
        (incident,) = incidents
        return f"rebuilt after incident #{incident['number']} was {incident['status']}"

    rebuild_orders_mart(wait.output)
    # [END howto_sensor_incident]
