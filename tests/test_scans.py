"""SodaCloudScanOperator and SodaCloudScanSensor under dag.test(): outcomes, logs, cancellation, resolution."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import extra_link_url, task_instances, task_logs, xcom_value

from airflow_provider_soda.exceptions import SodaCloudScanFailedError
from airflow_provider_soda.links.scans import SodaCloudScanLink
from airflow_provider_soda.models import Scan
from airflow_provider_soda.scanning import MAX_REPORTED_CHECKS, normalise_fail_on, scan_failure
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, SodaCloudEmulator

MODES = ["worker", "deferred"]


@pytest.mark.parametrize("mode", MODES)
def test_a_passing_scan_succeeds_with_its_outcome_in_xcom_link_and_log(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=0.6)
    dag_run = dag_test(f"soda_test_scan_{mode}", logical_date=datetime.now(UTC))
    logs = task_logs(capsys)

    assert dag_run.state == "success", logs
    result = xcom_value(dag_run, "scan")
    scan_id = result["scan_id"]
    assert result["state"] == "completed"
    assert (result["failures"], result["warnings"], result["errors"]) == (0, 0, 0)
    assert result["cloud_url"] == f"{soda_cloud_emulator.url}/scans/{scan_id}"
    assert {c["id"]: c["evaluation_status"] for c in result["checks"]} == {
        "chk-orders-row-count": "pass",
        "chk-orders-duplicates": "pass",
        "chk-orders-freshness": "pass",
    }
    assert xcom_value(dag_run, "scan", key="soda_cloud_scan_id") == scan_id
    assert extra_link_url(dag_run, "scan", SodaCloudScanLink()) == result["cloud_url"]
    (started,) = soda_cloud_emulator.requests_to("trigger_scan")
    assert started.body["scanDefinition"] == ["orders_daily"]
    assert started.body["dataTimestamp"][0].endswith("+00:00")  # "{{ data_interval_end }}", aware
    # the last 4 lines of the scan's log, at Soda's levels, after a note that the others were cut
    assert "The scan's log has 9 lines; the first 5 are left out here" in logs
    assert "[soda" in logs
    assert "Check chk-orders-freshness: pass" in logs
    assert "Scan ended: completed" in logs
    statuses = soda_cloud_emulator.requests_to("get_scan")
    assert statuses  # the scan was polled: all() over nothing would pass
    assert all(r.status == 200 for r in statuses)


@pytest.mark.parametrize("mode", MODES)
def test_failed_checks_fail_the_task_naming_the_counts_and_link(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    soda_cloud_emulator.scans.next_outcome(
        "orders_daily", "completedWithFailures", check_results={"chk-orders-freshness": "pass"}, duration=0.4
    )
    dag_run = dag_test(f"soda_test_scan_{mode}", logical_date=datetime.now(UTC))
    logs = task_logs(capsys)

    assert dag_run.state == "failed"
    assert "ended completedWithFailures with 2 failures, 0 warnings, 0 errors" in logs
    assert f"{soda_cloud_emulator.url}/scans/" in logs
    outcome = xcom_value(dag_run, "scan", key="soda_cloud_scan")
    assert outcome["failures"] == 2
    assert xcom_value(dag_run, "scan") is None  # no return value on failure


def test_warnings_fail_only_when_fail_on_names_them(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completedWithWarnings", duration=0.3)
    assert dag_test("soda_test_scan_fail_on_warnings").state == "failed"
    assert (
        dag_test("soda_test_scan_worker", logical_date=datetime.now(UTC)).state == "success"
    )  # default fail_on


def test_an_unknown_scan_definition_fails_at_once_without_retries(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    dag_run = dag_test("soda_test_scan_unknown")
    logs = task_logs(capsys)
    assert dag_run.state == "failed"
    assert task_instances(dag_run)["scan"].try_number == 1  # retries=2, none used
    assert "smaller text under the scan's label on the Scans page" in logs
    assert len(soda_cloud_emulator.requests_to("trigger_scan")) == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_scan_still_running_at_the_timeout_is_cancelled(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=60)
    dag_run = dag_test(f"soda_test_scan_timeout_{mode}")
    logs = task_logs(capsys)

    assert dag_run.state == "failed"
    (cancel,) = soda_cloud_emulator.requests_to("cancel_scan")
    assert cancel.status == 200
    scan_id = cancel.scan_id
    assert (
        f"Cancelled Soda Cloud scan {scan_id} because it was still running after the task's timeout" in logs
    )
    assert soda_cloud_emulator.scans.scan(str(scan_id))["state"] in ("cancelationRequested", "canceled")


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferred"])
def test_the_sensor_waits_for_a_scan_started_elsewhere(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, mode: str
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=0.8)
    dag_run = dag_test(f"soda_test_scan_sensor_{mode}")

    assert dag_run.state == "success"
    started = xcom_value(dag_run, "start")
    assert started["state"] in ("queuing", "executing")
    waited = xcom_value(dag_run, "wait")
    assert waited["scan_id"] == started["scan_id"]
    assert waited["state"] == "completed"
    assert soda_cloud_emulator.requests_to("cancel_scan") == []  # a sensor never cancels
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "resolved"  # resolve_incidents=True


@pytest.mark.parametrize("mode", MODES)
def test_verified_resolution_resolves_only_what_passes_again(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    soda_cloud_emulator.scans.next_outcome(
        "orders_daily",
        "completedWithFailures",
        check_results={
            "chk-orders-duplicates": "fail",
            "chk-orders-row-count": "pass",
            "chk-orders-freshness": "pass",
        },
        duration=0.4,
    )
    dag_run = dag_test(f"soda_test_scan_resolve_{mode}")
    logs = task_logs(capsys)

    assert dag_run.state == "success", logs  # fail_on=[]: a completed scan passes the task
    demo = soda_cloud_emulator.incident(DEMO_INCIDENT_ID)
    scan_id = xcom_value(dag_run, "scan")["scan_id"]
    assert demo["status"] == "resolved"
    assert f"Verified by Soda Cloud scan {scan_id} of orders_daily" in demo["resolutionNotes"]
    assert f"soda_test_scan_resolve_{mode}" in demo["resolutionNotes"]
    assert soda_cloud_emulator.incident("inc-orders-dup")["status"] == "investigating"  # its check fails
    assert "Incident #6 " in logs
    assert "stays as it is: check 'No duplicate order ids' is fail in this scan" in logs
    updates = soda_cloud_emulator.requests_to("update_incident")
    assert [r.incident_id for r in updates] == [DEMO_INCIDENT_ID]  # inc-orders-late was resolved: no request
    outcomes = {o["incident_id"]: o for o in xcom_value(dag_run, "scan")["incidents"]}
    assert outcomes[DEMO_INCIDENT_ID]["ok"]
    assert outcomes[DEMO_INCIDENT_ID]["skipped"] is False
    assert outcomes["inc-orders-late"]["skipped"] is True


def test_a_dry_run_resolves_nothing(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=0.3)
    dag_run = dag_test("soda_test_scan_dry_run")
    logs = task_logs(capsys)
    assert dag_run.state == "success"
    assert soda_cloud_emulator.requests_to("update_incident") == []
    assert "Dry run: would update incident #1" in logs
    outcomes = {o["incident_id"]: o for o in xcom_value(dag_run, "scan")["incidents"]}
    assert outcomes[DEMO_INCIDENT_ID]["changes"]["status"] == ["reported", "resolved"]


def _scan(state: str, failures: int = 0, warnings: int = 0, errors: int = 0) -> Scan:
    return Scan.model_validate(
        {
            "id": "s",
            "state": state,
            "failures": failures,
            "warnings": warnings,
            "errors": errors,
            "cloudUrl": "u",
        }
    )


@pytest.mark.parametrize(
    ("scan", "fail_on", "fails"),
    [
        (_scan("completed"), ("failures", "errors"), False),
        (_scan("completedWithWarnings", warnings=1), ("failures", "errors"), False),
        (_scan("completedWithWarnings", warnings=1), ("warnings",), True),
        (_scan("completedWithFailures", failures=2), ("failures", "errors"), True),
        (_scan("completedWithFailures", failures=2), (), False),
        (_scan("completedWithErrors", errors=1), ("failures", "errors"), True),
        (_scan("completedWithErrors", errors=1), ("failures",), False),
        (_scan("failed"), (), True),
        (_scan("timedOut"), (), True),
        (_scan("canceled"), (), True),
    ],
)
def test_the_outcome_table(scan: Scan, fail_on: tuple[str, ...], fails: bool) -> None:
    error = scan_failure(scan, fail_on)
    assert (error is not None) == fails
    if error is not None:
        assert isinstance(error, SodaCloudScanFailedError)
        assert error.retryable  # an ordinary failure: the task's retries run the scan again
        assert "u" in str(error)


@pytest.mark.parametrize(
    ("state", "counts", "fail_on", "message"),
    [
        ("failed", {}, (), "Soda Cloud scan s1 of 'orders_daily' ended failed: it did not start or did not "
         "complete. Its checks did not all run. https://soda/s1"),
        ("timedOut", {}, (), "Soda Cloud scan s1 of 'orders_daily' ended timedOut: the Soda Agent or Runner "
         "stopped it at its time limit. Its checks did not all run. https://soda/s1"),
        ("canceled", {}, (), "Soda Cloud scan s1 of 'orders_daily' ended canceled: someone or something "
         "cancelled it. Its checks did not all run. https://soda/s1"),
        ("completedWithFailures", {"failures": 2, "errors": 1}, ("failures", "errors"),
         "Soda Cloud scan s1 of 'orders_daily' ended completedWithFailures with 2 failures, 0 warnings, 1 error; "
         "fail_on=['failures', 'errors'] fails the task on failures, errors. https://soda/s1"),
    ],
)  # fmt: skip
def test_each_failure_says_what_happened_and_where(
    state: str, counts: dict[str, int], fail_on: tuple[str, ...], message: str
) -> None:
    scan = Scan.model_validate(
        {
            "id": "s1",
            "state": state,
            "scanDefinition": {"name": "orders_daily"},
            "cloudUrl": "https://soda/s1",
            **counts,
        }
    )

    error = scan_failure(scan, fail_on)

    assert error is not None
    assert str(error) == message
    assert error.scan == scan.to_xcom(max_checks=MAX_REPORTED_CHECKS)  # the outcome travels with it


@pytest.mark.parametrize(("state", "fail_on"), [("failed", ()), ("completedWithFailures", ("failures",))])
def test_a_failure_carries_at_most_100_checks(state: str, fail_on: tuple[str, ...]) -> None:
    checks = [{"id": f"c{n}", "evaluationStatus": "fail"} for n in range(120)]
    scan = Scan.model_validate({"id": "s3", "state": state, "failures": 120, "checks": checks})

    error = scan_failure(scan, fail_on)

    assert error is not None
    assert len(error.scan["checks"]) == MAX_REPORTED_CHECKS
    assert error.scan["checks_total"] == 120


def test_a_failure_without_a_definition_name_or_link_says_so() -> None:
    error = scan_failure(Scan.model_validate({"id": "s2", "state": "failed"}), ())

    assert error is not None
    assert str(error) == (
        "Soda Cloud scan s2 ended failed: it did not start or did not complete. Its checks did not all run. "
        "(no link returned)"
    )


def test_fail_on_is_checked_when_the_dag_is_parsed() -> None:
    assert normalise_fail_on("Warnings") == ("warnings",)
    assert normalise_fail_on([]) == ()
    with pytest.raises(ValueError, match="allowed: warnings, failures, errors"):
        normalise_fail_on(["failure"])


def test_the_fix_verify_resolve_example(dag_test: Any, soda_cloud_emulator: SodaCloudEmulator) -> None:
    """The example's story: a failed load, a fix Soda does not confirm, then one it does."""
    dag_id = "example_soda_fix_verify_resolve"
    assert dag_test(dag_id, conf={"fail_pipeline": True}).state == "failed"
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "investigating"  # the notifier
    assert soda_cloud_emulator.requests_to("trigger_scan") == []

    still = {"chk-orders-row-count": "fail", "chk-orders-duplicates": "pass", "chk-orders-freshness": "pass"}
    soda_cloud_emulator.scans.next_outcome(
        "orders_daily", "completedWithFailures", check_results=still, duration=0.3
    )
    assert dag_test(dag_id).state == "failed"
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "investigating"
    assert soda_cloud_emulator.incident("inc-orders-dup")["status"] == "resolved"  # its own check passed

    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=0.3)
    dag_run = dag_test(dag_id)
    assert dag_run.state == "success"
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "resolved"
    assert dag_run.run_id in soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["resolutionNotes"]


