"""Benchmark: Soda v4 contract verifications, started in a storm and waited for in one triggerer.

Part 1: 30 OS processes (forked after the provider is imported, as a prefork worker pool is) each
verify a contract at the same moment, sharing one ``local`` pacing store. The verify limit is
compressed ten times (10 requests per 6 s instead of per 60 s). Figures: verifications started,
429s, and the time to the last start against the physical minimum: the limit lets 10 starts per
window, so the 30th cannot start before two full windows (12 s).

Part 2: 100 deferred verifications (``SodaCloudScanTrigger``, in one event loop as the triggerer
runs them) of contracts whose verifications end 5 to 25 s after they start, with the status limit
compressed ten times (60 per 6 s). Figures: status requests, the most in one window against the
limit, 429s, and the time from each end to its trigger's event against one round of the limit
(``ceil(N / 60)`` windows). Run with ``make bench``.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import tempfile
import time

os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
os.environ["AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR"] = tempfile.mkdtemp(prefix="soda-bench-contracts-")
os.environ["AIRFLOW__SODA_CLOUD__RATE_LIMIT_STORE"] = "local"

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
from airflow_provider_soda.testing import SodaCloudEmulator
from airflow_provider_soda.triggers.scans import SodaCloudScanTrigger

VERIFY_LIMIT = RateLimit(10, 6.0)
STATUS_LIMIT = RateLimit(60, 6.0)
PROCESSES = 30
WAITS = 100


def _verify(go: object, results: object) -> None:
    go.wait()  # type: ignore[attr-defined]
    try:
        scan_id = SodaCloudHook().verify_contract("contract-orders")
        results.put((scan_id, "", time.monotonic()))  # type: ignore[attr-defined]
    except Exception as err:
        results.put(("", f"{type(err).__name__}: {err}", time.monotonic()))  # type: ignore[attr-defined]


def storm() -> None:
    with SodaCloudEmulator(rate_limits={"verify_contract": VERIFY_LIMIT}) as emulator:
        limits = {"verify_contract": {"requests": VERIFY_LIMIT.requests, "period": VERIFY_LIMIT.period}}
        os.environ["AIRFLOW_CONN_SODA_CLOUD_DEFAULT"] = emulator.airflow_connection(rate_limits=limits)
        context = multiprocessing.get_context("fork")
        go, results = context.Event(), context.Queue()
        workers = [context.Process(target=_verify, args=(go, results)) for _ in range(PROCESSES)]
        for worker in workers:
            worker.start()
        time.sleep(1.0)
        released = time.monotonic()
        go.set()
        outcomes = [results.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        requests = emulator.requests_to("verify_contract")
    started = [o for o in outcomes if o[0]]
    last = max(end for _, _, end in outcomes) - released
    minimum = (PROCESSES - 1) // VERIFY_LIMIT.requests * VERIFY_LIMIT.period
    too_many = sum(1 for r in requests if r.status == 429)
    print(
        f"Verification storm: {PROCESSES} processes, verify limit {VERIFY_LIMIT.requests} per "
        f"{VERIFY_LIMIT.period:g} s (compressed 10x), one local pacing store."
    )
    header = f"{'processes':>9} {'started':>7} {'requests':>8} {'429s':>4} {'last start':>10} {'minimum':>7} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    print(
        f"{PROCESSES:9d} {len(started):7d} {len(requests):8d} {too_many:4d} {last:9.2f}s {minimum:6.1f}s "
        f"{last / minimum:6.2f}"
    )
    errors = [e for _, e, _ in outcomes if e]
    if errors:
        print("errors:", errors[:3])


def busiest_window(times: list[float], period: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= period:
            start += 1
        best = max(best, end - start + 1)
    return best


async def wait_all(scan_ids: list[str]) -> dict[str, float]:
    fired: dict[str, float] = {}

    async def first(scan_id: str) -> None:
        trigger = SodaCloudScanTrigger(
            scan_id=scan_id,
            soda_cloud_conn_id="soda_cloud_default",
            poll_interval=1.0,
            end_time=time.time() + 600,
            cancel_on_kill=True,
        )
        async for event in trigger.run():
            assert event.payload["status"] == "final", event.payload
            fired[scan_id] = time.monotonic()
            return

    await asyncio.gather(*(first(scan_id) for scan_id in scan_ids))
    return fired


def deferred() -> None:
    with SodaCloudEmulator(rate_limits={"get_scan": STATUS_LIMIT}, enforce_rate_limits=True) as emulator:
        limits = {"get_scan": {"requests": STATUS_LIMIT.requests, "period": STATUS_LIMIT.period}}
        os.environ["AIRFLOW_CONN_SODA_CLOUD_DEFAULT"] = emulator.airflow_connection(rate_limits=limits)
        book = emulator.contracts
        scan_ids = []
        for k in range(WAITS):
            name = f"bench{k:03d}"
            emulator.datasets[name] = f"ds-{name}"
            dataset = f"warehouse/analytics/public/{name}"
            contract = book.add(f"dataset: {dataset}\nchecks:\n  - row_count:\n")
            book.next_outcome(dataset, "completed", duration=5 + 20 * k / WAITS, queuing=1.0)
            status, _, headers = book.verify(contract["id"], {})
            assert status == 201
            scan_ids.append(headers["X-Soda-Scan-Id"])
        fired = asyncio.run(wait_all(scan_ids))
        runs = emulator.scans.runs
        noticed = sorted(fired[i] - (runs[i].started + runs[i].definition.duration) for i in scan_ids)
        requests = emulator.requests_to("get_scan")
        too_many = sum(1 for r in requests if r.status == 429)
        window = busiest_window([r.at for r in requests], STATUS_LIMIT.period)
    one_round = math.ceil(WAITS / STATUS_LIMIT.requests) * STATUS_LIMIT.period
    print(
        f"\nDeferred verifications: {WAITS} in one triggerer; status limit {STATUS_LIMIT.requests} per "
        f"{STATUS_LIMIT.period:g} s (compressed 10x); verifications end 5 to 25 s after they start."
    )
    header = (
        f"{'N':>4} {'status req':>10} {'max/window':>10} {'limit':>5} {'429s':>4} "
        f"{'noticed p50':>11} {'noticed max':>11} {'one round':>9} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    print(
        f"{WAITS:4d} {len(requests):10d} {window:10d} {STATUS_LIMIT.requests:5d} {too_many:4d} "
        f"{noticed[len(noticed) // 2]:10.2f}s {noticed[-1]:10.2f}s {one_round:8.1f}s {noticed[-1] / one_round:6.2f}"
    )


if __name__ == "__main__":
    storm()
    deferred()
