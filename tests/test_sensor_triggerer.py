"""A deferred sensor in a real triggerer (``airflow standalone``) resumes when its incident is resolved.

In a file of its own (not beside the event-driven test), so that its Airflow starts in another
parallel test worker (make test) than the event-driven one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_event_driven import (
    SENSOR_DAG_ID,
    _trigger,
    airflow_services,
    api_server_up,
    runs,
    task_state,
    wait_for,
)

from airflow_provider_soda.testing import SodaCloudEmulator

pytestmark = pytest.mark.standalone

__all__ = ["airflow_services"]  # the fixture, imported for the test below

STANDALONE_DAG_FILES = [f"example_dags/{SENSOR_DAG_ID}.py"]


def test_a_deferred_sensor_resumes_in_the_triggerer(
    airflow_services: Path, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    log = airflow_services.parents[1] / "standalone.log"
    env = json.loads((airflow_services.parents[1] / "env.json").read_text())
    wait_for("the API server", lambda: api_server_up(env), 240, log)
    wait_for("the DAG to be parsed", lambda: _trigger(env), 240, log)
    wait_for(
        "the sensor to defer",
        lambda: task_state(airflow_services, SENSOR_DAG_ID, "wait_for_resolution") == "deferred",
        120,
        log,
    )
    polls = len(soda_cloud_emulator.requests_to("list_incidents"))
    wait_for(
        "the trigger to poll", lambda: len(soda_cloud_emulator.requests_to("list_incidents")) > polls, 60, log
    )
    soda_cloud_emulator._update("7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01", {"status": "resolved"})
    done = wait_for(
        "the run to finish",
        lambda: [
            r for r in runs(airflow_services, SENSOR_DAG_ID, "rebuild_orders_mart") if r[1] == "success"
        ],
        120,
        log,
    )
    assert done[0][2] == "rebuilt after incident #1 was resolved"
