"""SodaCloudIncidentSensor under dag.test(): poke and deferrable modes, selections, errors, timeouts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import extra_link_url, task_instances, task_logs, xcom_value

from airflow_provider_soda.links.incidents import SodaCloudIncidentLink
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, SodaCloudEmulator


@pytest.fixture
def resolve_later(soda_cloud_emulator: SodaCloudEmulator) -> Iterator[Callable[..., None]]:
    """Resolve incidents from another thread once the sensor has looked ``after_polls`` times."""
    threads = []

    def start(*incident_ids: str, after_polls: int = 1, status: str = "resolved") -> None:
        def run() -> None:
            deadline = time.monotonic() + 20
            while len(soda_cloud_emulator.requests_to("list_incidents")) < after_polls:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.02)
            for incident_id in incident_ids:
                soda_cloud_emulator._update(incident_id, {"status": status})

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    for thread in threads:
        thread.join(timeout=25)


def test_example_waits_for_resolution_in_the_triggerer(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, resolve_later: Callable[..., None]
) -> None:
    resolve_later(DEMO_INCIDENT_ID)
    dag_run = dag_test("example_soda_wait_for_resolution")

    assert dag_run.state == "success"
    assert xcom_value(dag_run, "rebuild_orders_mart") == "rebuilt after incident #1 was resolved"
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "resolved"
    assert soda_cloud_emulator.requests_to("update_incident") == []  # the sensor only reads


@pytest.mark.parametrize("mode", ["poke", "deferred"])
def test_sensor_waits_until_the_incident_reaches_the_status(
    dag_test: Any,
    soda_cloud_emulator: SodaCloudEmulator,
    resolve_later: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
    mode: str,
) -> None:
    resolve_later(DEMO_INCIDENT_ID, after_polls=2)
    dag_run = dag_test(f"soda_test_sensor_{mode}")

    assert dag_run.state == "success"
    (incident,) = xcom_value(dag_run, "wait")
    assert (incident["id"], incident["status"]) == (DEMO_INCIDENT_ID, "resolved")
    assert len(soda_cloud_emulator.requests_to("list_incidents")) >= 3
    logs = task_logs(capsys)
    if mode == "deferred":
        assert tis_deferred(logs)
    # The link's XCom is pushed before the task can defer or stop: no false "XCom not found" error.
    assert "XCom not found" not in logs
    assert extra_link_url(dag_run, "wait", SodaCloudIncidentLink()).endswith(f"/incidents/{DEMO_INCIDENT_ID}")


def tis_deferred(logs: str) -> bool:
    return "SodaCloudIncidentTrigger" in logs or "deferr" in logs.lower()


@pytest.mark.parametrize("mode", ["poke", "deferred"])
def test_sensor_accepts_several_target_statuses_and_returns_at_once(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, mode: str
) -> None:
    dag_run = dag_test(f"soda_test_sensor_{mode}", conf={"target_status": ["reported", "fixing"]})

    assert dag_run.state == "success"
    assert len(soda_cloud_emulator.requests_to("list_incidents")) == 1  # already there: no deferral


@pytest.mark.parametrize("mode", ["poke", "deferred"])
def test_a_missing_incident_fails_with_what_to_check(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    dag_run = dag_test(f"soda_test_sensor_{mode}", conf={"incident_id": "no-such-incident"})

    assert dag_run.state == "failed"
    assert "has no incident 'no-such-incident'" in task_logs(capsys)
    assert len(soda_cloud_emulator.requests_to("list_incidents")) == 1  # no waiting on it


def test_a_typo_in_the_target_status_fails_before_any_request(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    dag_run = dag_test("soda_test_sensor_deferred", conf={"target_status": "closed"})

    assert dag_run.state == "failed"
    assert "status must be one of: reported, investigating, fixing, resolved" in task_logs(capsys)
    assert soda_cloud_emulator.requests == []


@pytest.mark.parametrize("mode", ["poke", "deferred"])
def test_timeout_with_soft_fail_skips(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, mode: str
) -> None:
    dag_run = dag_test(f"soda_test_sensor_timeout_{mode}")

    assert task_instances(dag_run)["wait"].state == "skipped"
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "reported"


@pytest.mark.parametrize("mode", ["poke", "deferred"])
def test_soft_fail_skips_a_missing_incident_too(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, mode: str
) -> None:
    dag_run = dag_test(f"soda_test_sensor_timeout_{mode}", conf={"incident_id": "no-such-incident"})

    assert task_instances(dag_run)["wait"].state == "skipped"
    assert len(soda_cloud_emulator.requests_to("list_incidents")) == 1


def test_selection_waits_for_every_matching_incident(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, resolve_later: Callable[..., None]
) -> None:
    resolve_later(DEMO_INCIDENT_ID, after_polls=2)
    resolve_later("inc-orders-dup", after_polls=3)
    dag_run = dag_test("soda_test_sensor_selection")

    assert dag_run.state == "success"
    assert sorted(i["id"] for i in xcom_value(dag_run, "wait")) == sorted(
        [DEMO_INCIDENT_ID, "inc-orders-dup", "inc-orders-late"]
    )
    assert len(soda_cloud_emulator.requests_to("list_incidents")) >= 3