@pytest.mark.parametrize(
    ("rendered", "sent"),
    [("None", None), ("", None), ("  ", None), ("2026-11-30T06:00:00+00:00", "2026-11-30T06:00:00+00:00")],
)
def test_a_data_timestamp_that_rendered_empty_dates_the_scan_now(rendered: str, sent: str | None) -> None:
    """``"{{ data_interval_end }}"`` renders "None" for a run without a data interval (Airflow 3)."""
    from airflow_provider_soda.operators.scans import SodaCloudScanOperator

    operator = SodaCloudScanOperator(task_id="scan", scan_definition="orders_daily", data_timestamp=rendered)
    assert operator._data_timestamp() == sent


def test_the_scan_sensor_example_waits_for_the_scan_it_was_given(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completedWithWarnings", duration=0.8)
    dag_run = dag_test("example_soda_scan_sensor")

    assert dag_run.state == "success"
    started, waited = xcom_value(dag_run, "start_scan"), xcom_value(dag_run, "wait_for_scan")
    assert waited["scan_id"] == started["scan_id"]
    assert waited["state"] == "completedWithWarnings"  # warnings do not fail by default
    assert soda_cloud_emulator.requests_to("cancel_scan") == []
    # The example pokes every 30 s, but Soda asked for the next poll a second later
    # (X-Soda-Next-Poll-Time): the deferred sensor's first poll in the triggerer honours that
    # (it waited the whole poke_interval before: 30 s between the poke and the trigger's poll).
    polls = [r.at for r in soda_cloud_emulator.requests_to("get_scan")]
    assert max(b - a for a, b in itertools.pairwise(polls)) < 15
