"""Test DAGs for SodaCloudIncidentSensor: poke and deferrable, by id and by selection, timeouts."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_soda.sensors.incidents import SodaCloudIncidentSensor

DEMO = "7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01"

for deferrable in (False, True):
    with DAG(
        dag_id=f"soda_test_sensor_{'deferred' if deferrable else 'poke'}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        params={"incident_id": DEMO, "target_status": "resolved"},
        render_template_as_native_obj=True,  # a list in dag_run.conf stays a list
    ):
        SodaCloudIncidentSensor(
            task_id="wait",
            incident_id="{{ params.incident_id }}",
            target_status="{{ params.target_status }}",
            deferrable=deferrable,
            poke_interval=0.3,
            timeout=30,
        )

    with DAG(
        dag_id=f"soda_test_sensor_timeout_{'deferred' if deferrable else 'poke'}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        params={"incident_id": DEMO},
    ):
        SodaCloudIncidentSensor(
            task_id="wait",
            incident_id="{{ params.incident_id }}",
            deferrable=deferrable,
            poke_interval=0.3,
            timeout=1.5,
            soft_fail=True,
        )

with DAG(dag_id="soda_test_sensor_selection", schedule=None, start_date=datetime(2026, 1, 1)):
    SodaCloudIncidentSensor(
        task_id="wait",
        selection={"dataset_id": "ds-orders"},
        deferrable=True,
        poke_interval=0.3,
        timeout=30,
    )
