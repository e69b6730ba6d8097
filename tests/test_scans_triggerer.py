"""Scans in a real Airflow (``airflow standalone``): deferred scans that end, outlive their timeout, or
whose task a user clears (cancelled by the trigger's on_kill on Airflow 3.3+), and a scan whose
task is cleared while it waits in the worker (cancelled by the operator's on_kill)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_event_driven import _trigger, airflow_services, api_server_up, runs, task_state, wait_for

from airflow_provider_soda.testing import SodaCloudEmulator
from airflow_provider_soda.testing.emulator_scans import ScanDefinition
from airflow_provider_soda.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_3_PLUS

pytestmark = pytest.mark.standalone

__all__ = ["airflow_services"]  # the fixture, imported for the tests below

STANDALONE_DAG_FILES = ["tests/standalone_dags/soda_scans_in_triggerer.py"]
ORDERS = "warehouse/analytics/public/orders"


def clear_task(env: dict[str, str], dag_id: str, task_id: str) -> None:
    """Clear a task as a user does, with the CLI."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "tasks", "clear", dag_id, "-t", task_id, "-y"],
        env=env,
        check=True,
        capture_output=True,
    )


def task_log(db: Path, dag_id: str, task_id: str, attempt: int, *, of_trigger: bool = False) -> str:
    """What one try of a task (or, with ``of_trigger``, its trigger in the triggerer) wrote to its log."""
    name = f"attempt={attempt}.log" + (".trigger.*.log" if of_trigger else "")
    files = sorted((db.parent / "logs" / f"dag_id={dag_id}").glob(f"run_id=*/task_id={task_id}/{name}"))
    return "".join(f.read_text(errors="replace") for f in files)


def trigger_ended(db: Path, dag_id: str, task_id: str, attempt: int) -> bool:
    """Whether the triggerer has logged the end of the trigger of one try of a task: in that try's
    trigger log on Airflow 3, in its own output (``standalone.log``) on Airflow 2."""
    if AIRFLOW_V_3_0_PLUS:
        return "trigger completed" in task_log(db, dag_id, task_id, attempt, of_trigger=True)
    ended = re.compile(
        rf"trigger {re.escape(dag_id)}/[^/ ]+/{re.escape(task_id)}/-?\d+/{attempt} \(ID \d+\) completed"
    )
    return bool(ended.search((db.parents[1] / "standalone.log").read_text(errors="replace")))


def scan_states(emulator: SodaCloudEmulator) -> dict[str, str]:
    return {scan_id: emulator.scans.scan(scan_id)["state"] for scan_id in list(emulator.scans.runs)}


def scans_of(emulator: SodaCloudEmulator, definition: str) -> list[str]:
    return [i for i, run in list(emulator.scans.runs.items()) if run.definition.name == definition]


