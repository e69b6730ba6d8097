"""Every polling trigger waits between failed tries and stops on cancellation (issue #26, item 2).

Under ``airflow dags test`` a deferred task's trigger could not read a connection stored in the
metadata database; the scan trigger then retried with no pause (1.2 million warnings in 12
minutes, deaf to SIGTERM). Here the connection is nowhere to be found, as there, and each trigger
runs in an event loop as in a triggerer: its lookups are spaced by its poll interval, and a
cancellation (what the triggerer sends on SIGTERM or when the task is cleared) ends it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import first_event

from airflow_provider_soda.testing import SodaCloudEmulator
from airflow_provider_soda.triggers.incidents import SodaCloudIncidentTrigger
from airflow_provider_soda.triggers.scans import SodaCloudScanTrigger
from airflow_provider_soda.watching import IncidentWatch

INTERVAL = 0.5


def scan_trigger(emulator: SodaCloudEmulator) -> Any:
    emulator.scans.next_outcome("orders_daily", "completed", duration=60)
    _, _, headers = emulator.scans.trigger({"scanDefinition": ["orders_daily"]})
    return SodaCloudScanTrigger(
        scan_id=headers["X-Soda-Scan-Id"],
        soda_cloud_conn_id="soda_cloud_default",
        poll_interval=INTERVAL,
        end_time=time.time() + 60,
    )


def incident_trigger(emulator: SodaCloudEmulator) -> Any:
    watch = IncidentWatch.build(incident_ids=[emulator.incident_ids()[0]], target_status="resolved")
    return SodaCloudIncidentTrigger(
        watch=watch.to_json(), soda_cloud_conn_id="soda_cloud_default", poll_interval=INTERVAL
    )


# The scan trigger ends by itself after 3 lookups: it is cancelled right after its second.
@pytest.mark.parametrize("make", [scan_trigger, incident_trigger], ids=["scan", "incident"])
def test_a_trigger_that_cannot_read_its_connection_waits_and_can_be_cancelled(
    monkeypatch: pytest.MonkeyPatch,
    soda_cloud_emulator: SodaCloudEmulator,
    make: Callable[[SodaCloudEmulator], Any],
) -> None:
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    lookups: list[float] = []
    real = SodaCloudHook.aload_settings

    async def counted(self: SodaCloudHook) -> Any:
        lookups.append(time.monotonic())
        return await real(self)

    monkeypatch.setattr(SodaCloudHook, "aload_settings", counted)
    trigger = make(soda_cloud_emulator)
    monkeypatch.delenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT")  # the connection is nowhere to be found

    async def second_try_then_cancel() -> None:
        task = asyncio.ensure_future(first_event(trigger))
        deadline = time.monotonic() + 15  # a loaded machine may be slow to the second try
        while len(lookups) < 2 and not task.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert len(lookups) == 2, lookups  # tried again, after one poll interval
        assert not task.done(), task  # still trying, not ended with an event
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=2)

    asyncio.run(second_try_then_cancel())
    assert len(lookups) == 2, lookups  # one try per poll interval, not thousands, and none after
    assert all(b - a >= INTERVAL * 0.9 for a, b in itertools.pairwise(lookups)), lookups


def test_a_scan_wait_whose_connection_is_never_found_ends_with_an_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    """Under `airflow dags test` SIGTERM does not reach the inline trigger: the wait must end by itself."""
    from airflow_provider_soda.triggers.scans import MAX_CONNECTION_LOOKUPS

    trigger = scan_trigger(soda_cloud_emulator)
    monkeypatch.delenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT")
    started = time.monotonic()
    event = asyncio.run(first_event(trigger))
    assert event["status"] == "error"
    assert event["retryable"] is False
    assert "connection 'soda_cloud_default' was not found" in event["message"]
    assert "AIRFLOW_CONN_SODA_CLOUD_DEFAULT" in event["message"]
    assert time.monotonic() - started >= (MAX_CONNECTION_LOOKUPS - 1) * INTERVAL * 0.9
