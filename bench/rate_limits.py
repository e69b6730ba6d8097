"""Benchmark: incident updates at Soda Cloud's rate limit, against the emulator on loopback.

Prints one table of figures and their ratio to the reference (the physical minimum, a raw
requests call, plain ``airflow.sdk`` imports). Run with ``make bench``. The window is compressed
to 10 requests per 2 s so that a run takes about a minute; the ratios are what carry over to
Soda Cloud's real 10 per 60 s.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

# The hook logs every update and every 429, as a task should; here the table counts them instead.
# Set before anything imports Airflow, which reads the level once.
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
# Pacing schedules of this run only (the local store's files would otherwise outlive it).
os.environ["AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR"] = tempfile.mkdtemp(prefix="soda-bench-pacing-")

import requests
import tenacity
from storm import run_deferrable, run_storm

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.testing import SodaCloudEmulator

_PACING_DIR = os.environ["AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR"]
REDIS_URL = os.environ.get("SODA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
N = 50
LIMIT = RateLimit(10, 2.0)
OVERHEAD_CALLS = 500


def physical_minimum(n: int, per_window: int, period: float) -> float:
    """Seconds from the first to the last request when ``per_window`` fit in each window."""
    return (math.ceil(n / per_window) - 1) * period


def new_emulator() -> SodaCloudEmulator:
    emulator = SodaCloudEmulator(rate_limits={"update_incident": LIMIT}).start()
    for number in range(N):
        emulator.add_incident({"id": f"bench-{number:03d}", "severity": "major", "description": "d"})
    return emulator


def use_connection(emulator: SodaCloudEmulator, limit: RateLimit = LIMIT) -> None:
    extra = {"rate_limits": {"update_incident": {"requests": limit.requests, "period": limit.period}}}
    os.environ["AIRFLOW_CONN_SODA_CLOUD_DEFAULT"] = emulator.airflow_connection(**extra)


def count_429(emulator: SodaCloudEmulator, auth: str | None = None) -> int:
    return sum(
        1
        for r in emulator.requests_to("update_incident")
        if r.status == 429 and (auth is None or r.auth == auth)
    )


def run_bulk_operator(ids: list[str]) -> tuple[float, float]:
    """UpdateIncidentsOperator(deferrable=True), its deferrals served the way a triggerer would.

    Returns (wall seconds, seconds a worker slot was held: time inside execute/resume).
    """
    from airflow_provider_soda.operators.incidents import UpdateIncidentsOperator

    operator = UpdateIncidentsOperator(
        task_id="bulk", incident_ids=ids, status="resolved", deferrable=True, defer_after_seconds=0.05
    )
    start = time.perf_counter()
    _, held = run_deferrable(operator)
    return time.perf_counter() - start, held


def run_fixed_delay_loop(emulator: SodaCloudEmulator, ids: list[str], delay: float) -> float:
    """What an HttpOperator user gets: post, and on 429 sleep a fixed delay and try again."""
    session = requests.Session()
    session.auth = (emulator.api_key_id, emulator.api_key_secret)
    start = time.perf_counter()
    for incident_id in ids:
        while (
            session.post(
                f"{emulator.url}/api/v1/incidents/{incident_id}", json={"status": "resolved"}
            ).status_code
            == 429
        ):
            time.sleep(delay)
    return time.perf_counter() - start


def run_tenacity_loop(emulator: SodaCloudEmulator, ids: list[str]) -> float:
    """Exponential backoff with jitter that knows nothing of the window."""
    session = requests.Session()
    session.auth = (emulator.api_key_id, emulator.api_key_secret)

    @tenacity.retry(
        retry=tenacity.retry_if_result(lambda status: status == 429),
        wait=tenacity.wait_random_exponential(multiplier=0.1, max=LIMIT.period),
        stop=tenacity.stop_after_attempt(50),
    )
    def post(incident_id: str) -> int:
        return session.post(
            f"{emulator.url}/api/v1/incidents/{incident_id}", json={"status": "resolved"}
        ).status_code

    start = time.perf_counter()
    for incident_id in ids:
        post(incident_id)
    return time.perf_counter() - start


def alone() -> list[tuple[str, int, float, float, int, float]]:
    rows = []
    ids = [f"bench-{n:03d}" for n in range(N)]
    minimum = physical_minimum(N, LIMIT.requests, LIMIT.period)

    emulator = new_emulator()
    use_connection(emulator)
    wall, held = run_bulk_operator(ids)
    rows.append(
        ("provider: UpdateIncidentsOperator (deferrable)", N, wall, wall / minimum, count_429(emulator), held)
    )
    emulator.stop()

    emulator = new_emulator()
    use_connection(emulator)
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    hook = SodaCloudHook()
    start = time.perf_counter()
    for incident_id in ids:
        hook.update_incident(incident_id, status="resolved")
    wall = time.perf_counter() - start
    rows.append(
        ("provider: SodaCloudHook loop (blocking)", N, wall, wall / minimum, count_429(emulator), wall)
    )
    emulator.stop()

    emulator = new_emulator()
    wall = run_fixed_delay_loop(emulator, ids, delay=LIMIT.period / 4)
    rows.append(
        ("requests loop, fixed 0.5 s delay on 429", N, wall, wall / minimum, count_429(emulator), wall)
    )
    emulator.stop()

    emulator = new_emulator()
    wall = run_tenacity_loop(emulator, ids)
    rows.append(
        ("tenacity exponential backoff (ignores window)", N, wall, wall / minimum, count_429(emulator), wall)
    )
    emulator.stop()
    return rows


def contended() -> tuple[float, float, float, int]:
    """A second client with the same key sends half a window's worth at the start of every window."""
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    emulator = new_emulator()
    emulator.add_incident({"id": "other-client"})
    use_connection(emulator)
    stop = threading.Event()

    def other_client() -> None:
        session = requests.Session()
        session.auth = (emulator.api_key_id, emulator.api_key_secret)
        session.headers["User-Agent"] = "other-client"
        while not stop.is_set():
            for _ in range(LIMIT.requests // 2):
                session.post(f"{emulator.url}/api/v1/incidents/other-client", json={})
            stop.wait(LIMIT.period)

    thread = threading.Thread(target=other_client, daemon=True)
    thread.start()
    time.sleep(0.05)
    hook = SodaCloudHook()
    start = time.perf_counter()
    for number in range(N):
        hook.update_incident(f"bench-{number:03d}", status="resolved")
    wall = time.perf_counter() - start
    stop.set()
    thread.join()
    ours = [r for r in emulator.requests_to("update_incident") if r.user_agent != "other-client"]
    rejected = sum(1 for r in ours if r.status == 429)
    emulator.stop()
    windows = max(1.0, wall / LIMIT.period)
    minimum = physical_minimum(N, LIMIT.requests - LIMIT.requests // 2, LIMIT.period)
    return wall, wall / minimum, rejected / windows, rejected


def overhead() -> tuple[float, float, float]:
    """Median seconds per call: hook.update_incident (default ``local`` store) vs a raw requests.Session.post."""
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    emulator = SodaCloudEmulator(enforce_rate_limits=False).start()
    incident_id = emulator.incident_ids()[0]
    # Limits that never make a request wait, with a window short enough that the schedule holds
    # only the last few requests, as at Soda's real 10 per 60 s.
    use_connection(emulator, RateLimit(10**6, 0.01))
    hook = SodaCloudHook()
    session = requests.Session()
    session.auth = (emulator.api_key_id, emulator.api_key_secret)
    url = f"{emulator.url}/api/v1/incidents/{incident_id}"

    def hook_call() -> None:
        hook.update_incident(incident_id, status="fixing")

    def raw_call() -> None:
        session.post(url, json={"status": "fixing"}, timeout=30).json()

    samples: dict[str, list[float]] = {"hook": [], "raw": []}
    for _ in range(20):  # warm up both
        hook_call()
        raw_call()
    for _ in range(OVERHEAD_CALLS):  # interleaved, so both see the same machine load
        for name, call in (("hook", hook_call), ("raw", raw_call)):
            started = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - started)
    emulator.stop()
    hook_median, raw_median = statistics.median(samples["hook"]), statistics.median(samples["raw"])
    return hook_median, raw_median, hook_median / raw_median


STORM_LIMIT = RateLimit(10, 1.0)


def store_env(store: str) -> dict[str, str]:
    """``[soda_cloud]`` settings for one storm: its own directory or Redis key prefix."""
    return {
        "AIRFLOW__SODA_CLOUD__RATE_LIMIT_STORE": REDIS_URL if store == "redis" else store,
        "AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR": tempfile.mkdtemp(dir=_PACING_DIR),
        "AIRFLOW__SODA_CLOUD__RATE_LIMIT_REDIS_PREFIX": f"soda-bench-{uuid.uuid4().hex}",
    }


def storm(n: int, store: str, *, deferrable: bool) -> tuple[int, int, float, float]:
    """N processes forked from a parent that imported the provider, released together.

    Returns (updates landed, 429s, wall / physical minimum, worker-slot seconds summed).
    """
    emulator = SodaCloudEmulator(rate_limits={"update_incident": STORM_LIMIT}).start()
    ids = [f"storm-{number:03d}" for number in range(n)]
    for incident_id in ids:
        emulator.add_incident({"id": incident_id})
    limits = {"update_incident": {"requests": STORM_LIMIT.requests, "period": STORM_LIMIT.period}}
    env = {
        "AIRFLOW_CONN_SODA_CLOUD_DEFAULT": emulator.airflow_connection(rate_limits=limits),
        **store_env(store),
    }
    result = run_storm([(env, ids)], deferrable=deferrable, timeout=900)
    emulator.stop()
    minimum = physical_minimum(n, STORM_LIMIT.requests, STORM_LIMIT.period)
    return result.landed, count_429(emulator), result.wall / minimum, sum(result.held.values())


def one_off_burst(store: str) -> tuple[float, float, int]:
    """Another client spends a whole window once; then one process sends 25 updates.

    Returns (wall seconds, / physical minimum, 429s). The minimum counts the other client's
    window: our 25 go in the three windows after it.
    """
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    n = 25
    os.environ.update(store_env(store))
    emulator = new_emulator()
    emulator.add_incident({"id": "other-client"})
    use_connection(emulator)
    session = requests.Session()
    session.auth = (emulator.api_key_id, emulator.api_key_secret)
    start = time.perf_counter()
    for _ in range(LIMIT.requests):
        session.post(f"{emulator.url}/api/v1/incidents/other-client", json={})
    hook = SodaCloudHook()
    for number in range(n):
        hook.update_incident(f"bench-{number:03d}", status="resolved")
    wall = time.perf_counter() - start
    rejected = sum(1 for r in emulator.requests_to("update_incident") if r.status == 429)
    emulator.stop()
    minimum = physical_minimum(n + LIMIT.requests, LIMIT.requests, LIMIT.period)
    return wall, wall / minimum, rejected


def store_cost(store: str, calls: int = 500) -> float:
    """Median ms of taking and releasing one slot (no waiting: the limit is huge)."""
    from airflow_provider_soda.pacing import Pacer, pacing_store

    os.environ.update(store_env(store))
    pacer = Pacer(pacing_store(), f"cost-{uuid.uuid4().hex}", RateLimit(10**6, 0.01), timeout=30)
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        with pacer.slot():
            pass
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def redis_available() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        return True
    except Exception:
        return False


BASE = "from airflow.sdk import DAG, BaseOperator, BaseHook, BaseNotifier"
#: What a DAG that updates incidents imports, and everything a DAG file may import from the provider.
PROVIDER = "import airflow_provider_soda.operators.incidents, airflow_provider_soda.notifications.incidents"
PROVIDER_SCANS = "import airflow_provider_soda.operators.scans, airflow_provider_soda.sensors.scans"
PROVIDER_ALL = (
    f"{PROVIDER}, airflow_provider_soda.operators.gate, airflow_provider_soda.sensors.incidents, "
    "airflow_provider_soda.triggers.incidents"
)


def parse_cost(provider: str = PROVIDER, runs: int = 7) -> tuple[float, float]:
    """Best-of-N ms added by the DAG-facing modules on top of the airflow.sdk imports (-X importtime)."""
    best_total = best_base = float("inf")
    for _ in range(runs):
        code = f"{BASE}; import sys; sys.stderr.write('--MARK--\\n'); {provider}"
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
        )
        before, _, after = result.stderr.partition("--MARK--\n")
        best_total = min(best_total, _top_level_cumulative_us(after) / 1000)
        best_base = min(best_base, _top_level_cumulative_us(before) / 1000)
    return best_total, best_base


