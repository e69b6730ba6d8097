"""Benchmark: what waiting sensors cost Soda Cloud, with the triggerer's shared poll.

N deferred ``SodaCloudIncidentSensor`` tasks wait in one triggerer process (here: their
triggers in one event loop, as the triggerer runs them) on N different incidents of the
emulator. The figure is Soda Cloud list requests per poll interval; the reference is one
request per sensor per interval (what N independent pollers send). Run with ``make bench``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time

os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
os.environ["AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR"] = tempfile.mkdtemp(prefix="soda-bench-waits-")

from airflow_provider_soda.testing import SodaCloudEmulator
from airflow_provider_soda.triggers.incidents import SodaCloudIncidentTrigger
from airflow_provider_soda.triggers.poller import IncidentPoller
from airflow_provider_soda.watching import IncidentWatch

INTERVAL = 0.5
POLLS = 6
CONN = "soda_cloud_default"


async def wait_all(emulator: SodaCloudEmulator, ids: list[str]) -> tuple[int, int, float]:
    """Run one trigger per id for POLLS polls, then resolve all; (polls, list requests, s to fire)."""
    triggers = [
        SodaCloudIncidentTrigger(
            watch=IncidentWatch.build(incident_ids=[i]).to_json(),
            soda_cloud_conn_id=CONN,
            poll_interval=INTERVAL,
        )
        for i in ids
    ]

    async def first(trigger: SodaCloudIncidentTrigger) -> None:
        async for _ in trigger.run():
            return

    tasks = [asyncio.create_task(first(t)) for t in triggers]
    poller = IncidentPoller.for_connection(CONN)
    while poller.polls < POLLS:
        await asyncio.sleep(0.01)
    for incident_id in ids:
        emulator._update(incident_id, {"status": "resolved"})
    resolved_at = time.monotonic()
    await asyncio.gather(*tasks)
    return poller.polls, len(emulator.requests_to("list_incidents")), time.monotonic() - resolved_at


def main() -> None:
    print(
        f"Incident waits: N deferred sensors on N incidents in one triggerer, poll interval {INTERVAL:g} s "
        f"(compressed), {POLLS} polls before the incidents are resolved."
    )
    header = f"{'N':>5} {'polls':>5} {'requests':>8} {'req/interval':>12} {'reference':>9} {'ratio':>6} {'fired in s':>10}"
    print(header)
    print("-" * len(header))
    for n in (1, 50, 200, 1500):
        ids = [f"wait-{k:04d}" for k in range(n)]
        with SodaCloudEmulator(incidents=[{"id": i} for i in ids], enforce_rate_limits=False) as emulator:
            os.environ["AIRFLOW_CONN_SODA_CLOUD_DEFAULT"] = emulator.airflow_connection()
            polls, requests, fired = asyncio.run(wait_all(emulator, ids))
        per_interval = requests / polls
        print(
            f"{n:5d} {polls:5d} {requests:8d} {per_interval:12.2f} {n:9d} {per_interval / n:6.3f} {fired:10.2f}"
        )
    print(
        "(reference: one request per sensor per interval; over 1,000 ids a poll takes one request per 1,000)"
    )
    mixed()


MIXED_FAST, MIXED_SLOW_INTERVAL, MIXED_SECONDS = 200, 6 * 3600.0, 6.0


async def wait_mixed(
    emulator: SodaCloudEmulator, fast_ids: list[str], slow_id: str
) -> tuple[float, list[float]]:
    """One 6-hour wait, then 200 waits on 1 s: (list requests per second, each fast wait's detection delay)."""

    def trigger(incident_id: str, interval: float) -> SodaCloudIncidentTrigger:
        watch = IncidentWatch.build(incident_ids=[incident_id]).to_json()
        return SodaCloudIncidentTrigger(watch=watch, soda_cloud_conn_id=CONN, poll_interval=interval)

    fired: dict[str, float] = {}

    async def first(incident_id: str, interval: float) -> None:
        async for _ in trigger(incident_id, interval).run():
            fired[incident_id] = time.monotonic()
            return

    slow = asyncio.create_task(first(slow_id, MIXED_SLOW_INTERVAL))
    poller = IncidentPoller.for_connection(CONN)
    while poller.polls < 1:  # the slow wait polled once: from now on it is due in six hours
        await asyncio.sleep(0.01)
    tasks = [asyncio.create_task(first(i, 1.0)) for i in fast_ids]
    await asyncio.sleep(1.5)  # the fast waits joined and are polled
    before, started = len(emulator.requests_to("list_incidents")), time.monotonic()
    await asyncio.sleep(MIXED_SECONDS)
    rate = (len(emulator.requests_to("list_incidents")) - before) / (time.monotonic() - started)
    for incident_id in fast_ids:
        emulator._update(incident_id, {"status": "resolved"})
    resolved_at = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    slow.cancel()
    return rate, sorted(fired[i] - resolved_at for i in fast_ids)


def mixed() -> None:
    print()
    print(
        f"Mixed intervals: one wait on {MIXED_SLOW_INTERVAL / 3600:g} h joined first, then {MIXED_FAST} waits "
        f"on 1 s (real time), in one triggerer; {MIXED_SECONDS:g} s measured, then the {MIXED_FAST} are resolved."
    )
    fast_ids = [f"fast-{k:04d}" for k in range(MIXED_FAST)]
    incidents = [{"id": i} for i in [*fast_ids, "slow-0000"]]
    with SodaCloudEmulator(incidents=incidents, enforce_rate_limits=False) as emulator:
        os.environ["AIRFLOW_CONN_SODA_CLOUD_DEFAULT"] = emulator.airflow_connection()
        rate, delays = asyncio.run(wait_mixed(emulator, fast_ids, "slow-0000"))
    header = (
        f"{'waits':>9} {'req/s':>6} {'reference':>9} {'ratio':>6} {'detected p50':>12} {'detected max':>12}"
    )
    print(header)
    print("-" * len(header))
    print(
        f"{MIXED_FAST:>5} + 1 {rate:6.2f} {1.0:9.2f} {rate:6.2f} {delays[len(delays) // 2]:11.2f}s {delays[-1]:11.2f}s"
    )
    print(
        "(reference: one request per second for the 1 s waits; each should notice within about one interval)"
    )


if __name__ == "__main__":
    main()
