"""How the callers use the shared schedule: notifier budgets, booked slots, small deferrals."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from conftest import StandInTI, first_event

from airflow_provider_soda.endpoints import UPDATE_INCIDENT, RateLimit
from airflow_provider_soda.exceptions import SodaCloudQueueTimeoutError
from airflow_provider_soda.hooks.retry import RetryLimits
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
from airflow_provider_soda.notifications.incidents import SodaCloudIncidentNotifier, notifier_budget
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, SodaCloudEmulator

LIMIT = RateLimit(2, 30.0)


@pytest.fixture
def slow(soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch) -> SodaCloudEmulator:
    """2 updates per 30 s, at the emulator and in the connection."""
    soda_cloud_emulator.rate_limits["update_incident"] = LIMIT
    extra = {"rate_limits": {"update_incident": {"requests": LIMIT.requests, "period": LIMIT.period}}}
    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", soda_cloud_emulator.airflow_connection(**extra))
    return soda_cloud_emulator


def test_budgets_follow_where_the_notifier_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    assert notifier_budget(dag_level=False).max_queue_wait == 900
    monkeypatch.setenv("AIRFLOW__SODA_CLOUD__NOTIFIER_TIMEOUT", "1800")
    assert notifier_budget(dag_level=False).max_queue_wait == 1800
    assert notifier_budget(dag_level=True).max_queue_wait == pytest.approx(50 / 3)
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT", "30")
    dag_level = notifier_budget(dag_level=True)
    assert (dag_level.max_queue_wait, dag_level.max_wait, dag_level.max_transient_retries) == (10, 10, 1)


def test_a_queue_longer_than_the_budget_is_refused_before_sending(slow: SodaCloudEmulator) -> None:
    hook = SodaCloudHook()
    for _ in range(4):  # other processes' requests, queued first: the next slot is two windows away
        hook.reserve_slot()
    with pytest.raises(SodaCloudQueueTimeoutError, match="4 Soda Cloud requests") as excinfo:
        SodaCloudHook(retry_limits=RetryLimits(max_queue_wait=5)).update_incident(
            DEMO_INCIDENT_ID, status="fixing"
        )
    assert excinfo.value.position == 4
    assert excinfo.value.retry_after > LIMIT.period
    assert excinfo.value.retryable
    assert slow.requests == []  # nothing was sent


def test_a_notifier_that_cannot_deliver_in_its_budget_says_so(
    slow: SodaCloudEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AIRFLOW__SODA_CLOUD__NOTIFIER_TIMEOUT", "2")
    hook = SodaCloudHook()
    for _ in range(4):
        hook.reserve_slot()
    ti = StandInTI(task_id="load", state="failed")
    context: Any = {"ti": ti, "exception": RuntimeError("boom"), "run_id": "r1", "dag": None}
    with caplog.at_level(logging.ERROR):
        SodaCloudIncidentNotifier(incident_id=DEMO_INCIDENT_ID).notify(context)  # never raises
    # Airflow's structlog setup prints task logs; plain logging (older setups) goes to caplog.
    message = capsys.readouterr().out + "".join(r.getMessage() for r in caplog.records)
    assert "error" in message.lower()
    assert DEMO_INCIDENT_ID in message
    assert "NOT delivered: 4 requests were queued ahead" in message
    assert "budget of 2 s" in message
    assert slow.requests == []


def test_deferrable_operator_books_its_slot_and_resumes_in_it(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window is full: the operator books the next slot, defers until then, and its resume
    claims exactly that booking, ahead of a later booking by someone else, without deferring again."""
    from airflow.providers.common.compat.sdk import TaskDeferred

    from airflow_provider_soda.operators.incidents import UpdateIncidentOperator
    from airflow_provider_soda.pacing import Ticket

    limit = RateLimit(2, 3.0)
    soda_cloud_emulator.rate_limits["update_incident"] = limit
    extra = {"rate_limits": {"update_incident": {"requests": limit.requests, "period": limit.period}}}
    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", soda_cloud_emulator.airflow_connection(**extra))
    hook = SodaCloudHook()
    hook.update_incident(DEMO_INCIDENT_ID, status="fixing")
    hook.update_incident(DEMO_INCIDENT_ID, status="fixing")  # the window is now full
    operator = UpdateIncidentOperator(
        task_id="t", incident_id=DEMO_INCIDENT_ID, status="resolved", deferrable=True, defer_after_seconds=0.5
    )
    context: Any = {"ti": StandInTI()}
    with pytest.raises(TaskDeferred) as excinfo:
        operator.execute(context)
    trigger = excinfo.value.trigger
    progress = trigger.progress  # type: ignore[attr-defined]
    assert limit.period - 1 < trigger.delay <= limit.period + 1  # type: ignore[attr-defined]
    assert excinfo.value.timeout is not None
    assert set(progress) == {"token", "deferrals", "position"}
    late = hook.reserve_slot()  # someone else queues after the deferral, in the same next window
    assert late.position == 1  # the deferred task's slot is ahead of it

    event = asyncio.run(first_event(trigger))  # the trigger's wait, until the booked slot
    # Booking again on resume would queue behind `late`, a window later: a second deferral.
    incident = getattr(operator, excinfo.value.method_name)(context, event)

    assert incident["status"] == "resolved"
    assert [r.status for r in soda_cloud_emulator.requests_to("update_incident")] == [200, 200, 200]
    assert hook._pacer(UPDATE_INCIDENT).apply("claim", [late.token, 5, 5]) >= 0  # still queued, not lost
    hook.cancel_slot(Ticket(late.token, 0, 0))


def test_bulk_deferrals_carry_no_growing_payload(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """60 incidents at 6 per 0.6 s: every deferral's progress stays the same small size.

    The window must be what holds the run back, or nothing defers: 6 requests take well under
    0.6 s even on a machine busy with parallel test workers (at 25 per 0.5 s, a run under such
    load sent all of its incidents without a wait; a growing payload would show within 60: each
    outcome carried along adds about 100 bytes).
    """
    from storm import run_deferrable

    from airflow_provider_soda.operators.incidents import UpdateIncidentsOperator

    limit = RateLimit(6, 0.6)
    soda_cloud_emulator.rate_limits["update_incident"] = limit
    ids = [f"bulk-{n:03d}" for n in range(60)]
    for incident_id in ids:
        soda_cloud_emulator.add_incident({"id": incident_id})
    extra = {"rate_limits": {"update_incident": {"requests": limit.requests, "period": limit.period}}}
    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", soda_cloud_emulator.airflow_connection(**extra))
    operator = UpdateIncidentsOperator(
        task_id="bulk", incident_ids=ids, status="resolved", deferrable=True, defer_after_seconds=0.05
    )
    sizes: list[int] = []

    def measure(deferred: Any) -> None:
        sizes.append(len(json.dumps(deferred.trigger.serialize()[1], default=str)))

    results, _ = run_deferrable(operator, on_defer=measure)
    assert len(sizes) >= 5  # it did defer between windows
    assert max(sizes) < 400  # bytes, the same at the 1st and the last deferral
    assert [r["incident_id"] for r in results] == ids  # every outcome, in order, from the XCom segments
    assert all(r["ok"] for r in results)
    assert [r.incident_id for r in soda_cloud_emulator.requests_to("update_incident")] == ids
    assert all(r.status == 200 for r in soda_cloud_emulator.requests_to("update_incident"))
