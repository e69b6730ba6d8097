"""The notifier's choice of status and text, for each context a callback can get.

Under dag.test() a failure's context always holds the exception (Airflow 3.3), so the state of the
task instance decides nothing there. Callbacks Airflow runs for a task it found dead (heartbeat
timeout, killed worker) come without one: these contexts are built here, the update goes to the
emulator over HTTP.
"""

from __future__ import annotations

from enum import Enum
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import StandInTI

from airflow_provider_soda.notifications.incidents import SodaCloudIncidentNotifier
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, SodaCloudEmulator


def task_context(state: str, **extra: Any) -> dict[str, Any]:
    ti = StandInTI(task_id="load", try_number=2, state=state)
    dag_run = SimpleNamespace(dag_id="pipeline", run_id="manual__1", state="running")
    return {"ti": ti, "dag_run": dag_run, "run_id": "manual__1", **extra}


def sent(emulator: SodaCloudEmulator) -> dict[str, Any]:
    (entry,) = emulator.history(DEMO_INCIDENT_ID)
    return dict(entry["changes"])


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("up_for_retry", "investigating"),
        ("failed", "investigating"),
        ("upstream_failed", "investigating"),
        ("success", "resolved"),
    ],
)
def test_without_an_exception_the_task_state_decides(
    soda_cloud_emulator: SodaCloudEmulator, state: str, expected: str
) -> None:
    SodaCloudIncidentNotifier(incident_id=DEMO_INCIDENT_ID).notify(task_context(state))

    assert sent(soda_cloud_emulator)["status"] == expected


def test_a_retry_without_an_exception_is_described_as_one(soda_cloud_emulator: SodaCloudEmulator) -> None:
    notifier = SodaCloudIncidentNotifier(incident_id=DEMO_INCIDENT_ID, describe_failure=True)
    notifier.notify(task_context("up_for_retry"))

    change = sent(soda_cloud_emulator)
    assert change["status"] == "investigating"
    assert (
        change["description"]
        == "Airflow: task load failed in DAG pipeline, run manual__1, try 2 (it will be retried)."
    )


@pytest.mark.parametrize(
    ("context", "status"),
    [
        (task_context("failed", exception=RuntimeError("boom")), "fixing"),
        (task_context("up_for_retry"), "fixing"),
        (task_context("success"), "investigating"),
        ({"reason": "success", "dag_run": SimpleNamespace(dag_id="pipeline", run_id="r1")}, "fixing"),
    ],
    ids=["failure", "retry", "success", "dag-level success"],
)
def test_an_explicit_status_wins_over_the_outcome(
    soda_cloud_emulator: SodaCloudEmulator, context: dict[str, Any], status: str
) -> None:
    SodaCloudIncidentNotifier(incident_id=DEMO_INCIDENT_ID, status=status).notify(context)

    change = sent(soda_cloud_emulator)
    assert change["status"] == status
    assert "resolutionNotes" not in change  # notes only go with a resolution


def test_a_failure_leaves_the_description_alone_unless_asked(soda_cloud_emulator: SodaCloudEmulator) -> None:
    SodaCloudIncidentNotifier(incident_id=DEMO_INCIDENT_ID).notify(task_context("failed"))

    assert sent(soda_cloud_emulator) == {"status": "investigating"}


@pytest.mark.parametrize("describe_failure", [True, False])
def test_an_explicit_description_wins_over_the_failure_text(
    soda_cloud_emulator: SodaCloudEmulator, describe_failure: bool
) -> None:
    notifier = SodaCloudIncidentNotifier(
        incident_id=DEMO_INCIDENT_ID,
        description="Load failed: see the runbook.",
        describe_failure=describe_failure,
    )
    notifier.notify(task_context("failed", exception=RuntimeError("boom")))

    assert sent(soda_cloud_emulator) == {
        "status": "investigating",
        "description": "Load failed: see the runbook.",
    }


def test_a_dag_level_success_resolves_with_notes_naming_the_run(
    soda_cloud_emulator: SodaCloudEmulator,
) -> None:
    context = {"reason": "success", "dag_run": SimpleNamespace(dag_id="pipeline", run_id="scheduled__2")}
    SodaCloudIncidentNotifier(incident_id=DEMO_INCIDENT_ID).notify(context)

    assert sent(soda_cloud_emulator) == {
        "status": "resolved",
        "resolutionNotes": "Airflow: DAG pipeline, run scheduled__2 succeeded.",
    }


