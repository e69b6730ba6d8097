"""UpdateIncidentOperator under real Airflow (dag.test) against the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import task_instances, xcom_value

from airflow_provider_soda.operators.incidents import UpdateIncidentOperator
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, Fault, SodaCloudEmulator

DAG_ID = "soda_test_update_incident"


def test_template_fields_cover_every_argument() -> None:
    assert set(UpdateIncidentOperator.template_fields) == {
        "incident_id",
        "status",
        "severity",
        "title",
        "description",
        "resolution_notes",
        "soda_cloud_conn_id",
    }


def test_arguments_are_keyword_only() -> None:
    from airflow.providers.common.compat.sdk import AirflowException

    # Airflow 2 refuses positional arguments itself, before the operator's own signature does.
    with pytest.raises((TypeError, AirflowException), match=r"keyword|positional"):
        UpdateIncidentOperator("update", "incident")  # type: ignore[misc]


def test_every_templated_field_renders() -> None:
    from airflow.providers.common.compat.sdk import DAG

    with DAG(dag_id="render_check", schedule=None):
        op = UpdateIncidentOperator(
            task_id="update",
            incident_id="{{ params.id }}",
            status="{{ params.status }}",
            severity="{{ params.severity }}",
            title="Title {{ params.id }}",
            description="Described in {{ params.id }}",
            resolution_notes="Notes {{ params.id }}",
            soda_cloud_conn_id="{{ params.conn }}",
        )
    context: Any = {
        "params": {"id": "abc", "status": "resolved", "severity": "minor", "conn": "soda_prod"},
    }
    op.render_template_fields(context)
    assert (op.incident_id, op.status, op.severity) == ("abc", "resolved", "minor")
    assert (op.title, op.description, op.resolution_notes) == ("Title abc", "Described in abc", "Notes abc")
    assert op.soda_cloud_conn_id == "soda_prod"


def test_constructing_the_operator_reads_no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", raising=False)
    op = UpdateIncidentOperator(task_id="t", incident_id="x", status="resolved")
    assert "hook" not in op.__dict__


def test_rendered_values_reach_soda_and_the_incident_goes_to_xcom(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    dag_run = dag_test(DAG_ID, conf={"status": " Fixing "})

    assert dag_run.state == "success"
    (request,) = soda_cloud_emulator.requests_to("update_incident")
    assert request.incident_id == DEMO_INCIDENT_ID
    assert request.body == {"status": "fixing", "description": f"Run {dag_run.run_id} of {DAG_ID}"}
    assert request.user_agent is not None
    assert request.user_agent.startswith("airflow-provider-soda/")
    pushed = xcom_value(dag_run, "update")
    assert pushed["status"] == "fixing"
    assert pushed["number"] == 1
    assert pushed["cloud_url"].endswith(f"/incidents/{DEMO_INCIDENT_ID}")
    json.dumps(pushed)  # JSON-serialisable


def test_invalid_status_after_rendering_fails_without_retry_or_request(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    dag_run = dag_test(DAG_ID, conf={"status": "done"})

    assert dag_run.state == "failed"
    ti = task_instances(dag_run)["update"]
    assert ti.state == "failed"
    assert ti.try_number == 1  # retries=1 was not used
    assert soda_cloud_emulator.requests == []


@pytest.mark.parametrize("status", [400, 403, 404])
def test_non_retryable_api_errors_fail_without_burning_retries(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, status: int
) -> None:
    soda_cloud_emulator.inject(Fault(status=status, times=5))
    dag_run = dag_test(DAG_ID)

    ti = task_instances(dag_run)["update"]
    assert (dag_run.state, ti.state, ti.try_number) == ("failed", "failed", 1)
    assert len(soda_cloud_emulator.requests) == 1


def test_unknown_incident_fails_once(dag_test: Any, soda_cloud_emulator: SodaCloudEmulator) -> None:
    dag_run = dag_test(DAG_ID, conf={"incident_id": "no-such-incident"})

    ti = task_instances(dag_run)["update"]
    assert (ti.state, ti.try_number) == ("failed", 1)
    assert [r.status for r in soda_cloud_emulator.requests] == [404]


def test_wrong_api_key_fails_once(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = json.loads(soda_cloud_emulator.airflow_connection())
    conn["password"] = "wrong-secret"
    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", json.dumps(conn))
    dag_run = dag_test(DAG_ID)

    ti = task_instances(dag_run)["update"]
    assert (ti.state, ti.try_number) == ("failed", 1)
    assert [r.status for r in soda_cloud_emulator.requests] == [401]
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "reported"


def test_persistent_server_errors_use_airflow_retries(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    # 1 attempt + 3 hook retries all get 503; the task's Airflow retry then succeeds.
    soda_cloud_emulator.inject(Fault(status=503, times=4))
    dag_run = dag_test(DAG_ID)

    ti = task_instances(dag_run)["update"]
    assert (dag_run.state, ti.state, ti.try_number) == ("success", "success", 2)
    assert [r.status for r in soda_cloud_emulator.requests] == [503, 503, 503, 503, 200]
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "investigating"
