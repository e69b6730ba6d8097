"""SodaCloudHook against the emulator on loopback: auth, paths, errors, retries and pacing."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_soda import __version__
from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.exceptions import (
    SodaCloudAuthenticationError,
    SodaCloudBadRequestError,
    SodaCloudConfigError,
    SodaCloudConnectionError,
    SodaCloudNotFoundError,
    SodaCloudPermissionError,
    SodaCloudRateLimitError,
    SodaCloudResponseError,
    SodaCloudServerError,
    SodaCloudValidationError,
)
from airflow_provider_soda.hooks.retry import RetryLimits
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
from airflow_provider_soda.models import IncidentStatus
from airflow_provider_soda.testing import DEFAULT_TOKEN, DEMO_INCIDENT_ID, Fault, SodaCloudEmulator

FAST = RetryLimits(backoff_base=0.01, backoff_cap=0.05, max_wait=30)
ENV = "AIRFLOW_CONN_SODA_CLOUD_DEFAULT"


@pytest.fixture
def hook(soda_cloud_emulator: SodaCloudEmulator) -> SodaCloudHook:
    return SodaCloudHook(retry_limits=FAST)


def use_connection(monkeypatch: pytest.MonkeyPatch, emulator: SodaCloudEmulator, **changes: object) -> None:
    conn = json.loads(emulator.airflow_connection())
    conn.update(changes)
    monkeypatch.setenv(ENV, json.dumps(conn))


def test_update_sends_only_given_fields_with_basic_auth(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    incident = hook.update_incident(DEMO_INCIDENT_ID, status="resolved", resolution_notes="Backfilled")

    assert incident.status is IncidentStatus.RESOLVED
    assert incident.resolution_notes == "Backfilled"
    assert incident.cloud_url == f"{soda_cloud_emulator.url}/incidents/{DEMO_INCIDENT_ID}"
    (request,) = soda_cloud_emulator.requests
    assert request.method == "POST"
    assert request.raw_path == f"/api/v1/incidents/{DEMO_INCIDENT_ID}"
    assert request.body == {"status": "resolved", "resolutionNotes": "Backfilled"}
    assert request.auth == "basic:emulator-key-id"
    assert request.user_agent == f"airflow-provider-soda/{__version__}"


def test_title_severity_and_description(hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator) -> None:
    incident = hook.update_incident(DEMO_INCIDENT_ID, title="New title", severity="critical", description="d")
    assert (incident.name, incident.severity, incident.description) == ("New title", "critical", "d")
    assert soda_cloud_emulator.requests[0].body == {
        "title": "New title",
        "severity": "critical",
        "description": "d",
    }


def test_cookie_token_auth(soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(
        monkeypatch, soda_cloud_emulator, login=None, password=None, extra={"token": DEFAULT_TOKEN}
    )
    SodaCloudHook(retry_limits=FAST).update_incident(DEMO_INCIDENT_ID, status="fixing")
    assert soda_cloud_emulator.requests[0].auth == "cookie"
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "fixing"


def test_custom_host_from_uri_connection(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = quote(soda_cloud_emulator.url, safe="")
    monkeypatch.setenv(ENV, f"soda-cloud://emulator-key-id:emulator-key-secret@{host}")
    SodaCloudHook(retry_limits=FAST).update_incident(DEMO_INCIDENT_ID, status="fixing")
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "fixing"


def test_session_is_reused(hook: SodaCloudHook) -> None:
    hook.update_incident(DEMO_INCIDENT_ID, status="fixing")
    session = hook.get_conn()
    hook.update_incident(DEMO_INCIDENT_ID, status="resolved")
    assert hook.get_conn() is session


HOSTILE_IDS = [
    "a/b",
    "..x",
    "../../test-login",
    "id?status=resolved",
    "id#frag",
    "%2F",
    "ünï cødé",
    "a b",
    "x" * 400,
]


@pytest.mark.parametrize("incident_id", HOSTILE_IDS)
def test_hostile_ids_stay_one_path_segment(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator, incident_id: str
) -> None:
    with pytest.raises(SodaCloudNotFoundError):
        hook.update_incident(incident_id, status="resolved")
    (request,) = soda_cloud_emulator.requests
    assert request.raw_path == "/api/v1/incidents/" + quote(incident_id, safe="")
    assert request.endpoint == "update_incident"
    assert request.incident_id == incident_id
    assert request.query == {}


@pytest.mark.parametrize("incident_id", ["", "   ", ".", "..", "a\nb", "a\x00b", "x" * 600, None, 3.5])
def test_impossible_ids_are_refused_before_any_request(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator, incident_id: object
) -> None:
    with pytest.raises(SodaCloudValidationError, match="incident_id"):
        hook.update_incident(incident_id, status="resolved")  # type: ignore[arg-type]
    assert soda_cloud_emulator.requests == []


def test_invalid_fields_are_refused_before_any_request(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    with pytest.raises(SodaCloudValidationError, match="reported, investigating, fixing, resolved"):
        hook.update_incident(DEMO_INCIDENT_ID, status="closed")
    with pytest.raises(SodaCloudValidationError, match="at least one"):
        hook.update_incident(DEMO_INCIDENT_ID)
    assert soda_cloud_emulator.requests == []


@pytest.mark.parametrize(
    ("status", "error", "hint"),
    [
        (400, SodaCloudBadRequestError, "documented fields"),
        (401, SodaCloudAuthenticationError, "API key ID and secret"),
        (403, SodaCloudPermissionError, "'Manage incident'"),
        (404, SodaCloudNotFoundError, "region where the incident lives"),
    ],
)
def test_client_errors_are_not_retried_and_explain_the_fix(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator, status: int, error: type, hint: str
) -> None:
    soda_cloud_emulator.inject(
        Fault(
            status=status,
            body=json.dumps({"code": "c1", "message": "m1"}),
            headers={"X-Soda-Trace-Id": "t-1"},
        )
    )
    with pytest.raises(error) as excinfo:
        hook.update_incident(DEMO_INCIDENT_ID, status="resolved")
    err = excinfo.value
    assert (err.status_code, err.code, err.server_message, err.trace_id) == (status, "c1", "m1", "t-1")
    assert err.retryable is False
    for part in (DEMO_INCIDENT_ID, soda_cloud_emulator.url, hint, "t-1", str(status)):
        assert part in str(err)
    assert len(soda_cloud_emulator.requests) == 1


def test_real_401_from_wrong_secret(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, soda_cloud_emulator, password="wrong-secret")
    with pytest.raises(SodaCloudAuthenticationError) as excinfo:
        SodaCloudHook(retry_limits=FAST).update_incident(DEMO_INCIDENT_ID, status="resolved")
    assert "wrong-secret" not in str(excinfo.value)
    assert soda_cloud_emulator.requests[0].auth is None


def test_server_errors_are_retried(hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator) -> None:
    soda_cloud_emulator.inject(Fault(status=500), Fault(status=502), Fault(status=504))
    assert hook.update_incident(DEMO_INCIDENT_ID, status="fixing").status is IncidentStatus.FIXING
    assert [r.status for r in soda_cloud_emulator.requests] == [500, 502, 504, 200]


def test_persistent_server_errors_give_up_after_the_budget(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.inject(Fault(status=503, times=10))
    with pytest.raises(SodaCloudServerError) as excinfo:
        hook.update_incident(DEMO_INCIDENT_ID, status="fixing")
    assert excinfo.value.retryable is True
    assert len(soda_cloud_emulator.requests) == 1 + FAST.max_transient_retries


def test_dropped_connections_are_retried(hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator) -> None:
    soda_cloud_emulator.inject(Fault(drop=True, times=2))
    hook.update_incident(DEMO_INCIDENT_ID, status="fixing")
    assert [r.status for r in soda_cloud_emulator.requests] == [None, None, 200]


@pytest.mark.parametrize(
    ("endpoint", "start", "unsure"),
    [
        ("trigger_scan", lambda hook: hook.trigger_scan("orders_daily"), "A scan may have started"),
        ("verify_contract", lambda hook: hook.verify_contract("contract-orders"), "A verification may have"),
    ],
)
@pytest.mark.parametrize(
    "fault", [Fault(drop=True), Fault(delay=1.0, status=200, body="{}")], ids=["drop", "timeout"]
)
def test_a_start_that_may_have_arrived_is_never_sent_again(
    soda_cloud_emulator: SodaCloudEmulator,
    monkeypatch: pytest.MonkeyPatch,
    endpoint: str,
    start: Any,
    unsure: str,
    fault: Fault,
) -> None:
    """A dropped connection or a read timeout after the request left: Soda may have started it."""
    use_connection(monkeypatch, soda_cloud_emulator, extra={"timeout": 0.3})
    soda_cloud_emulator.inject(dataclasses.replace(fault, endpoint=endpoint))
    with pytest.raises(SodaCloudConnectionError, match=unsure) as excinfo:
        start(SodaCloudHook(retry_limits=FAST))
    assert excinfo.value.retryable is False  # nor may the task's own retries start it again
    assert "retries included" not in str(excinfo.value)
    # A timed-out request is recorded once the emulator's delayed answer is written.
    deadline = time.monotonic() + 10
    while not soda_cloud_emulator.requests_to(endpoint) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(soda_cloud_emulator.requests_to(endpoint)) == 1


def test_a_start_that_never_left_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """No connection could be opened: nothing reached Soda, so a retry cannot start a second scan."""
    with SodaCloudEmulator() as emulator:
        connection = emulator.airflow_connection()
    monkeypatch.setenv(ENV, connection)  # the emulator is gone: connection refused
    with pytest.raises(SodaCloudConnectionError, match="retries included") as excinfo:
        SodaCloudHook(retry_limits=FAST).trigger_scan("orders_daily")
    assert excinfo.value.retryable is True


def test_unreachable_host_raises_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with SodaCloudEmulator() as emulator:
        connection = emulator.airflow_connection()
    monkeypatch.setenv(ENV, connection)  # the emulator is gone: connection refused
    with pytest.raises(SodaCloudConnectionError, match=r"Could not reach Soda Cloud at http://127\.0\.0\.1"):
        SodaCloudHook(retry_limits=FAST).update_incident(DEMO_INCIDENT_ID, status="fixing")


def test_read_timeout_is_retried(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, soda_cloud_emulator, extra={"timeout": 0.3})
    soda_cloud_emulator.inject(Fault(delay=1.0, status=200, body="{}"))
    incident = SodaCloudHook(retry_limits=FAST).update_incident(DEMO_INCIDENT_ID, status="fixing")
    assert incident.status is IncidentStatus.FIXING


def test_429_with_retry_after_waits_and_succeeds(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.inject(Fault(status=429, headers={"Retry-After": "0.2"}))
    hook.update_incident(DEMO_INCIDENT_ID, status="fixing")
    first, second = soda_cloud_emulator.requests
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.2


def test_429_with_an_http_date_retry_after(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 2))
    soda_cloud_emulator.inject(Fault(status=429, headers={"Retry-After": when}))
    hook.update_incident(DEMO_INCIDENT_ID, status="fixing")
    first, second = soda_cloud_emulator.requests
    assert (first.status, second.status) == (429, 200)
    assert 0.5 <= second.at - first.at <= 3  # the date has one-second resolution


def test_429_without_retry_after_waits_for_the_window(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(
        monkeypatch,
        soda_cloud_emulator,
        extra={"rate_limits": {"update_incident": {"requests": 4, "period": 1}}},
    )
    soda_cloud_emulator.inject(Fault(status=429))
    SodaCloudHook(retry_limits=FAST).update_incident(DEMO_INCIDENT_ID, status="fixing")
    first, second = soda_cloud_emulator.requests
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1 / 4  # one slot's share of the window


def test_429_beyond_the_budget_raises_with_retry_after(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    soda_cloud_emulator.inject(Fault(status=429, headers={"Retry-After": "3600"}))
    hook = SodaCloudHook(retry_limits=RetryLimits(max_wait=5))
    with pytest.raises(SodaCloudRateLimitError) as excinfo:
        hook.update_incident(DEMO_INCIDENT_ID, status="fixing")
    assert excinfo.value.retry_after == 3600
    assert excinfo.value.retryable is True
    assert len(soda_cloud_emulator.requests) == 1


def test_pacing_keeps_every_window_within_the_limit(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = RateLimit(5, 0.5)
    soda_cloud_emulator.rate_limits["update_incident"] = limit
    use_connection(
        monkeypatch,
        soda_cloud_emulator,
        extra={"rate_limits": {"update_incident": {"requests": 5, "period": 0.5}}},
    )
    hook = SodaCloudHook(retry_limits=FAST)
    for n in range(12):
        hook.update_incident(DEMO_INCIDENT_ID, description=f"update {n}")
    log = soda_cloud_emulator.requests
    assert [r.status for r in log] == [200] * 12  # no 429 at all
    times = [r.at for r in log]
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + limit.period) <= limit.requests


def test_redirects_are_not_followed(hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator) -> None:
    soda_cloud_emulator.inject(Fault(status=307, body="", headers={"Location": "https://evil.example/"}))
    with pytest.raises(SodaCloudConfigError, match=r"evil\.example"):
        hook.update_incident(DEMO_INCIDENT_ID, status="fixing")
    assert len(soda_cloud_emulator.requests) == 1


def test_html_instead_of_json_is_retried_then_reported(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    page = Fault(status=200, body="<html>proxy login</html>", headers={"Content-Type": "text/html"}, times=10)
    soda_cloud_emulator.inject(page)
    with pytest.raises(SodaCloudResponseError, match="no valid JSON"):
        hook.update_incident(DEMO_INCIDENT_ID, status="fixing")
    assert len(soda_cloud_emulator.requests) == 1 + FAST.max_transient_retries


def test_get_incident(hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator) -> None:
    assert hook.get_incident(DEMO_INCIDENT_ID).number == 1
    assert soda_cloud_emulator.requests[0].query == {
        "incidentIds": [DEMO_INCIDENT_ID],
        "page": ["0"],
        "size": ["1000"],
    }
    with pytest.raises(SodaCloudNotFoundError, match="no incident 'missing'"):
        hook.get_incident("missing")


def test_test_connection_names_the_organisation(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    ok, message = hook.test_connection()
    assert ok is True
    assert message == f"Connected to Emulated Soda Org (custom base URL {soda_cloud_emulator.url}, api key)."
    assert soda_cloud_emulator.requests[0].raw_path == "/api/v1/test-login"


def test_test_connection_reports_bad_credentials(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, soda_cloud_emulator, password="nope")
    ok, message = SodaCloudHook(retry_limits=FAST).test_connection()
    assert ok is False
    assert message.startswith(f"Could not connect to Soda Cloud, custom base URL {soda_cloud_emulator.url}:")
    assert "HTTP 401" in message
    assert "API key ID and secret" in message


def test_test_connection_reports_bad_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        ENV,
        json.dumps({"conn_type": "soda_cloud", "login": "k", "password": "s", "extra": {"region": "mars"}}),
    )
    ok, message = SodaCloudHook().test_connection()
    assert ok is False
    assert "'mars'" in message
