"""The incident triggers in one event loop, as in a triggerer: coalesced polls, a free event loop,
errors, deadlines, and the event trigger's once-per-change events."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import first_event

from airflow_provider_soda.testing import DEMO_INCIDENT_ID, Fault, SodaCloudEmulator
from airflow_provider_soda.triggers.incidents import SodaCloudIncidentEventTrigger, SodaCloudIncidentTrigger
from airflow_provider_soda.triggers.poller import IncidentPoller
from airflow_provider_soda.watching import IncidentWatch

CONN = "soda_cloud_default"


def waiting(incident_id: str, interval: float = 0.3, **kwargs: Any) -> SodaCloudIncidentTrigger:
    watch = IncidentWatch.build(incident_ids=[incident_id]).to_json()
    return SodaCloudIncidentTrigger(watch=watch, soda_cloud_conn_id=CONN, poll_interval=interval, **kwargs)


def test_many_waiting_triggers_share_one_request_per_poll() -> None:
    ids = [f"w-{n:04d}" for n in range(1200)]
    with (
        SodaCloudEmulator(incidents=[{"id": i} for i in ids]) as emulator,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", emulator.airflow_connection())

        async def scenario() -> tuple[list[dict[str, Any]], int]:
            tasks = [asyncio.create_task(first_event(waiting(i))) for i in ids]
            poller = IncidentPoller.for_connection(CONN)
            while poller.polls < 3:
                await asyncio.sleep(0.05)
            for i in ids:
                emulator._update(i, {"status": "resolved"})
            events = await asyncio.gather(*tasks)
            return events, poller.polls

        events, polls = asyncio.run(scenario())

        assert all(e["status"] == "success" for e in events)
        assert sorted(e["incidents"][0]["id"] for e in events) == ids
        lists = emulator.requests_to("list_incidents")  # the poller retired with its last trigger
        # 1,200 ids: two requests (1,000 + 200) per poll, whatever the number of triggers (a poll
        # that started while the last triggers were closing is not counted in polls)
        assert len(lists) in (2 * polls, 2 * (polls + 1))
        assert sorted(len(r.query["incidentIds"][0].split(",")) for r in lists[:2]) == [200, 1000]


def test_the_event_loop_is_never_blocked_by_a_slow_soda_cloud(soda_cloud_emulator: SodaCloudEmulator) -> None:
    soda_cloud_emulator.inject(Fault(delay=1.0, endpoint="list_incidents", times=2))

    async def scenario() -> float:
        trigger = asyncio.create_task(first_event(waiting(DEMO_INCIDENT_ID, interval=0.1)))
        worst, last = 0.0, time.monotonic()
        while len(soda_cloud_emulator.requests_to("list_incidents")) < 2:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            worst, last = max(worst, now - last), now
        soda_cloud_emulator._update(DEMO_INCIDENT_ID, {"status": "resolved"})
        await trigger
        return worst

    worst_gap = asyncio.run(scenario())
    # Two polls of one second each ran meanwhile; the loop still turned every few milliseconds.
    assert worst_gap < 0.5


def test_an_error_that_retrying_cannot_fix_ends_the_wait(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", soda_cloud_emulator.airflow_connection())
    soda_cloud_emulator.inject(Fault(status=401, endpoint="list_incidents"))
    event = asyncio.run(first_event(waiting(DEMO_INCIDENT_ID)))
    assert event["status"] == "error"
    assert "HTTP 401" in event["message"]
    assert soda_cloud_emulator.api_key_secret not in event["message"]


def test_an_outage_is_waited_out(soda_cloud_emulator: SodaCloudEmulator) -> None:
    soda_cloud_emulator._update(DEMO_INCIDENT_ID, {"status": "resolved"})
    soda_cloud_emulator.inject(Fault(status=503, endpoint="list_incidents", times=20))
    event = asyncio.run(first_event(waiting(DEMO_INCIDENT_ID, interval=0.05)))
    assert event["status"] == "success"
    assert soda_cloud_emulator.requests_to("list_incidents")[-1].status == 200


def test_a_missing_incident_and_a_deadline_end_the_wait(soda_cloud_emulator: SodaCloudEmulator) -> None:
    missing = asyncio.run(first_event(waiting("no-such-incident")))
    assert missing["status"] == "error"
    assert "no incident 'no-such-incident'" in missing["message"]

    deadline = datetime.now(UTC) + timedelta(seconds=1.5)
    timed_out = asyncio.run(first_event(waiting(DEMO_INCIDENT_ID, deadline=deadline)))
    assert timed_out["status"] == "timeout"


def test_triggers_survive_serialisation() -> None:
    trigger = waiting(DEMO_INCIDENT_ID, deadline=datetime(2030, 1, 1, tzinfo=UTC))
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_soda.triggers.incidents.SodaCloudIncidentTrigger"
    assert SodaCloudIncidentTrigger(**kwargs).serialize() == (path, kwargs)
    event = SodaCloudIncidentEventTrigger(selection={"dataset_id": "ds-orders", "severity": "critical"})
    path, kwargs = event.serialize()
    assert json.loads(kwargs["selection"]) == {"dataset_id": ["ds-orders"], "severity": ["critical"]}
    assert SodaCloudIncidentEventTrigger(**kwargs).serialize() == (path, kwargs)
    # Airflow 3.2 hands a watcher's dict kwargs back in their serialisation envelope
    enveloped = {"__type": "dict", "__var": {"dataset_id": ["ds-orders"], "severity": ["critical"]}}
    assert SodaCloudIncidentEventTrigger(selection=enveloped).serialize() == (path, kwargs)


def test_an_event_trigger_refuses_a_bad_selection_at_parse_time() -> None:
    from airflow_provider_soda.exceptions import SodaCloudValidationError

    with pytest.raises(SodaCloudValidationError, match="severity must be one of"):
        SodaCloudIncidentEventTrigger(selection={"severity": "urgent"})
    with pytest.raises(SodaCloudValidationError, match="has no filter"):
        SodaCloudIncidentEventTrigger(selection={})


def test_an_unreadable_stored_selection_does_not_take_the_triggerer_down(
    soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """In the triggerer an exception in __init__ kills the trigger runner: it is reported in run(),
    once, and the trigger stays idle (ending would make the triggerer start it again, forever)."""
    trigger = SodaCloudIncidentEventTrigger(selection='{"severity": ["urgent"]}')

    async def events() -> list[Any]:
        found: list[Any] = []

        async def collect() -> None:
            async for event in trigger.run():
                found.append(event)

        task = asyncio.create_task(collect())
        deadline = time.monotonic() + 30
        while "stored selection is not valid" not in "".join(logged) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            out, err = capsys.readouterr()
            logged.append(out + err)
        await asyncio.sleep(0.2)  # the report is out: a trigger that ends would have ended by now
        assert not task.done(), "the trigger ended: the triggerer would recreate it and log again"
        task.cancel()
        return found

    logged: list[str] = []
    assert asyncio.run(events()) == []
    out, err = capsys.readouterr()
    logged.append(out + err)
    assert "".join(logged).count("stored selection is not valid") == 1
    assert soda_cloud_emulator.requests == []


def test_event_trigger_fires_once_per_appearance_and_status_change(
    soda_cloud_emulator: SodaCloudEmulator,
) -> None:
    trigger = SodaCloudIncidentEventTrigger(selection={"dataset_id": "ds-orders"}, poll_interval=0.1)

    async def scenario() -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []

        async def collect() -> None:
            async for event in trigger.run():
                events.append(dict(event.payload))

        task = asyncio.create_task(collect())
        poller = IncidentPoller.for_connection(CONN)
        while poller.polls < 2:  # the baseline is taken: existing incidents do not fire
            await asyncio.sleep(0.02)
        soda_cloud_emulator._update("inc-orders-dup", {"status": "resolved"})
        soda_cloud_emulator.add_incident(
            {"id": "new-orders-incident", "datasetId": "ds-orders", "severity": "critical"}
        )
        soda_cloud_emulator.add_incident({"id": "other-dataset", "datasetId": "ds-payments"})
        polls = poller.polls
        while poller.polls < polls + 4:  # several more polls: nothing fires twice
            await asyncio.sleep(0.02)
        task.cancel()
        return events

    events = asyncio.run(scenario())
    assert [(e["id"], e["change"], e["previous_status"], e["status"]) for e in events] == [
        ("inc-orders-dup", "status_changed", "investigating", "resolved"),
        ("new-orders-incident", "appeared", None, "reported"),
    ]
    assert events[0]["cloud_url"].endswith("/incidents/inc-orders-dup")


def test_settings_load_in_the_loop_also_where_airflow_has_no_async_lookup(
    soda_cloud_emulator: SodaCloudEmulator,
) -> None:
    """Airflow 2's BaseHook has no aget_connection: the lookup then runs in a thread (no supervisor channel)."""
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    class Airflow2Hook(SodaCloudHook):
        aget_connection = None  # as on Airflow 2.11

    for hook in (SodaCloudHook(), Airflow2Hook()):
        settings = asyncio.run(hook.aload_settings())
        assert settings.base_url == soda_cloud_emulator.url
        assert hook.settings is settings  # loaded once, then the blocking hook uses it