def test_deferred_scans_end_in_a_real_triggerer(
    airflow_services: Path, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    log = airflow_services.parents[1] / "standalone.log"
    env = json.loads((airflow_services.parents[1] / "env.json").read_text())
    emulator = soda_cloud_emulator
    # Long enough that the deferral is settled before the trigger fires: a trigger that fires
    # within a second or two of the deferral races the LocalExecutor on a loaded machine
    # (Airflow marks the task failed: "task-state-changed-externally").
    emulator.scans.next_outcome("customers_daily", "completedWithWarnings", duration=20)
    emulator.scans.next_outcome("orders_daily", "completed", duration=300)
    emulator.scans.next_outcome("payments_daily", "completed", duration=300)
    emulator.scans.next_outcome("inventory_hourly", "completed", duration=300)
    emulator.scans.add_definition(ScanDefinition("shipments_daily", [], duration=600))
    emulator.contracts.next_outcome(ORDERS, "completedWithWarnings", duration=20)

    wait_for("the API server", lambda: api_server_up(env), 240, log)
    wait_for("the DAGs to be parsed", lambda: _trigger(env, "soda_scan_in_triggerer"), 240, log)
    assert _trigger(env, "soda_scan_cleared_in_triggerer")
    assert _trigger(env, "soda_scan_timeout_in_triggerer")
    assert _trigger(env, "soda_contract_in_triggerer")
    assert _trigger(env, "soda_sensor_cleared_in_triggerer")
    if AIRFLOW_V_3_3_PLUS:
        # The worker scenario (4.) runs beside the others where make test runs (the newest Airflow),
        # which shortens the suite. Older lines keep it last: Airflow 2's standalone runs one task
        # at a time, and a loaded 3.0 scheduler started a task twice ("running elsewhere").
        assert _trigger(env, "soda_scan_cleared_in_worker")

    # 1. A scan that ends: the task resumes from the triggerer and succeeds (warnings do not fail).
    done = wait_for(
        "the completed scan's task",
        lambda: [r for r in runs(airflow_services, "soda_scan_in_triggerer", "scan") if r[1] == "success"],
        180,
        log,
    )
    assert done[0][2]["state"] == "completedWithWarnings"

    # 2. The trigger's own timeout: the resumed task cancels the scan and fails.
    wait_for(
        "the timed-out task to fail",
        lambda: task_state(airflow_services, "soda_scan_timeout_in_triggerer", "scan") == "failed",
        180,
        log,
    )
    (timed_out,) = scans_of(emulator, "payments_daily")
    assert scan_states(emulator)[timed_out] in ("cancelationRequested", "canceled")

    # 3. A user clears the deferred task: on Airflow 3.3+ the triggerer calls on_kill, which cancels.
    wait_for(
        "the scan task to defer",
        lambda: task_state(airflow_services, "soda_scan_cleared_in_triggerer", "scan") == "deferred",
        120,
        log,
    )
    (first,) = scans_of(emulator, "orders_daily")
    clear_task(env, "soda_scan_cleared_in_triggerer", "scan")
    if AIRFLOW_V_3_3_PLUS:
        wait_for(
            "the cleared task's scan to be cancelled",
            lambda: scan_states(emulator)[first] != "executing",
            120,
            log,
        )
        assert scan_states(emulator)[first] in ("cancelationRequested", "canceled")
        cancels = [r for r in emulator.requests_to("cancel_scan") if r.scan_id == first]
        assert [r.status for r in cancels] == [200]
    else:
        # Before Airflow 3.3 a trigger is not told that a user cleared its task: the scan runs on,
        # as the README's cancellation table says, and the task's new try starts another.
        wait_for(
            "the cleared task to run again", lambda: len(scans_of(emulator, "orders_daily")) > 1, 120, log
        )
        assert [r for r in emulator.requests_to("cancel_scan") if r.scan_id == first] == []
        assert scan_states(emulator)[first] == "executing"

    # 5. Soda v4: a contract verification deferred in the triggerer ends, and the task succeeds.
    verified = wait_for(
        "the contract verification's task",
        lambda: [
            r for r in runs(airflow_services, "soda_contract_in_triggerer", "verify") if r[1] == "success"
        ],
        180,
        log,
    )
    assert (verified[0][2]["state"], verified[0][2]["dataset"]) == ("completedWithWarnings", ORDERS)

    # 6. A user clears a deferred sensor: it did not start the scan, so nothing cancels it, even
    # where the triggerer calls the trigger's on_kill (3.3+).
    wait_for(
        "the sensor to defer",
        lambda: task_state(airflow_services, "soda_sensor_cleared_in_triggerer", "wait") == "deferred",
        120,
        log,
    )
    (watched,) = scans_of(emulator, "shipments_daily")
    clear_task(env, "soda_sensor_cleared_in_triggerer", "wait")
    wait_for(
        "the cleared sensor to defer again",
        lambda: task_state(airflow_services, "soda_sensor_cleared_in_triggerer", "wait") == "deferred",
        120,
        log,
    )
    # The triggerer logs that it is done with the first try's trigger once it has torn it down,
    # after on_kill on 3.3+ (where the sensor's trigger says it leaves the scan alone).
    wait_for(
        "the cleared sensor's trigger to end",
        lambda: trigger_ended(airflow_services, "soda_sensor_cleared_in_triggerer", "wait", 1),
        120,
        log,
    )
    if AIRFLOW_V_3_3_PLUS:
        first_try = task_log(airflow_services, "soda_sensor_cleared_in_triggerer", "wait", 1, of_trigger=True)
        assert f"Soda Cloud scan {watched} goes on (this task did not start it)" in first_try
    assert [r for r in emulator.requests_to("cancel_scan") if r.scan_id == watched] == []
    assert scan_states(emulator)[watched] == "executing"

    # 4. A user clears the task while it waits in the worker: Airflow stops it, on_kill cancels.
    # Before Airflow 3.3 it starts only now (see above).
    if not AIRFLOW_V_3_3_PLUS:
        assert _trigger(env, "soda_scan_cleared_in_worker")
    wait_for("the worker's scan to start", lambda: scans_of(emulator, "inventory_hourly"), 120, log)
    (in_worker, *_) = scans_of(emulator, "inventory_hourly")
    wait_for(
        "the worker task to run",
        lambda: task_state(airflow_services, "soda_scan_cleared_in_worker", "scan") == "running",
        60,
        log,
    )
    clear_task(env, "soda_scan_cleared_in_worker", "scan")
    if AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS:
        # Airflow 3.0's task runner never calls on_kill (3.1 does again): the scan runs on, as the
        # README's cancellation table says.
        wait_for(
            "the cleared worker task to leave the running state",
            lambda: task_state(airflow_services, "soda_scan_cleared_in_worker", "scan") != "running",
            120,
            log,
        )
        # The supervisor logs "Task killed!" once the task's process has exited: nothing of the
        # task can cancel after that.
        wait_for(
            "the cleared worker task's process to exit",
            lambda: "Task killed!" in task_log(airflow_services, "soda_scan_cleared_in_worker", "scan", 1),
            120,
            log,
        )
        assert [r for r in emulator.requests_to("cancel_scan") if r.scan_id == in_worker] == []
        assert scan_states(emulator)[in_worker] == "executing"
        return
    wait_for(
        "the killed task's scan to be cancelled",
        lambda: scan_states(emulator)[in_worker] != "executing",
        120,
        log,
    )
    assert scan_states(emulator)[in_worker] in ("cancelationRequested", "canceled")
