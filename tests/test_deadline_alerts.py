"""The notifier as a deadline alert's callback: awaited in the triggerer, never blocking it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_soda.notifications.incidents import SodaCloudIncidentNotifier
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, Fault, SodaCloudEmulator

PATH = "airflow_provider_soda.notifications.incidents.SodaCloudIncidentNotifier"
# What Airflow's scheduler puts in a missed deadline's callback context (models/deadline.py).
CONTEXT: dict[str, Any] = {
    "dag_run": {"dag_id": "nightly", "dag_run_id": "scheduled__2026-11-29", "state": "running"},
    "deadline": {"id": "d-1", "deadline_time": "2026-11-29T01:30:00+00:00"},
}

try:
    from airflow.sdk import DeadlineAlert
except ImportError:  # Airflow 2 has no airflow.sdk, 3.0 no deadline alerts
    DeadlineAlert = None
needs_deadlines = pytest.mark.skipif(DeadlineAlert is None, reason="deadline alerts need Airflow 3.1+")


@needs_deadlines
def test_the_triggerers_callback_trigger_runs_the_notifier(soda_cloud_emulator: SodaCloudEmulator) -> None:
    from airflow.triggers.callback import CallbackTrigger

    trigger = CallbackTrigger(
        callback_path=PATH,
        callback_kwargs={"incident_id": DEMO_INCIDENT_ID, "describe_failure": True, "context": dict(CONTEXT)},
    )

    async def run() -> list[Any]:
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(run())
    assert [e["state"] for e in events] == ["running", "success"], events
    incident = soda_cloud_emulator.incident(DEMO_INCIDENT_ID)
    assert incident["status"] == "investigating"
    assert "DAG nightly, run scheduled__2026-11-29 missed its deadline" in incident["description"]


@needs_deadlines  # older releases never await a notifier (nor build one with a context)
def test_awaiting_the_notifier_does_not_block_the_event_loop(soda_cloud_emulator: SodaCloudEmulator) -> None:
    soda_cloud_emulator.inject(Fault(delay=0.5))  # a slow Soda Cloud

    async def run() -> int:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        await SodaCloudIncidentNotifier(incident_id=DEMO_INCIDENT_ID, context=dict(CONTEXT))
        done.set()
        await ticking
        return ticks

    started = time.monotonic()
    ticks = asyncio.run(run())
    assert time.monotonic() - started >= 0.5
    assert ticks >= 20  # the loop kept running while the request waited (a blocking call: 1 tick)
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "investigating"


@needs_deadlines
def test_the_example_dag_has_a_deadline_alert_with_the_notifier(airflow_db: None) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag()
    assert not bag.import_errors
    dag = bag.get_dag("example_soda_incident_deadline")
    assert dag is not None
    (alert,) = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert alert.callback.path == PATH
    assert alert.callback.kwargs["incident_id"] == DEMO_INCIDENT_ID
