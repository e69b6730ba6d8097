"""The scan operators' less travelled paths: failed waits, a log that cannot be read, resolution
after a scan that did not complete, and a scan with nothing left to resolve.

The operator runs against the emulator without a DAG run (the paths are the operator's, not
Airflow's); its log is recorded by a stand-in, as every Airflow release logs differently there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException
from conftest import RecordingLog, StandInTI

from airflow_provider_soda.exceptions import SodaCloudScanFailedError
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
from airflow_provider_soda.operators.scans import SodaCloudScanOperator
from airflow_provider_soda.testing import Fault, SodaCloudEmulator

#: Linked to payments_daily's only check, which passes; seeded resolved, reopened where a test needs it open.
PAYMENTS_INCIDENT = "inc-payments-negative"


def run_scan(definition: str, **kwargs: Any) -> tuple[SodaCloudScanOperator, Any, StandInTI]:
    """Start the scan and wait for its end as the operator does; return operator, scan and task instance."""
    operator = SodaCloudScanOperator(task_id="scan", scan_definition=definition, poll_interval=0.2, **kwargs)
    operator.scan_id = SodaCloudHook().trigger_scan(definition)
    scan = operator._wait(None, time.time() + 30)
    assert scan.is_final
    return operator, scan, StandInTI(task_id="scan")


def test_a_failed_wait_that_is_not_retryable_fails_the_task_with_its_message() -> None:
    operator = SodaCloudScanOperator(task_id="scan", scan_definition="x")
    with pytest.raises(AirflowFailException, match="the scan definition was deleted"):
        operator._scan_from_event({"status": "error", "message": "the scan definition was deleted"}, "s1")


def test_a_log_that_cannot_be_read_leaves_the_outcome_as_it_is(
    soda_cloud_emulator: SodaCloudEmulator, operator_log: Callable[[type], RecordingLog]
) -> None:
    log = operator_log(SodaCloudScanOperator)
    operator, scan, ti = run_scan("payments_daily", log_lines=20)
    soda_cloud_emulator.inject(Fault(status=403, endpoint="scan_logs", times=5))

    result = operator._finish({"ti": ti}, scan)

    assert result["state"] == "completed"
    assert ti.xcom["soda_cloud_scan"]["state"] == "completed"
    assert "Could not read the scan's log" in log.text
    assert scan.cloud_url
    assert scan.cloud_url in log.text  # where to read it instead


@pytest.mark.parametrize("state", ["canceled", "timedOut", "failed"])
def test_a_scan_that_did_not_complete_resolves_nothing(
    soda_cloud_emulator: SodaCloudEmulator, operator_log: Callable[[type], RecordingLog], state: str
) -> None:
    log = operator_log(SodaCloudScanOperator)
    soda_cloud_emulator.scans.next_outcome(
        "payments_daily", state, check_results={"chk-payments-amount": "pass"}
    )
    operator, scan, ti = run_scan("payments_daily", resolve_incidents=True)

    # A scan that did not complete fails the task anyway (a cancelled one without a retry).
    with pytest.raises((SodaCloudScanFailedError, AirflowFailException), match=f"ended {state}"):
        operator._finish({"ti": ti}, scan)

    assert "The scan did not complete: no incident is resolved." in log.text
    assert ti.xcom["soda_cloud_scan"]["incidents"] == []
    assert soda_cloud_emulator.requests_to("update_incident") == []
    assert soda_cloud_emulator.requests_to("list_checks") == []  # nothing read for a resolution either


def test_a_passing_scan_whose_incidents_are_resolved_already_sends_no_update(
    soda_cloud_emulator: SodaCloudEmulator, operator_log: Callable[[type], RecordingLog]
) -> None:
    log = operator_log(SodaCloudScanOperator)
    soda_cloud_emulator._update(PAYMENTS_INCIDENT, {"status": "resolved"})
    operator, scan, ti = run_scan("payments_daily", resolve_incidents=True)

    result = operator._finish({"ti": ti}, scan)

    assert "No open incident has all its checks passing after this scan." in log.text
    assert [(i["incident_id"], i["skipped"]) for i in result["incidents"]] == [(PAYMENTS_INCIDENT, True)]
    assert soda_cloud_emulator.requests_to("update_incident") == []


def test_a_passing_scan_resolves_its_open_incident(soda_cloud_emulator: SodaCloudEmulator) -> None:
    """The counterpart of the two above: the same scan, with the incident open, resolves it."""
    soda_cloud_emulator._update(PAYMENTS_INCIDENT, {"status": "investigating"})
    operator, scan, ti = run_scan("payments_daily", resolve_incidents=True)

    result = operator._finish({"ti": ti}, scan)

    assert [(i["incident_id"], i["skipped"]) for i in result["incidents"]] == [(PAYMENTS_INCIDENT, False)]
    assert soda_cloud_emulator.incident(PAYMENTS_INCIDENT)["status"] == "resolved"


def test_a_scan_failure_is_raised_after_the_outcome_is_in_xcom(
    soda_cloud_emulator: SodaCloudEmulator,
) -> None:
    soda_cloud_emulator.scans.next_outcome("payments_daily", "completedWithFailures")
    operator, scan, ti = run_scan("payments_daily")

    with pytest.raises(SodaCloudScanFailedError):
        operator._finish({"ti": ti}, scan)
    assert ti.xcom["soda_cloud_scan"]["state"] == "completedWithFailures"