def test_a_dag_level_failure_reason_is_a_failure(soda_cloud_emulator: SodaCloudEmulator) -> None:
    context = {"reason": "task_failure", "dag_run": SimpleNamespace(dag_id="pipeline", run_id="r3")}
    SodaCloudIncidentNotifier(incident_id=DEMO_INCIDENT_ID, describe_failure=True).notify(context)

    assert sent(soda_cloud_emulator) == {
        "status": "investigating",
        "description": "Airflow: DAG pipeline, run r3 failed (task_failure).",
    }


def test_a_long_error_is_cut_to_its_first_line_and_300_characters(
    soda_cloud_emulator: SodaCloudEmulator,
) -> None:
    error = RuntimeError("x" * 1000 + "\nsecond line")
    notifier = SodaCloudIncidentNotifier(
        incident_id=DEMO_INCIDENT_ID, describe_failure=True, include_error=True
    )
    notifier.notify(task_context("failed", exception=error))

    description = sent(soda_cloud_emulator)["description"]
    prefix = "Airflow: task load failed in DAG pipeline, run manual__1, try 2: "
    assert description == prefix + "RuntimeError: " + "x" * (300 - 3 - len("RuntimeError: ")) + "..." + "."
    assert "second line" not in description


@pytest.mark.parametrize(("length", "cut"), [(300, False), (301, True)])
def test_an_error_is_cut_only_beyond_300_characters(
    soda_cloud_emulator: SodaCloudEmulator, length: int, cut: bool
) -> None:
    text = "RuntimeError: " + "x" * (length - len("RuntimeError: "))
    notifier = SodaCloudIncidentNotifier(
        incident_id=DEMO_INCIDENT_ID, describe_failure=True, include_error=True
    )
    notifier.notify(task_context("failed", exception=RuntimeError(text.removeprefix("RuntimeError: "))))

    error = sent(soda_cloud_emulator)["description"].removeprefix(
        "Airflow: task load failed in DAG pipeline, run manual__1, try 2: "
    )
    assert error == (text[:297] + "..." if cut else text) + "."


class State(Enum):
    """A state as an enum whose str() is not its value (Airflow's own enums print their value)."""

    FAILED = "failed"
    SUCCESS = "success"


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        # An exception is a failure whatever the state says (a callback may see the TI still running).
        (task_context("running", exception=RuntimeError("boom")), "investigating"),
        # A missed deadline (a deadline alert's callback) is a failure to react to.
        (
            {
                "deadline": {"deadline_time": "2026-12-06T00:00:00Z"},
                "dag_run": {"dag_id": "p", "run_id": "r"},
            },
            "investigating",
        ),
        # No task instance: the DAG run's state decides.
        ({"dag_run": SimpleNamespace(dag_id="p", run_id="r", state="failed")}, "investigating"),
        ({"dag_run": SimpleNamespace(dag_id="p", run_id="r", state="success")}, "resolved"),
        # A task instance without a state: the DAG run's decides.
        (
            {
                "ti": StandInTI(),
                "dag_run": SimpleNamespace(dag_id="p", run_id="r", state="failed"),
            },
            "investigating",
        ),
        # States given as enums are read by their value.
        (task_context(State.FAILED), "investigating"),  # type: ignore[arg-type]
        (task_context(State.SUCCESS), "resolved"),  # type: ignore[arg-type]
        # Nothing says it failed: a success.
        ({"run_id": "r"}, "resolved"),
    ],
    ids=[
        "exception",
        "deadline",
        "run failed",
        "run succeeded",
        "ti without state",
        "enum failed",
        "enum success",
        "nothing",
    ],
)
def test_what_counts_as_a_failure(
    soda_cloud_emulator: SodaCloudEmulator, context: dict[str, Any], expected: str
) -> None:
    SodaCloudIncidentNotifier(incident_id=DEMO_INCIDENT_ID).notify(context)

    assert sent(soda_cloud_emulator)["status"] == expected
