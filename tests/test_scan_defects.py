"""The scan defects of the review (issue "scans that never run twice or resolve the wrong incident").

Each test is named after what must hold; each failed before its fix. Against the emulator, in
real Airflow (dag.test) where the behaviour is a task's, and on the hook where it is a call's.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import StandInTI, task_instances, task_logs, wait_for_scan_state, xcom_value

from airflow_provider_soda.exceptions import SodaCloudPollError, SodaCloudResponseError
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
from airflow_provider_soda.models import Scan
from airflow_provider_soda.models.scans import FINAL_STATES
from airflow_provider_soda.operators.scans import SCAN_ID_XCOM_KEY, SodaCloudScanOperator
from airflow_provider_soda.scanning import MIN_POLL_DELAY, poll_delay, scan_failure
from airflow_provider_soda.sensors.scans import SodaCloudScanSensor
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, Fault, SodaCloudEmulator
from airflow_provider_soda.testing.emulator_scans import EmulatedCheck, ScanDefinition

MODES = ["worker", "deferred"]


@pytest.fixture
def hook(soda_cloud_emulator: SodaCloudEmulator) -> SodaCloudHook:
    return SodaCloudHook()


# -- 4. a start whose outcome is unknown is never started again ------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=500, endpoint="trigger_scan"),  # Soda may have created the scan, then failed
        Fault(status=201, body="", endpoint="trigger_scan"),  # accepted, without saying which scan
    ],
    ids=["5xx", "no-scan-id"],
)
def test_a_start_of_unknown_outcome_fails_without_retry(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], fault: Fault
) -> None:
    soda_cloud_emulator.inject(fault)
    dag_run = dag_test("soda_test_scan_retried_worker")
    logs = task_logs(capsys)
    assert dag_run.state == "failed"
    assert task_instances(dag_run)["scan"].try_number == 1  # retries=2, none used
    assert len(soda_cloud_emulator.requests_to("trigger_scan")) == 1
    assert "A scan may have started: look at the scan definition's runs in Soda Cloud" in logs


@pytest.mark.parametrize("mode", MODES)
def test_a_failure_after_the_scan_does_not_run_the_scan_again(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=0.4)
    soda_cloud_emulator.inject(Fault(status=503, endpoint="list_checks", times=50))
    dag_run = dag_test(f"soda_test_scan_retried_{mode}")
    logs = task_logs(capsys)
    assert dag_run.state == "failed"
    assert task_instances(dag_run)["scan"].try_number == 1
    assert len(soda_cloud_emulator.requests_to("trigger_scan")) == 1
    assert "resolving its incidents failed" in logs
    assert "a retry would run the scan again" in logs
    # 7. the outcome is in XCom although the task failed in the resolution step
    outcome = xcom_value(dag_run, "scan", key="soda_cloud_scan")
    assert outcome is not None
    assert outcome["state"] == "completed"


def test_a_max_incidents_refusal_keeps_the_scan_s_outcome_in_xcom(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.scans.add_check(
        EmulatedCheck(
            "chk-orders-extra", "Orders have customers", "ds-orders", "orders", "pass", ["inc-orders-dup"]
        )
    )
    soda_cloud_emulator.scans.add_definition(
        ScanDefinition("orders_daily", ["chk-orders-row-count", "chk-orders-extra"], duration=0.4)
    )
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=0.4)
    soda_cloud_emulator.scans.checks["chk-orders-duplicates"].incidents = []  # its incident: only -extra
    dag_run = dag_test("soda_test_scan_max_incidents")
    assert dag_run.state == "failed"  # two incidents to resolve, max_incidents=1
    assert task_instances(dag_run)["scan"].try_number == 1
    assert len(soda_cloud_emulator.requests_to("trigger_scan")) == 1
    assert xcom_value(dag_run, "scan", key="soda_cloud_scan")["state"] == "completed"
    assert soda_cloud_emulator.requests_to("update_incident") == []


def test_a_cancelled_scan_is_not_started_again_by_the_task_s_retries(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "canceled", duration=0.4)
    dag_run = dag_test("soda_test_scan_retried_worker")
    assert dag_run.state == "failed"
    assert task_instances(dag_run)["scan"].try_number == 1
    assert "a cancelled scan is not started again" in task_logs(capsys)


def test_a_scan_that_failed_its_checks_is_retried_as_documented(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completedWithFailures", duration=0.3)
    dag_run = dag_test("soda_test_scan_retried_worker")
    assert dag_run.state == "failed"
    assert len(soda_cloud_emulator.requests_to("trigger_scan")) == 3  # retries=2: the data may be fixed


# -- 5. resolution only when every linked check passes ----------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_an_incident_with_a_failing_check_outside_the_scan_stays_open(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    soda_cloud_emulator.scans.add_check(
        EmulatedCheck(
            "chk-orders-late-rows", "No late rows", "ds-orders", "orders", "fail", [DEMO_INCIDENT_ID]
        )
    )
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=0.4)
    dag_run = dag_test(f"soda_test_scan_resolve_{mode}")
    logs = task_logs(capsys)
    assert dag_run.state == "success", logs
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] != "resolved"
    assert "stays as it is: check 'No late rows' (not part of this scan) has the latest result fail" in logs
    # the other incidents of the scan's checks, with no other check failing, are resolved
    dup = soda_cloud_emulator.incident("inc-orders-dup")
    assert dup["status"] == "resolved"
    assert "every check linked to it on dataset(s)" in dup["resolutionNotes"]
    listed = {tuple(r.query.get("datasetId", [])) for r in soda_cloud_emulator.requests_to("list_checks")}
    assert ("ds-orders",) in listed  # the dataset's checks were read, not only the scan's


# -- 6. outcomes from the state and the checks, not from optional counts ----------------------------


def test_a_scan_without_counts_is_judged_by_its_state_and_checks() -> None:
    no_counts = Scan.model_validate({"id": "s1", "state": "completedWithFailures"})
    assert scan_failure(no_counts, ("failures",)) is not None
    by_checks = Scan.model_validate(
        {"id": "s2", "state": "completedWithWarnings", "checks": [{"id": "c", "evaluationStatus": "warn"}]}
    )
    assert by_checks.tally() == {"failures": 0, "warnings": 1, "errors": 0}
    assert scan_failure(by_checks, ("warnings",)) is not None
    assert scan_failure(Scan.model_validate({"id": "s3", "state": "completed"}), ("failures",)) is None


def test_the_strict_emulator_leaves_optional_fields_out(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completedWithFailures", duration=0.1)
    bodies = []
    for _ in range(8):
        scan_id = hook.trigger_scan("orders_daily")
        bodies.append(soda_cloud_emulator.scans.scan(scan_id))
    assert any("failures" not in body for body in bodies)
    assert any("failures" in body for body in bodies)


def test_every_state_of_the_contract_is_reachable(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.scans.add_definition(
        ScanDefinition("slow", ["chk-orders-freshness"], queuing=0.2, started=0.3, duration=5, time_limit=0.8)
    )
    scan_id = hook.trigger_scan("slow")
    seen = []
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        state = soda_cloud_emulator.scans.scan(scan_id)["state"]
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == "timedOut":
            break
        time.sleep(0.05)
    assert seen == ["queuing", "started", "executing", "timeOutRequested", "timedOut"]


# -- 8. Airflow's own deferral timeout cancels the scan -------------------------------------------


@pytest.mark.parametrize("error", ["Trigger timeout", "Trigger failure"])
def test_airflow_s_deferral_timeout_cancels_the_scan(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator, error: str
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=60)
    scan_id = hook.trigger_scan("orders_daily")
    operator = SodaCloudScanOperator(task_id="scan", scan_definition="orders_daily", deferrable=True)
    context: Any = {"ti": StandInTI(task_id="scan", xcom={SCAN_ID_XCOM_KEY: scan_id})}
    with pytest.raises(Exception, match=error):  # Airflow's TaskDeferralTimeout / TaskDeferralError
        operator.resume_execution("__fail__", {"error": error}, context)
    (cancel,) = soda_cloud_emulator.requests_to("cancel_scan")
    assert cancel.scan_id == scan_id


# -- 9. polls never spin ---------------------------------------------------------------------------


def test_a_hint_in_the_past_or_a_failed_poll_never_makes_a_zero_wait() -> None:
    past = Scan.model_validate({"id": "s", "state": "executing"}).model_copy(
        update={"next_poll_at": datetime.now(UTC) - timedelta(minutes=5)}
    )
    assert poll_delay(past, 10.0) == MIN_POLL_DELAY
    assert poll_delay(past, 0.2) == 0.2  # a poll_interval below the floor is kept as asked
    assert poll_delay(None, 10.0) == 10.0  # after a failed poll: the poll interval


def test_the_worker_loop_waits_between_failed_polls(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=2.5)
    operator = SodaCloudScanOperator(
        task_id="scan",
        scan_definition="orders_daily",
        poll_interval=0.5,
        hook_params={"max_transient_retries": 0},
    )
    operator.scan_id = hook.trigger_scan("orders_daily")
    soda_cloud_emulator.inject(Fault(status=503, endpoint="get_scan", times=1000))
    operator.timeout = 2.0
    with pytest.raises(Exception, match="still running after"):
        operator._wait(None, time.time() + 2.0)
    polls = soda_cloud_emulator.requests_to("get_scan")
    assert 2 <= len(polls) <= 6, len(polls)  # one per poll_interval, not dozens a second


# -- 10. a transient error on the first status read does not cancel a healthy scan -----------------


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_first_status_read_waits_instead_of_cancelling(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, mode: str
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=1.0)
    soda_cloud_emulator.inject(Fault(status=503, endpoint="get_scan", times=4))  # the hook's 3 retries too
    dag_run = dag_test(f"soda_test_scan_{mode}", logical_date=datetime.now(UTC))
    assert dag_run.state == "success"
    assert soda_cloud_emulator.requests_to("cancel_scan") == []
    assert xcom_value(dag_run, "scan")["state"] == "completed"


# -- 11. a failed sensor does not retry -------------------------------------------------------------


def test_a_sensor_whose_scan_failed_is_not_retried(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completedWithFailures", duration=0.5)
    dag_run = dag_test("soda_test_scan_sensor_retried")
    assert dag_run.state == "failed"
    assert task_instances(dag_run)["wait"].try_number == 1  # retries=2: the outcome cannot change


# -- 12, 13. cancels that have nothing to do -----------------------------------------------------


def test_cancelling_a_scan_already_being_cancelled_returns_quietly(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=30)
    scan_id = hook.trigger_scan("orders_daily")
    wait_for_scan_state(soda_cloud_emulator, scan_id, "executing")
    assert hook.cancel_scan(scan_id) is True
    assert soda_cloud_emulator.scans.scan(scan_id)["state"] == "cancelationRequested"
    assert hook.cancel_scan(scan_id) is False  # the answer was lost and the cancel sent again: no error


def test_the_operator_never_cancels_a_scan_that_ended(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=0.4)
    operator = SodaCloudScanOperator(task_id="scan", scan_definition="orders_daily", poll_interval=0.2)
    operator.scan_id = hook.trigger_scan("orders_daily")
    assert operator._wait(None, time.time() + 30).is_final
    operator.on_kill()  # Airflow kills the task while it copies the log or resolves
    assert soda_cloud_emulator.requests_to("cancel_scan") == []


# -- 14. parse-time checks ---------------------------------------------------------------------------


def test_settings_that_cannot_work_are_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="resolve_incidents=True needs wait_for_completion=True"):
        SodaCloudScanOperator(
            task_id="a", scan_definition="x", resolve_incidents=True, wait_for_completion=False
        )
    for bad in (-1, "10", 1.5, True):
        with pytest.raises(ValueError, match="log_lines"):
            SodaCloudScanOperator(task_id="b", scan_definition="x", log_lines=bad)
        with pytest.raises(ValueError, match="log_lines"):
            SodaCloudScanSensor(task_id="c", scan_id="s", log_lines=bad)


# -- 15. the log's tail from the pages that hold it ----------------------------------------------


def test_the_log_tail_reads_only_its_pages_and_keeps_what_was_read(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_soda.scanning import copy_scan_log

    soda_cloud_emulator.scans.add_definition(
        ScanDefinition("chatty", ["chk-orders-freshness"], duration=0.2, queuing=0.1, log_lines=3500)
    )
    scan_id = hook.trigger_scan("chatty")
    wait_for_scan_state(soda_cloud_emulator, scan_id, *(state.value for state in FINAL_STATES))
    scan = hook.get_scan(scan_id)
    soda_cloud_emulator.reset_log()
    total, lines = hook.scan_log_tail(scan_id, 10)
    tail = list(lines)
    assert total is not None
    assert [line.index for line in tail] == list(range(total - 10, total))
    pages = [r.query["page"] for r in soda_cloud_emulator.requests_to("scan_logs")]
    assert pages == [["0"], ["3"]]  # the first page (for the total) and the last one, not all four

    # a page that fails: what was read is still written, and a warning says the rest is in Soda Cloud
    soda_cloud_emulator.reset_log()
    total, lines = hook.scan_log_tail(scan_id, 1500)  # pages 2 and 3
    soda_cloud_emulator.inject(Fault(status=404, endpoint="scan_logs", query={"page": "3"}))
    log = logging.getLogger("test.scan.log")
    with caplog.at_level(logging.DEBUG, logger="test.scan.log"), pytest.raises(Exception, match="404"):
        copy_scan_log(log, lines, limit=1500, scan=scan, total=total)
    read = 3000 - (total - 1500)  # the part of page 2 that holds the tail
    assert f"Only {read} lines of the scan's log could be read" in caplog.text
    assert sum("[soda" in r.getMessage() for r in caplog.records) == read


# -- 16. bounded XCom -----------------------------------------------------------------------------


def test_xcom_keeps_the_counts_and_a_bounded_number_of_checks() -> None:
    checks = [{"id": f"c{n}", "evaluationStatus": "pass"} for n in range(5000)]
    checks[4000] = {"id": "c4000", "evaluationStatus": "fail"}
    scan = Scan.model_validate({"id": "s", "state": "completedWithFailures", "checks": checks})
    result = scan.to_xcom(max_checks=100)
    assert len(result["checks"]) == 100
    assert result["checks"][0] == {"id": "c4000", "evaluation_status": "fail"}
    assert (result["checks_total"], result["failures"]) == (5000, 1)


# -- 17. a paged answer to checkIds is never cut silently --------------------------------------------


def test_a_paged_answer_by_check_ids_raises_instead_of_dropping_checks(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    body = (
        '{"content": [{"id": "chk-orders-row-count", "incidents": []}], "first": true, "last": false,'
        ' "number": 0, "size": 1, "totalElements": 2, "totalPages": 2}'
    )
    soda_cloud_emulator.inject(Fault(status=200, body=body, endpoint="list_checks"))
    with pytest.raises(SodaCloudResponseError, match="last: false"):
        list(hook.list_checks(check_ids=["chk-orders-row-count", "chk-orders-duplicates"]))


# -- 18. messages that say what is true ---------------------------------------------------------------


def test_a_403_on_a_scan_endpoint_says_what_soda_documents(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    from airflow_provider_soda.exceptions import SodaCloudPermissionError

    soda_cloud_emulator.inject(Fault(status=403, endpoint="trigger_scan"))
    with pytest.raises(SodaCloudPermissionError, match="any user of the organisation may start a scan"):
        hook.trigger_scan("orders_daily")


@pytest.mark.parametrize("mode", MODES)
def test_a_check_that_fails_again_since_the_scan_is_not_called_passing(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=0.4)

    def a_later_scan_fails_it(query: dict[str, list[str]]) -> None:
        soda_cloud_emulator.scans.checks["chk-orders-row-count"].evaluation_status = "fail"

    soda_cloud_emulator.before("list_checks", a_later_scan_fails_it)
    dag_run = dag_test(f"soda_test_scan_resolve_{mode}")
    logs = task_logs(capsys)
    assert dag_run.state == "success", logs
    assert (
        "check 'Row count anomaly on orders' passed in this scan but its latest result in Soda Cloud is fail"
        in logs
    )
    assert "Still pass" not in logs
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] != "resolved"


# -- 19. smaller things -------------------------------------------------------------------------------


def test_an_event_that_says_retryable_raises_a_retryable_error() -> None:
    operator = SodaCloudScanOperator(task_id="scan", scan_definition="x")
    with pytest.raises(SodaCloudPollError) as raised:
        operator._scan_from_event({"status": "error", "message": "poll failed", "retryable": True}, "s1")
    assert raised.value.retryable


# -- found by the review of this work -------------------------------------------------------------


def test_a_failed_reread_of_a_big_scan_after_the_wait_does_not_run_the_scan_again(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [f"chk-big-{n:04d}" for n in range(150)]  # more than a trigger event carries
    for check_id in ids:
        soda_cloud_emulator.scans.add_check(EmulatedCheck(check_id, check_id, "ds-orders", "orders", "pass"))
    soda_cloud_emulator.scans.add_definition(ScanDefinition("big", ids, duration=0.4, queuing=0.1))
    soda_cloud_emulator.scans.next_outcome("big", "completed", duration=0.4)
    final_seen: list[bool] = []

    def after_the_final_poll(query: dict[str, list[str]]) -> None:
        (run,) = soda_cloud_emulator.scans.runs
        if soda_cloud_emulator.scans.scan(run)["state"] == "completed" and not final_seen:
            final_seen.append(True)  # this request is the trigger's last poll: the next ones fail
            soda_cloud_emulator.inject(Fault(status=503, endpoint="get_scan", times=10))

    soda_cloud_emulator.before("get_scan", after_the_final_poll)
    dag_run = dag_test("soda_test_scan_retried_deferred", conf={"definition": "big"})
    assert dag_run.state == "failed"
    assert task_instances(dag_run)["scan"].try_number == 1
    assert len(soda_cloud_emulator.requests_to("trigger_scan")) == 1
    assert soda_cloud_emulator.requests_to("cancel_scan") == []  # it had ended
    assert "a retry would run the scan again" in task_logs(capsys)


def test_an_unreadable_dataset_keeps_its_incidents_open_instead_of_failing(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    soda_cloud_emulator.scans.next_outcome("orders_daily", "completed", duration=0.3)
    soda_cloud_emulator.inject(
        Fault(status=403, endpoint="list_checks", query={"datasetId": "ds-orders"}, times=5)
    )
    dag_run = dag_test("soda_test_scan_resolve_worker")
    logs = task_logs(capsys)
    assert dag_run.state == "success", logs
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] != "resolved"
    assert "the other checks of its dataset ds-orders (HTTP 403) could not be read" in logs
    assert soda_cloud_emulator.requests_to("update_incident") == []


def test_the_wait_ends_before_execution_timeout_so_that_it_can_cancel() -> None:
    operator = SodaCloudScanOperator(
        task_id="scan", scan_definition="x", timeout=3600, execution_timeout=timedelta(seconds=130)
    )
    context: Any = {"ti": StandInTI(start_date=datetime.now(UTC))}
    assert operator._deadline(context) - time.time() == pytest.approx(70, abs=2)  # 130 s less the 60 s margin
    without = SodaCloudScanOperator(task_id="scan", scan_definition="x", timeout=100)
    assert without._deadline(context) - time.time() == pytest.approx(100, abs=2)


def test_only_the_operator_s_wait_cancels_on_kill() -> None:
    from airflow.providers.common.compat.sdk import TaskDeferred

    operator = SodaCloudScanOperator(task_id="scan", scan_definition="x", deferrable=True)
    operator.scan_id = "scan-1"
    with pytest.raises(TaskDeferred) as deferred:
        operator._defer(time.time() + 60, first_poll_after=1.0)
    assert deferred.value.trigger.cancel_on_kill is True
    assert deferred.value.trigger.hook_params == {}