def _top_level_cumulative_us(importtime_output: str) -> int:
    total = 0
    for line in importtime_output.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not name.startswith(" ") or name.startswith("  "):  # nested imports are inside their parent
            continue
        total += int(cumulative)
    return total


def main_storms() -> None:
    stores = ["memory", "local", *(["redis"] if redis_available() else [])]
    if "redis" not in stores:
        print(f"(no Redis at {REDIS_URL}: the redis rows are skipped; set SODA_BENCH_REDIS_URL)")
    print(
        f"\nStorms: N processes (forked from a parent that imported the provider) each update one "
        f"incident at once; window {STORM_LIMIT.requests} per {STORM_LIMIT.period:g} s."
    )
    header = f"{'N':>4} {'store':7} {'path':22} {'landed':>6} {'429s':>5} {'wall / min':>10} {'slot-s':>8}"
    print(header)
    print("-" * len(header))
    for n in (30, 300):
        for store in stores:
            for deferrable in (False, True):
                landed, rejected, ratio, held = storm(n, store, deferrable=deferrable)
                path = "operator, deferrable" if deferrable else "hook (notifier path)"
                print(f"{n:4d} {store:7} {path:22} {landed:6d} {rejected:5d} {ratio:10.3f} {held:8.1f}")
    print()
    for store in stores:
        wall, ratio, rejected = one_off_burst(store)
        print(
            f"one-off burst ({store}): another client spends one window, then 25 updates: "
            f"{wall:.2f} s = {ratio:.3f} x physical minimum, {rejected} x 429"
        )
    memory_ms = store_cost("memory")
    for store in stores:
        ms = store_cost(store)
        print(f"store cost per request ({store}): median {ms:.3f} ms, +{ms - memory_ms:.3f} ms vs memory")


