"""SodaCloudScanTrigger against the emulator, in an event loop as the triggerer runs it."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import pytest
from conftest import first_event

from airflow_provider_soda.testing import Fault, SodaCloudEmulator
from airflow_provider_soda.triggers.scans import SodaCloudScanTrigger


def trigger(
    scan_id: str, *, interval: float = 0.1, within: float = 60.0, **kwargs: Any
) -> SodaCloudScanTrigger:
    return SodaCloudScanTrigger(
        scan_id=scan_id,
        soda_cloud_conn_id="soda_cloud_default",
        poll_interval=interval,
        end_time=time.time() + within,
        **kwargs,
    )


def started(emulator: SodaCloudEmulator, outcome: str = "completed", duration: float = 0.5) -> str:
    emulator.scans.next_outcome("orders_daily", outcome, duration=duration)
    status, _, headers = emulator.scans.trigger({"scanDefinition": ["orders_daily"]})
    assert status == 201
    return headers["X-Soda-Scan-Id"]


def test_fires_once_the_scan_is_final_with_its_status(soda_cloud_emulator: SodaCloudEmulator) -> None:
    scan_id = started(soda_cloud_emulator, "completedWithWarnings")
    event = asyncio.run(first_event(trigger(scan_id)))
    assert event["status"] == "final"
    assert event["scan_id"] == scan_id
    assert event["scan"]["state"] == "completedWithWarnings"
    assert event["scan"]["cloudUrl"].endswith(f"/scans/{scan_id}")
    json.dumps(event)  # what the triggerer stores must serialise


def test_soda_s_next_poll_time_spaces_the_polls(soda_cloud_emulator: SodaCloudEmulator) -> None:
    soda_cloud_emulator.scans.next_poll_hint = 1.0  # Soda asks for 1 s; the trigger's own interval is 0.1 s
    scan_id = started(soda_cloud_emulator, duration=2.5)
    asyncio.run(first_event(trigger(scan_id, interval=0.1)))
    times = [r.at for r in soda_cloud_emulator.requests_to("get_scan")]
    assert len(times) >= 2
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.9  # never sooner than Soda asked


def test_without_a_hint_the_poll_interval_spaces_the_polls(soda_cloud_emulator: SodaCloudEmulator) -> None:
    soda_cloud_emulator.scans.next_poll_hint = None
    scan_id = started(soda_cloud_emulator, duration=1.0)
    asyncio.run(first_event(trigger(scan_id, interval=0.3)))
    times = [r.at for r in soda_cloud_emulator.requests_to("get_scan")]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.25


def test_a_scan_soda_does_not_know_ends_the_wait_with_an_error(
    soda_cloud_emulator: SodaCloudEmulator,
) -> None:
    event = asyncio.run(first_event(trigger("scan-nope")))
    assert event["status"] == "error"
    assert event["retryable"] is False
    assert "Check the scan id" in event["message"]


def test_an_outage_is_retried_not_reported(soda_cloud_emulator: SodaCloudEmulator) -> None:
    scan_id = started(soda_cloud_emulator, duration=0.3)
    soda_cloud_emulator.inject(Fault(status=503, endpoint="get_scan", times=6))
    event = asyncio.run(first_event(trigger(scan_id)))
    assert event["status"] == "final"
    assert 503 in [r.status for r in soda_cloud_emulator.requests_to("get_scan")]


def test_a_rejected_key_is_read_again_once_then_reported(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = json.loads(soda_cloud_emulator.airflow_connection())
    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", json.dumps({**conn, "password": "rotated-away"}))
    event = asyncio.run(first_event(trigger("scan-any")))
    assert event["status"] == "error"
    assert "HTTP 401" in event["message"]
    assert len(soda_cloud_emulator.requests_to("get_scan")) == 2  # the connection was read again once


def test_the_timeout_fires_while_the_scan_runs(soda_cloud_emulator: SodaCloudEmulator) -> None:
    scan_id = started(soda_cloud_emulator, duration=60)
    event = asyncio.run(first_event(trigger(scan_id, within=0.5)))
    assert event["status"] == "timeout"
    assert event["scan"]["state"] in ("queuing", "executing")


def test_on_kill_cancels_the_scan_the_task_started(soda_cloud_emulator: SodaCloudEmulator) -> None:
    scan_id = started(soda_cloud_emulator, duration=60)
    asyncio.run(trigger(scan_id, cancel_on_kill=True).on_kill())
    assert soda_cloud_emulator.scans.scan(scan_id)["state"] == "canceled"  # it was still queuing


def test_a_sensor_s_wait_never_cancels_a_scan_it_did_not_start(
    soda_cloud_emulator: SodaCloudEmulator,
) -> None:
    scan_id = started(soda_cloud_emulator, duration=60)
    asyncio.run(trigger(scan_id).on_kill())  # cancel_on_kill defaults to False: the sensor's wait
    assert soda_cloud_emulator.requests_to("cancel_scan") == []
    assert soda_cloud_emulator.scans.scan(scan_id)["state"] in ("queuing", "executing")


def test_on_kill_after_the_scan_ended_sends_no_cancel(soda_cloud_emulator: SodaCloudEmulator) -> None:
    scan_id = started(soda_cloud_emulator, duration=0.3)
    waiting = trigger(scan_id, cancel_on_kill=True)
    event = asyncio.run(first_event(waiting))
    assert event["status"] == "final"
    asyncio.run(waiting.on_kill())  # Airflow may call it as the task is cleared right after the end
    assert soda_cloud_emulator.requests_to("cancel_scan") == []


def test_the_task_s_hook_params_reach_the_trigger_s_hook(soda_cloud_emulator: SodaCloudEmulator) -> None:
    scan_id = started(soda_cloud_emulator, duration=60)
    waiting = trigger(scan_id, hook_params={"max_transient_retries": 0})
    soda_cloud_emulator.inject(Fault(status=503, times=1, endpoint="get_scan"))
    hook = asyncio.run(waiting._hook())
    assert hook.retry_limits.max_transient_retries == 0
    _, kwargs = waiting.serialize()
    assert kwargs["hook_params"] == {"max_transient_retries": 0}


def test_a_trigger_event_stays_small_for_a_scan_of_thousands_of_checks(
    soda_cloud_emulator: SodaCloudEmulator,
) -> None:
    from airflow_provider_soda.testing.emulator_scans import EmulatedCheck, ScanDefinition

    ids = [f"chk-big-{n:05d}" for n in range(5000)]
    for n, check_id in enumerate(ids):
        soda_cloud_emulator.scans.add_check(
            EmulatedCheck(check_id, f"Big check {n}", "ds-orders", "orders", "pass")
        )
    soda_cloud_emulator.scans.add_definition(ScanDefinition("big_scan", ids, duration=0.3, queuing=0.1))
    soda_cloud_emulator.scans.next_outcome(
        "big_scan",
        "completedWithFailures",
        check_results={**dict.fromkeys(ids, "pass"), ids[4321]: "fail"},
        duration=0.3,
    )
    _, _, headers = soda_cloud_emulator.scans.trigger({"scanDefinition": ["big_scan"]})
    event = asyncio.run(first_event(trigger(headers["X-Soda-Scan-Id"])))
    assert event["status"] == "final"
    assert len(json.dumps(event)) < 20_000
    scan = event["scan"]
    assert scan["checksTotal"] == 5000
    assert scan["checks"][0] == {"id": ids[4321], "evaluationStatus": "fail"}  # what did not pass first
    assert scan["failures"] == 1


def test_serialises_what_it_needs_to_resume() -> None:
    path, kwargs = trigger("scan-1", interval=30, first_poll_after=5).serialize()
    assert path == "airflow_provider_soda.triggers.scans.SodaCloudScanTrigger"
    again = SodaCloudScanTrigger(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert kwargs["poll_interval"] == 30.0
