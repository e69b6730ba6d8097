"""Many threads through one hook, and several processes sharing one connection."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
from airflow_provider_soda.testing import SodaCloudEmulator

LIMIT = RateLimit(10, 1.0)


@pytest.fixture
def emulator(soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch) -> SodaCloudEmulator:
    soda_cloud_emulator.rate_limits["update_incident"] = LIMIT
    extra = {"rate_limits": {"update_incident": {"requests": LIMIT.requests, "period": LIMIT.period}}}
    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", soda_cloud_emulator.airflow_connection(**extra))
    for n in range(8):
        soda_cloud_emulator.add_incident({"id": f"concurrent-{n}"})
    return soda_cloud_emulator


def test_eight_threads_through_one_hook(emulator: SodaCloudEmulator) -> None:
    hook = SodaCloudHook()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for step in range(3):
                hook.update_incident(f"concurrent-{n}", description=f"thread {n} step {step}")
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    log = emulator.requests_to("update_incident")
    assert [r.status for r in log] == [200] * 24  # the process-wide limiter holds: no 429
    for n in range(8):
        descriptions = [h["changes"]["description"] for h in emulator.history(f"concurrent-{n}")]
        assert descriptions == [f"thread {n} step {step}" for step in range(3)]  # none lost or doubled
    times = sorted(r.at for r in log)
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + LIMIT.period) <= LIMIT.requests


WORKER = """
import sys
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
hook, worker = SodaCloudHook(), int(sys.argv[1])
for step in range(5):
    hook.update_incident(f"concurrent-{worker}", description=f"process {worker} step {step}")
"""


def test_four_processes_share_one_connection(emulator: SodaCloudEmulator) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(n)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for n in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in processes]

    assert [p.returncode for p in processes] == [0] * 4, outputs
    for n in range(4):
        descriptions = [h["changes"]["description"] for h in emulator.history(f"concurrent-{n}")]
        assert descriptions == [f"process {n} step {step}" for step in range(5)]
    statuses = [r.status for r in emulator.requests_to("update_incident")]
    assert statuses.count(200) == 20
    assert set(statuses) <= {200, 429}  # every 429 was recovered by a retry