def main() -> None:
    if "--storms-only" in sys.argv:
        main_storms()
        return
    print(
        f"Soda Cloud emulator on loopback, update window compressed to {LIMIT.requests} per {LIMIT.period:g} s, N = {N}"
    )
    print(f"physical minimum alone: {physical_minimum(N, LIMIT.requests, LIMIT.period):.1f} s\n")
    header = f"{'path':48} {'updated':>7} {'wall s':>7} {'/ min':>6} {'429s':>5} {'slot held s':>11}"
    print(header)
    print("-" * len(header))
    for name, updated, wall, ratio, rejected, held in alone():
        print(f"{name:48} {updated:7d} {wall:7.2f} {ratio:6.3f} {rejected:5d} {held:11.2f}")

    wall, ratio, per_window, rejected = contended()
    print(
        f"\ncontended (another client uses half of every window): wall {wall:.2f} s, "
        f"{ratio:.3f} x its physical minimum, {rejected} 429s = {per_window:.2f} per window"
    )
    hook_median, raw_median, ratio = overhead()
    print(
        f"per-call overhead, limits off (median of {OVERHEAD_CALLS}): hook.update_incident "
        f"{hook_median * 1000:.3f} ms vs raw requests.Session.post {raw_median * 1000:.3f} ms = {ratio:.2f}x"
    )
    provider_ms, base_ms = parse_cost()
    all_ms, _ = parse_cost(PROVIDER_ALL)
    scans_ms, _ = parse_cost(PROVIDER_SCANS)
    print(
        f"DAG-parse cost (-X importtime, best of 7): operators + notifiers add {provider_ms:.1f} ms "
        f"on top of airflow.sdk's {base_ms:.1f} ms ({provider_ms / base_ms:.2f}x of it); with the gate, "
        f"the sensor and the incident triggers {all_ms:.1f} ms; the scan operator and sensor {scans_ms:.1f} ms"
    )
    main_storms()


if __name__ == "__main__":
    main()
