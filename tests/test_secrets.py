"""Credentials never leak: not into logs, errors, XCom or rendered fields, nor to another host."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import task_instances, task_logs, xcom_values

from airflow_provider_soda.exceptions import (
    SodaCloudAuthenticationError,
    SodaCloudConfigError,
    SodaCloudPermissionError,
)
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, Fault, SodaCloudEmulator

SECRET = "s3cr3t-Key-Value-9f2b"
TOKEN = "t0ken-Cookie-Value-77aa"


@pytest.fixture
def secret_emulator(monkeypatch: pytest.MonkeyPatch) -> Any:
    with SodaCloudEmulator(api_key_secret=SECRET, token=TOKEN) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", emulator.airflow_connection())
        yield emulator


def everything_stored(dag_run: Any) -> str:
    """XComs and rendered template fields of a run, as stored in the metadata DB."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rendered = session.query(RenderedTaskInstanceFields).filter_by(run_id=dag_run.run_id).all()
        return json.dumps(xcom_values(dag_run) + [r.rendered_fields for r in rendered], default=str)


@pytest.mark.parametrize("outcome", ["success", "401"])
def test_no_secret_in_task_logs_xcom_or_rendered_fields(
    dag_test: Any, secret_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], outcome: str
) -> None:
    if outcome == "401":
        secret_emulator.inject(Fault(status=401, times=10))
    dag_run = dag_test("soda_test_update_incident")

    assert task_instances(dag_run)["update"].state == ("success" if outcome == "success" else "failed")
    logs = task_logs(capsys)
    # the task's own log lines were captured, so their absence of secrets means something
    assert ("is now investigating" if outcome == "success" else "HTTP 401") in logs
    for secret in (SECRET, TOKEN):
        assert secret not in logs
        assert secret not in everything_stored(dag_run)


def test_no_secret_in_errors_or_reprs(secret_emulator: SodaCloudEmulator) -> None:
    secret_emulator.inject(Fault(status=401, body=json.dumps({"code": "x", "message": "bad"})))
    hook = SodaCloudHook()
    with pytest.raises(SodaCloudAuthenticationError) as excinfo:
        hook.update_incident(DEMO_INCIDENT_ID, status="fixing")
    for text in (str(excinfo.value), repr(excinfo.value), repr(hook), repr(hook.settings)):
        assert SECRET not in text


def test_no_token_in_errors_or_reprs(
    secret_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {"conn_type": "soda_cloud", "host": secret_emulator.url, "extra": {"token": TOKEN}}
    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", json.dumps(conn))
    hook = SodaCloudHook()
    assert hook.update_incident(DEMO_INCIDENT_ID, status="fixing").status_value == "fixing"
    secret_emulator.inject(Fault(status=403))
    with pytest.raises(SodaCloudPermissionError) as excinfo:
        hook.update_incident(DEMO_INCIDENT_ID, status="fixing")
    for text in (str(excinfo.value), repr(excinfo.value), repr(hook), repr(hook.settings)):
        assert TOKEN not in text


def test_secrets_are_registered_with_the_masker(secret_emulator: SodaCloudEmulator) -> None:
    from airflow.providers.common.compat.sdk import redact

    SodaCloudHook().settings  # noqa: B018 - reading the connection registers its secrets
    assert SECRET not in str(redact(f"oops {SECRET}"))


@pytest.mark.parametrize("auth", ["basic", "cookie"])
def test_a_redirect_never_carries_credentials_to_another_host(
    secret_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch, auth: str
) -> None:
    if auth == "cookie":
        conn = {"conn_type": "soda_cloud", "host": secret_emulator.url, "extra": {"token": TOKEN}}
        monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", json.dumps(conn))
    with SodaCloudEmulator() as elsewhere:
        target = f"{elsewhere.url}/api/v1/incidents/{DEMO_INCIDENT_ID}"
        secret_emulator.inject(Fault(status=307, body="", headers={"Location": target}))
        with pytest.raises(SodaCloudConfigError, match="never sent on"):
            SodaCloudHook().update_incident(DEMO_INCIDENT_ID, status="fixing")
        assert elsewhere.requests == []  # not followed at all
    assert len(secret_emulator.requests) == 1
