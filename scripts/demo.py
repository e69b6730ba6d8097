"""``make demo``: run the example DAGs end to end against the offline Soda Cloud emulator.

Part 1, ``example_soda_incident_lifecycle``: run 1 makes the pipeline fail, so the incident must
move to ``investigating``; run 2 lets it succeed, so the incident must move to ``resolved`` with
resolution notes.

Part 2, ``example_soda_fix_verify_resolve`` ("fix, verify, resolve"): the load fails (the
notifier moves the incident to ``investigating``); the next load succeeds but Soda's check still
fails (the scan fails the task, the incident stays open); the fixed load's scan passes, and only
then is the incident resolved.

Part 3, ``example_soda_contract_verify``: the same story on Soda v4, where the orders table's data
contract (``example_dags/contracts/orders.yml``) is verified on a Soda Runner.

Exits non-zero if any DAG run or the incident ends in another state than expected. A run that
ends as expected shows each traceback as its last line (an expected failure reads as one line
with its message); a run that does not shows its whole output.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from airflow_provider_soda.testing.dag_test import configure_airflow_home, migrate_db, run_dag

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "example_soda_incident_lifecycle"
VERIFY_DAG_ID = "example_soda_fix_verify_resolve"
CONTRACT_DAG_ID = "example_soda_contract_verify"
ORDERS = "warehouse/analytics/public/orders"


#: The last line of a traceback: the exception and its message.
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Timeout)\b.*")


@contextlib.contextmanager
def captured_output() -> Iterator[list[str]]:
    """Capture everything written to stdout and stderr (file descriptors, so Airflow's log too)."""
    lines: list[str] = []
    with tempfile.TemporaryFile(mode="w+") as sink:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            lines.extend(sink.read().splitlines())


def without_tracebacks(lines: list[str]) -> list[str]:
    """The run's output with each traceback cut to its last line, and Python's warnings left out.

    For runs that ended as expected: an expected failure reads as one line with its message.
    """
    shown: list[str] = []
    in_traceback = False
    for line in lines:
        if line.startswith("Traceback (most recent call last):"):
            in_traceback = True
            continue
        if in_traceback:
            if line.startswith((" ", "\t")) or not line.strip():
                continue
            in_traceback = False
            if _EXCEPTION_LINE.match(line):
                shown.append(f"    (expected) {line}")
                continue
        if "DeprecationWarning" in line or line.lstrip().startswith("warnings.warn("):
            continue
        shown.append(line)
    return shown


def run_and_report(dag_id: str, conf: dict[str, Any], expected: Callable[[Any], bool]) -> Any:
    """Run the DAG; print its output, tracebacks cut short when the run ends as expected.

    ``expected`` is a function of the DAG run: whether it ended as this run should.
    """
    with captured_output() as lines:
        dag_run = run_dag(dag_id, conf=conf)
    as_expected = expected(dag_run)
    for line in lines if not as_expected else without_tracebacks(lines):
        print(line)
    sys.stdout.flush()
    return dag_run


def ends_as(emulator: Any, want_run: str, want_status: str) -> Callable[[Any], bool]:
    """Whether a DAG run ended in ``want_run`` with the demo incident in ``want_status``."""
    from airflow_provider_soda.testing import DEMO_INCIDENT_ID

    return lambda run: run.state == want_run and emulator.incident(DEMO_INCIDENT_ID)["status"] == want_status


def part_one() -> bool:
    from airflow_provider_soda.testing import DEMO_INCIDENT_ID, SodaCloudEmulator

    print(f"##### Part 1: {DAG_ID}: the pipeline's outcome drives the incident #####\n", flush=True)
    with SodaCloudEmulator() as emulator:
        os.environ["AIRFLOW_CONN_SODA_CLOUD_DEFAULT"] = emulator.airflow_connection()
        print(f"Soda Cloud emulator running at {emulator.url}", flush=True)
        before = emulator.incident(DEMO_INCIDENT_ID)
        print(f"Incident #{before['number']} {before['name']!r} starts as: {before['status']}\n", flush=True)

        runs = [
            (
                "pipeline fails",
                {"incident_id": DEMO_INCIDENT_ID, "fail_pipeline": True},
                "failed",
                "investigating",
            ),
            (
                "pipeline succeeds",
                {"incident_id": DEMO_INCIDENT_ID, "fail_pipeline": False},
                "success",
                "resolved",
            ),
        ]
        ok = True
        for label, conf, want_run, want_status in runs:
            expected = " (its failure is expected)" if want_run == "failed" else ""
            print(f"=== Run: {label}{expected} ===", flush=True)
            dag_run = run_and_report(
                DAG_ID,
                conf,
                ends_as(emulator, want_run, want_status),
            )
            status = emulator.incident(DEMO_INCIDENT_ID)["status"]
            good = dag_run.state == want_run and status == want_status
            ok &= good
            print(
                f"--> DAG run {dag_run.run_id}: {dag_run.state} (expected {want_run}); "
                f"incident status: {status} (expected {want_status}) {'OK' if good else 'MISMATCH'}\n",
                flush=True,
            )

        print("Incident transitions recorded by the emulator:")
        previous = before["status"]
        for entry in emulator.history(DEMO_INCIDENT_ID):
            details = ", ".join(f"{k}={v!r}" for k, v in entry["changes"].items() if k != "status")
            print(f"  {entry['at']}  {previous} -> {entry['status']}  ({details})")
            previous = entry["status"]
        final = emulator.incident(DEMO_INCIDENT_ID)
        print("\nFinal incident state:")
        for key in ("number", "name", "status", "severity", "description", "resolutionNotes", "cloudUrl"):
            print(f"  {key}: {final.get(key)}")
    return ok


#: One run of a "fix, verify, resolve" story: (what happens, the run's conf, how Soda's checks end
#: (state, results by check) or None when nothing is checked, the run's expected state, the
#: incident's expected status).
Step = tuple[str, dict[str, bool], "tuple[str, dict[str, str]] | None", str, str]


def fix_verify_resolve(
    title: str, dag_id: str, opened_by: str, steps: list[Step], arrange: Any, what: str
) -> bool:
    """Run a "fix, verify, resolve" story against a fresh emulator; print each run against what it expects.

    :param arrange: ``arrange(emulator, state, results)`` makes Soda's next check run end so.
    :param what: what a run of Soda's checks is called in the output ("scan", "verification").
    """
    from airflow_provider_soda.testing import DEMO_INCIDENT_ID, SodaCloudEmulator

    print(f"\n##### {title} #####\n", flush=True)
    with SodaCloudEmulator() as emulator:
        os.environ["AIRFLOW_CONN_SODA_CLOUD_DEFAULT"] = emulator.airflow_connection()
        incident = emulator.incident(DEMO_INCIDENT_ID)
        print(
            f"Incident #{incident['number']} {incident['name']!r} starts as: {incident['status']}; it was "
            f"opened by {opened_by}.\n",
            flush=True,
        )
        ok = True
        for label, conf, outcome, want_run, want_status in steps:
            expected = " (its failure is expected)" if want_run == "failed" else ""
            print(f"=== Run: {label}{expected} ===", flush=True)
            if outcome is not None:
                arrange(emulator, *outcome)
            dag_run = run_and_report(
                dag_id,
                conf,
                ends_as(emulator, want_run, want_status),
            )
            status = emulator.incident(DEMO_INCIDENT_ID)["status"]
            good = dag_run.state == want_run and status == want_status
            ok &= good
            runs = list(emulator.scans.runs)
            checked = (
                f"; {what} {runs[-1]} ended {emulator.scans.scan(runs[-1])['state']}"
                if outcome
                else f"; no {what} ran"
            )
            print(
                f"--> DAG run {dag_run.run_id}: {dag_run.state} (expected {want_run}){checked}; incident "
                f"status: {status} (expected {want_status}) {'OK' if good else 'MISMATCH'}\n",
                flush=True,
            )
        print(f"Resolution notes: {emulator.incident(DEMO_INCIDENT_ID).get('resolutionNotes')}")
    return ok


def part_two() -> bool:
    """Fix, verify, resolve: the incident is resolved only when Soda's check passes again."""
    still_failing = {
        "chk-orders-row-count": "fail",
        "chk-orders-duplicates": "pass",
        "chk-orders-freshness": "pass",
    }
    steps: list[Step] = [
        ("the load fails", {"fail_pipeline": True}, None, "failed", "investigating"),
        (
            "the load succeeds, but Soda's check still fails",
            {"fail_pipeline": False},
            ("completedWithFailures", still_failing),
            "failed",
            "investigating",
        ),
        (
            "the fixed load succeeds and Soda's check passes",
            {"fail_pipeline": False},
            ("completed", {}),
            "success",
            "resolved",
        ),
    ]
    return fix_verify_resolve(
        f"Part 2: {VERIFY_DAG_ID}: fix, verify, resolve",
        VERIFY_DAG_ID,
        "check chk-orders-row-count of scan definition orders_daily",
        steps,
        lambda emulator, state, results: emulator.scans.next_outcome(
            "orders_daily", state, check_results=results, duration=1.5
        ),
        "scan",
    )


def part_three() -> bool:
    """Fix, verify, resolve on Soda v4: the orders contract is verified on a Soda Runner."""
    still_failing = {
        "checks.row_count": "fail",
        "columns.id.checks.duplicate": "pass",
        "checks.freshness": "pass",
    }
    steps: list[Step] = [
        ("the load fails", {"fail_pipeline": True}, None, "failed", "investigating"),
        (
            "the load succeeds, but the contract's row count check still fails",
            {"fail_pipeline": False},
            ("completedWithFailures", still_failing),
            "failed",
            "investigating",
        ),
        (
            "the fixed load succeeds and the contract passes",
            {"fail_pipeline": False},
            ("completed", {}),
            "success",
            "resolved",
        ),
    ]
    return fix_verify_resolve(
        f"Part 3: {CONTRACT_DAG_ID}: fix, verify, resolve on Soda v4",
        CONTRACT_DAG_ID,
        f"check checks.row_count of the contract of {ORDERS}",
        steps,
        lambda emulator, state, results: emulator.contracts.next_outcome(
            ORDERS, state, check_results=results, duration=1.5
        ),
        "verification",
    )


def main() -> int:
    configure_airflow_home(ROOT / ".airflow" / "demo", ROOT / "example_dags")
    print("Preparing a throwaway Airflow metadata DB in .airflow/demo ...", flush=True)
    migrate_db()

    ok = part_one() & part_two() & part_three()
    print("\nDemo " + ("passed." if ok else "FAILED: see MISMATCH above."))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
