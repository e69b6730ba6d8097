"""Benchmark: N deferred scans waiting in one triggerer, sharing the status endpoint's rate limit.

N ``SodaCloudScanTrigger`` run in one event loop (as the triggerer runs them) on N scans of the
emulator that end at staggered times. The status limit is compressed ten times (60 requests per
6 s instead of per 60 s); Soda sends ``X-Soda-Next-Poll-Time`` one second ahead and the
triggers' poll interval is 1 s, so the limit, not the interval, paces them. Figures: status
requests per window (the limit is the reference), 429s, and the time from each scan's end to its
trigger's event, against one round of the limit: the longest the window limit lets N requests
take (``ceil(N / 60)`` windows of 6 s), which is how long a scan can wait for its next turn.
Run with ``make bench``.
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
import time

os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
os.environ["AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR"] = tempfile.mkdtemp(prefix="soda-bench-scans-")

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.testing import SodaCloudEmulator
from airflow_provider_soda.testing.emulator_scans import ScanDefinition
from airflow_provider_soda.triggers.scans import SodaCloudScanTrigger

LIMIT = RateLimit(60, 6.0)
CONN = "soda_cloud_default"


async def wait_all(emulator: SodaCloudEmulator, scan_ids: list[str]) -> dict[str, float]:
    """Run one trigger per scan until each fires; return when each fired (monotonic)."""
    fired: dict[str, float] = {}

    async def first(scan_id: str) -> None:
        trigger = SodaCloudScanTrigger(
            scan_id=scan_id, soda_cloud_conn_id=CONN, poll_interval=1.0, end_time=time.time() + 600
        )
        async for event in trigger.run():
            assert event.payload["status"] == "final", event.payload
            fired[scan_id] = time.monotonic()
            return

    await asyncio.gather(*(first(scan_id) for scan_id in scan_ids))
    return fired


def busiest_window(times: list[float], period: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= period:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    print(
        f"Scan waits: N deferred scans in one triggerer; status limit {LIMIT.requests} per {LIMIT.period:g} s "
        "(compressed 10x); scans end 5 to 25 s after they start."
    )
    header = (
        f"{'N':>4} {'status req':>10} {'max/window':>10} {'limit':>5} {'429s':>4} "
        f"{'noticed p50':>11} {'noticed max':>11} {'one round':>9} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for n in (10, 100):
        with SodaCloudEmulator(rate_limits={"get_scan": LIMIT}) as emulator:
            limits = {"get_scan": {"requests": LIMIT.requests, "period": LIMIT.period}}
            os.environ["AIRFLOW_CONN_SODA_CLOUD_DEFAULT"] = emulator.airflow_connection(rate_limits=limits)
            scan_ids = []
            for k in range(n):
                name = f"bench_{k:03d}"
                emulator.scans.add_definition(ScanDefinition(name, [], duration=5 + 20 * k / n, queuing=1.0))
                status, _, headers = emulator.scans.trigger({"scanDefinition": [name]})
                assert status == 201
                scan_ids.append(headers["X-Soda-Scan-Id"])
            fired = asyncio.run(wait_all(emulator, scan_ids))
            runs = emulator.scans.runs
            noticed = sorted(fired[i] - (runs[i].started + runs[i].definition.duration) for i in scan_ids)
            requests = emulator.requests_to("get_scan")
            too_many = sum(1 for r in requests if r.status == 429)
            window = busiest_window([r.at for r in requests], LIMIT.period)
        one_round = math.ceil(n / LIMIT.requests) * LIMIT.period
        print(
            f"{n:4d} {len(requests):10d} {window:10d} {LIMIT.requests:5d} {too_many:4d} "
            f"{noticed[len(noticed) // 2]:10.2f}s {noticed[-1]:10.2f}s {one_round:8.1f}s {noticed[-1] / one_round:6.2f}"
        )
    print(
        "(one round: the longest the limit lets every waiting scan be polled once, ceil(N / 60) windows; "
        "each end should be noticed within one round, with no 429)"
    )


if __name__ == "__main__":
    main()
