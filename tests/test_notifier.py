"""SodaCloudIncidentNotifier under dag.test() against the emulator, at task and DAG level."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import DAG_TEST_PASSES_EXCEPTIONS, task_instances, task_logs

from airflow_provider_soda.notifications.incidents import (
    SodaCloudIncidentNotifier,
    send_soda_cloud_incident_notification,
)
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, Fault, SodaCloudEmulator
from airflow_provider_soda.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS


def updates(emulator: SodaCloudEmulator) -> list[dict[str, Any]]:
    return [entry["changes"] for entry in emulator.history(DEMO_INCIDENT_ID)]


def test_alias_and_template_fields() -> None:
    assert send_soda_cloud_incident_notification is SodaCloudIncidentNotifier
    assert set(SodaCloudIncidentNotifier.template_fields) == {
        "incident_id",
        "status",
        "severity",
        "title",
        "description",
        "resolution_notes",
        "soda_cloud_conn_id",
    }


def test_task_level_failure_moves_incident_to_investigating(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    dag_run = dag_test("soda_test_task_notifier", conf={"fail": True})

    assert dag_run.state == "failed"
    (change,) = updates(soda_cloud_emulator)
    # By default the description people or Soda wrote is kept, and no exception text leaves.
    assert change == {"status": "investigating"}


def test_describing_failures_and_errors_is_opt_in(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    dag_run = dag_test("soda_test_describing_notifier", conf={"fail": True})

    assert dag_run.state == "failed"
    (change,) = updates(soda_cloud_emulator)
    assert change["status"] == "investigating"
    description = change["description"]
    for part in ("task pipeline failed", "soda_test_describing_notifier", dag_run.run_id, "try 1"):
        assert part in description
    if DAG_TEST_PASSES_EXCEPTIONS:
        assert "RuntimeError: source returned no rows" in description


def test_task_level_success_resolves_with_notes(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    dag_run = dag_test("soda_test_task_notifier", conf={"fail": False})

    assert dag_run.state == "success"
    (change,) = updates(soda_cloud_emulator)
    assert change["status"] == "resolved"
    assert f"run {dag_run.run_id}" in change["resolutionNotes"]
    assert "description" not in change


def test_dag_level_notifier_with_a_literal_incident_id(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    """Works on every release, Airflow 3.0 included (its DAG-level callbacks get no run context)."""
    failed = dag_test("soda_test_dag_notifier_literal", conf={"fail": True})
    assert failed.state == "failed"
    (update,) = updates(soda_cloud_emulator)
    assert update["status"] == "investigating"
    assert f"run {failed.run_id} failed" in update["description"]


@pytest.mark.skipif(
    AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS,
    reason="Airflow 3.0 gives DAG-level callbacks no run context (see the next test)",
)
def test_dag_level_failure_and_success(dag_test: Any, soda_cloud_emulator: SodaCloudEmulator) -> None:
    failed = dag_test("soda_test_dag_notifier", conf={"fail": True})
    assert failed.state == "failed"
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "investigating"

    fixed = dag_test("soda_test_dag_notifier", conf={"fail": False})
    assert fixed.state == "success"
    incident = soda_cloud_emulator.incident(DEMO_INCIDENT_ID)
    assert incident["status"] == "resolved"
    assert incident["resolutionNotes"] == f"Resolved by {fixed.run_id}"
    assert [c["status"] for c in updates(soda_cloud_emulator)] == ["investigating", "resolved"]
    assert failed.run_id in updates(soda_cloud_emulator)[0]["description"]


@pytest.mark.skipif(
    not AIRFLOW_V_3_0_PLUS or AIRFLOW_V_3_1_PLUS, reason="only Airflow 3.0 strips DAG-level callback contexts"
)
def test_dag_level_templates_on_airflow_3_0_say_what_to_do(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Airflow 3.0 passes DAG-level callbacks only dag, run_id and reason: a template reading params
    cannot render. No incident is touched (guessing could move the wrong one), and the log says why
    and what to do instead of showing a template traceback."""
    failed = dag_test("soda_test_dag_notifier", conf={"fail": True})
    assert failed.state == "failed"
    assert soda_cloud_emulator.requests_to("update_incident") == []
    logs = task_logs(capsys)
    assert "This Airflow gives DAG-level callbacks no run context" in logs
    assert "Give a literal incident_id" in logs


def test_retry_callback_then_success(dag_test: Any, soda_cloud_emulator: SodaCloudEmulator) -> None:
    dag_run = dag_test("soda_test_retry_notifier")

    assert dag_run.state == "success"
    retry, success = updates(soda_cloud_emulator)
    assert (retry["status"], retry["severity"]) == ("investigating", "critical")
    assert "will be retried" in retry["description"]
    if DAG_TEST_PASSES_EXCEPTIONS:
        assert "ConnectionError: warehouse timed out" in retry["description"]
    assert success["status"] == "resolved"


@pytest.mark.parametrize(("fail", "expected_state"), [(True, "failed"), (False, "success")])
def test_missing_incident_is_logged_and_the_run_keeps_its_state(
    dag_test: Any,
    soda_cloud_emulator: SodaCloudEmulator,
    capsys: pytest.CaptureFixture[str],
    fail: bool,
    expected_state: str,
) -> None:
    dag_run = dag_test("soda_test_task_notifier", conf={"fail": fail, "incident_id": "no-such-incident"})

    assert dag_run.state == expected_state
    assert task_instances(dag_run)["pipeline"].state == expected_state
    assert [r.status for r in soda_cloud_emulator.requests] == [404]
    output = capsys.readouterr()
    logged = output.out + output.err
    assert "Could not update Soda Cloud incident 'no-such-incident'" in logged
    assert "region where the incident lives" in logged


def test_soda_outage_does_not_change_the_task_outcome(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    soda_cloud_emulator.inject(Fault(status=401, times=1))
    dag_run = dag_test("soda_test_task_notifier", conf={"fail": False})

    assert dag_run.state == "success"
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "reported"
