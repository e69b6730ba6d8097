"""The scan and check methods of SodaCloudHook against the emulator: requests, answers, errors."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pendulum
import pytest
from conftest import wait_for_scan_state
from test_contract import validator

from airflow_provider_soda.exceptions import (
    SodaCloudBadRequestError,
    SodaCloudNotFoundError,
    SodaCloudServerError,
    SodaCloudValidationError,
)
from airflow_provider_soda.hooks.retry import RetryLimits
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
from airflow_provider_soda.models import ScanState
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, Fault, SodaCloudEmulator
from airflow_provider_soda.testing.emulator_scans import EmulatedCheck, ScanDefinition

FAST = RetryLimits(backoff_base=0.01, backoff_cap=0.05, max_wait=30)


@pytest.fixture
def hook(soda_cloud_emulator: SodaCloudEmulator) -> SodaCloudHook:
    return SodaCloudHook(retry_limits=FAST)


def wait_final(hook: SodaCloudHook, scan_id: str) -> ScanState | str:
    for _ in range(100):
        scan = hook.get_scan(scan_id)
        if scan.is_final:
            return scan.state
        time.sleep(0.1)
    raise AssertionError("the scan never ended")


def test_trigger_sends_the_form_and_returns_the_scan_id(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    scan_id = hook.trigger_scan(
        " orders_daily ", data_timestamp=pendulum.datetime(2026, 11, 30, 6, tz="Europe/Paris")
    )
    (request,) = soda_cloud_emulator.requests_to("trigger_scan")
    assert request.method == "POST"
    assert request.status == 201
    assert request.body == {
        "scanDefinition": ["orders_daily"],
        "dataTimestamp": ["2026-11-30T06:00:00+01:00"],
    }
    assert scan_id == soda_cloud_emulator.scans.scan(scan_id)["id"]
    hook.trigger_scan("orders_daily", data_timestamp="2026-11-30T05:00:00Z")
    assert soda_cloud_emulator.requests_to("trigger_scan")[1].body["dataTimestamp"] == [
        "2026-11-30T05:00:00+00:00"
    ]


@pytest.mark.parametrize(
    ("definition", "stamp", "message"),
    [
        ("", None, "smaller text under its label"),
        ("   ", None, "scan_definition is empty"),
        (42, None, "must be the scan definition's name"),
        ("orders_daily", datetime(2026, 11, 30), "has no timezone"),
        ("orders_daily", "2026-11-30T06:00:00", "has no timezone"),
        ("orders_daily", "yesterday", "not an ISO 8601 date-time"),
    ],
)
def test_invalid_arguments_fail_before_any_request(
    hook: SodaCloudHook,
    soda_cloud_emulator: SodaCloudEmulator,
    definition: object,
    stamp: object,
    message: str,
) -> None:
    with pytest.raises(SodaCloudValidationError, match=message):
        hook.trigger_scan(definition, data_timestamp=stamp)  # type: ignore[arg-type]
    assert soda_cloud_emulator.requests == []


@pytest.mark.parametrize(
    ("definition", "error"),
    [("orders_dialy", SodaCloudNotFoundError), ("local_library_scan", SodaCloudBadRequestError)],
)
def test_a_definition_soda_cannot_run_says_where_to_find_the_name(
    hook: SodaCloudHook, definition: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as excinfo:
        hook.trigger_scan(definition)
    text = str(excinfo.value)
    assert definition in text
    assert "smaller text under the scan's label on the Scans page" in text
    assert "Soda Agent" in text


def test_a_server_error_does_not_start_a_second_scan(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.inject(Fault(status=502, endpoint="trigger_scan"))
    with pytest.raises(SodaCloudServerError, match="A scan may have started"):
        hook.trigger_scan("orders_daily")
    assert len(soda_cloud_emulator.requests_to("trigger_scan")) == 1


def test_a_rate_limited_start_is_retried(hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator) -> None:
    soda_cloud_emulator.inject(Fault(status=429, endpoint="trigger_scan", headers={"Retry-After": "1"}))
    assert hook.trigger_scan("orders_daily")
    assert [r.status for r in soda_cloud_emulator.requests_to("trigger_scan")] == [429, 201]


def test_status_goes_from_queuing_to_a_final_state_with_poll_hints(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.scans.next_outcome(
        "orders_daily", "completedWithFailures", check_results={"chk-orders-freshness": "pass"}, duration=0.6
    )
    scan_id = hook.trigger_scan("orders_daily")
    first = hook.get_scan(scan_id)
    assert first.state == ScanState.QUEUING
    assert not first.is_final
    assert first.next_poll_at is not None
    assert first.next_poll_at > datetime.now(UTC)
    assert wait_final(hook, scan_id) == ScanState.COMPLETED_WITH_FAILURES
    scan = hook.get_scan(scan_id)
    assert scan.completed
    assert scan.next_poll_at is None
    assert scan.tally() == {"failures": 2, "warnings": 0, "errors": 0}
    assert scan.counts() == "2 failures, 0 warnings, 0 errors"
    assert {c.id: c.status_value for c in scan.checks} == {
        "chk-orders-row-count": "fail",
        "chk-orders-duplicates": "fail",
        "chk-orders-freshness": "pass",
    }
    assert scan.to_xcom()["cloud_url"] == f"{soda_cloud_emulator.url}/scans/{scan_id}"
    validator("#/components/schemas/PublicApiScanStatusResponse").validate(
        soda_cloud_emulator.scans.scan(scan_id)
    )


def test_logs_are_read_page_by_page(hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator) -> None:
    soda_cloud_emulator.scans.add_definition(
        ScanDefinition("chatty", ["chk-orders-freshness"], 0.1, 0.0, log_lines=250)
    )
    scan_id = hook.trigger_scan("chatty")
    wait_final(hook, scan_id)
    lines = list(hook.scan_logs(scan_id, page_size=100))
    assert [line.index for line in lines] == list(range(len(lines)))
    assert len(lines) == 252
    assert len(soda_cloud_emulator.requests_to("scan_logs")) == 3
    assert lines[-1].message == "Scan ended: completed"
    assert {line.python_level for line in lines} == {logging.DEBUG, logging.INFO}
    with pytest.raises(SodaCloudValidationError, match="page_size"):
        hook.scan_logs(scan_id, page_size=50)


def test_cancel_of_a_queued_an_executing_and_an_ended_scan(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=30)
    queued = hook.trigger_scan("orders_daily")
    assert hook.cancel_scan(queued) is True
    assert hook.get_scan(queued).state == ScanState.CANCELED
    executing = hook.trigger_scan("orders_daily")
    wait_for_scan_state(soda_cloud_emulator, executing, "executing")  # 0.5 s in the queue first
    assert hook.cancel_scan(executing) is True
    assert hook.get_scan(executing).state == ScanState.CANCELATION_REQUESTED
    assert wait_final(hook, executing) == ScanState.CANCELED
    assert hook.cancel_scan(executing) is False  # Soda answers 400: not an error, said in the log
    assert "is canceled; nothing to cancel" in capsys.readouterr().out
    with pytest.raises(SodaCloudNotFoundError, match="Check the scan id"):
        hook.cancel_scan("scan-unknown")


def test_checks_by_id_carry_their_incidents_and_split_at_1000(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    checks = list(hook.list_checks(check_ids=["chk-orders-row-count", "nope", "chk-orders-row-count"]))
    assert [c.id for c in checks] == ["chk-orders-row-count"]
    (incident,) = checks[0].incidents
    assert (incident.id, incident.number, incident.status_value) == (DEMO_INCIDENT_ID, 1, "reported")
    assert checks[0].datasets[0].id == "ds-orders"
    soda_cloud_emulator.reset_log()
    for n in range(1500):
        soda_cloud_emulator.scans.add_check(
            EmulatedCheck(f"bulk-{n:04d}", f"bulk {n}", "ds-orders", "orders")
        )
    ids = [f"bulk-{n:04d}" for n in range(1500)]
    assert [c.id for c in hook.list_checks(check_ids=ids)] == ids
    assert [
        len(r.query["checkIds"][0].split(",")) for r in soda_cloud_emulator.requests_to("list_checks")
    ] == [
        1000,
        500,
    ]
    assert list(hook.list_checks(check_ids=[])) == []


def test_checks_of_a_dataset_are_paged(hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator) -> None:
    for n in range(25):
        soda_cloud_emulator.scans.add_check(
            EmulatedCheck(f"pay-{n:02d}", f"payments {n:02d}", "ds-payments", "payments")
        )
    found = list(hook.list_checks(dataset_id="ds-payments", page_size=10))
    assert len(found) == 26
    assert all(c.datasets[0].id == "ds-payments" for c in found)
    assert len(soda_cloud_emulator.requests_to("list_checks")) >= 3
    with pytest.raises(SodaCloudValidationError, match="not both"):
        hook.list_checks(dataset_id="ds-orders", check_ids=["a"])
    with pytest.raises(SodaCloudValidationError, match="a list of check ids"):
        hook.list_checks(check_ids="chk-orders-row-count")
