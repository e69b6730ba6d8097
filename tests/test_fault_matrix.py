"""What happens when Soda Cloud misbehaves: one row per fault, as in the README table.

Each case states the outcome (success after retries, or a specific error), the most requests it
may send, a generous upper bound on time (a liveness bound: no case may hang or sleep through
a huge Retry-After), and whether the incident ends as asked or untouched.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import pytest

from airflow_provider_soda.exceptions import (
    SodaCloudAuthenticationError,
    SodaCloudBadRequestError,
    SodaCloudConnectionError,
    SodaCloudError,
    SodaCloudNotFoundError,
    SodaCloudPermissionError,
    SodaCloudRateLimitError,
    SodaCloudResponseError,
    SodaCloudServerError,
)
from airflow_provider_soda.hooks.retry import RetryLimits
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, Fault, SodaCloudEmulator

LIMITS = RetryLimits(backoff_base=0.05, backoff_cap=0.2, max_wait=10)
TIMEOUT = 0.5  # seconds, the connection's extra.timeout in this matrix
ATTEMPTS = 1 + LIMITS.max_transient_retries
ONE_SECOND_WINDOW: dict[str, object] = {"rate_limits": {"update_incident": {"requests": 10, "period": 1}}}
HTML = "<html><body><h1>Bad gateway</h1></body></html>"


def http_date(seconds_from_now: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + seconds_from_now))


@dataclass
class Case:
    name: str
    faults: list[Fault]
    error: type[SodaCloudError] | None  # None: the update succeeds
    max_requests: int
    max_seconds: float = 5.0
    extra: dict[str, object] = field(default_factory=dict)


def persistent(**fault: object) -> list[Fault]:
    return [Fault(times=ATTEMPTS, **fault)]  # type: ignore[arg-type]


CASES = [
    *(Case(f"{s} once", [Fault(status=s)], None, 2) for s in (500, 502, 503, 504)),
    *(
        Case(f"{s} persistent", persistent(status=s), SodaCloudServerError, ATTEMPTS)
        for s in (500, 502, 503, 504)
    ),
    Case("connection reset before the response", [Fault(drop=True)], None, 2),
    Case(
        "connection reset mid-response",
        [Fault(status=200, body='{"id": "x", "status": "fixing"}', truncate=True)],
        None,
        2,
    ),
    Case("connection reset persistent", persistent(drop=True), SodaCloudConnectionError, ATTEMPTS),
    Case("response slower than the timeout", [Fault(delay=TIMEOUT * 2)], None, 2),
    Case("read timeout persistent", persistent(delay=TIMEOUT * 2), SodaCloudConnectionError, ATTEMPTS, 10),
    Case(
        "truncated JSON",
        [Fault(status=200, body='{"id": "7d3f', headers={"Content-Type": "application/json"})],
        None,
        2,
    ),
    Case(
        "HTML page with 200", [Fault(status=200, body=HTML, headers={"Content-Type": "text/html"})], None, 2
    ),
    Case(
        "HTML page with 200 persistent", persistent(status=200, body=HTML), SodaCloudResponseError, ATTEMPTS
    ),
    Case(
        "HTML page with 502", [Fault(status=502, body=HTML, headers={"Content-Type": "text/html"})], None, 2
    ),
    Case(
        "200 with an unexpected JSON shape",
        [Fault(status=200, body='["not", "an", "incident"]')],
        SodaCloudResponseError,
        1,
    ),
    Case("429 with Retry-After seconds", [Fault(status=429, headers={"Retry-After": "1"})], None, 2),
    Case(
        "429 with Retry-After HTTP-date", [Fault(status=429, headers={"Retry-After": http_date(1)})], None, 2
    ),
    Case(
        "429 with a huge Retry-After",
        [Fault(status=429, headers={"Retry-After": "86400"})],
        SodaCloudRateLimitError,
        1,
    ),
    # The schedule pauses for a window (compressed here to 1 s) plus up to one slot's share of jitter.
    Case("429 without Retry-After", [Fault(status=429)], None, 2, max_seconds=3, extra=ONE_SECOND_WINDOW),
    Case(
        "429 persistent",
        [Fault(status=429, times=10)],
        SodaCloudRateLimitError,
        1 + LIMITS.max_rate_limit_retries,
        10,
        extra=ONE_SECOND_WINDOW,
    ),
    Case("400", [Fault(status=400)], SodaCloudBadRequestError, 1),
    Case("401", [Fault(status=401)], SodaCloudAuthenticationError, 1),
    Case("403", [Fault(status=403)], SodaCloudPermissionError, 1),
    Case("404", [Fault(status=404)], SodaCloudNotFoundError, 1),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(case: Case, soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = json.loads(soda_cloud_emulator.airflow_connection(timeout=TIMEOUT, **case.extra))
    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", json.dumps(conn))
    soda_cloud_emulator.inject(*case.faults)
    hook = SodaCloudHook(retry_limits=LIMITS)
    before = soda_cloud_emulator.incident(DEMO_INCIDENT_ID)

    started = time.monotonic()
    if case.error is None:
        incident = hook.update_incident(DEMO_INCIDENT_ID, status="fixing")
        assert incident.status_value == "fixing"
        assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "fixing"  # as asked
    else:
        with pytest.raises(case.error) as excinfo:
            hook.update_incident(DEMO_INCIDENT_ID, status="fixing")
        assert soda_cloud_emulator.url in str(excinfo.value)  # says where it went wrong
        after = soda_cloud_emulator.incident(DEMO_INCIDENT_ID)
        # untouched, or (a timed-out request the server still applied) exactly as asked
        assert after in (before, {**before, "status": "fixing"})
    elapsed = time.monotonic() - started

    assert 1 <= len(soda_cloud_emulator.requests) <= case.max_requests
    assert elapsed < case.max_seconds


def test_connection_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with SodaCloudEmulator() as gone:
        connection = gone.airflow_connection()
    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", connection)
    started = time.monotonic()
    with pytest.raises(SodaCloudConnectionError, match="retries included"):
        SodaCloudHook(retry_limits=LIMITS).update_incident(DEMO_INCIDENT_ID, status="fixing")
    assert time.monotonic() - started < 5


def test_huge_retry_after_carries_retry_after(soda_cloud_emulator: SodaCloudEmulator) -> None:
    soda_cloud_emulator.inject(Fault(status=429, headers={"Retry-After": "86400"}))
    with pytest.raises(SodaCloudRateLimitError, match="try again in 86400 s") as excinfo:
        SodaCloudHook(retry_limits=LIMITS).update_incident(DEMO_INCIDENT_ID, status="fixing")
    assert excinfo.value.retry_after == 86400
