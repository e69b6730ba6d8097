"""The example DAG end to end under dag.test() against the emulator: both paths."""

from __future__ import annotations

from typing import Any

from conftest import task_instances, xcom_value

from airflow_provider_soda.testing import DEMO_INCIDENT_ID, SodaCloudEmulator

DAG_ID = "example_soda_incident_lifecycle"


def test_failing_pipeline_moves_incident_to_investigating(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    dag_run = dag_test(DAG_ID, conf={"fail_pipeline": True})

    assert dag_run.state == "failed"
    tis = task_instances(dag_run)
    assert tis["load_orders"].state == "failed"
    assert tis["mark_incident_investigating"].state == "success"
    assert tis["resolve_incident"].state == "upstream_failed"
    incident = soda_cloud_emulator.incident(DEMO_INCIDENT_ID)
    assert incident["status"] == "investigating"
    assert dag_run.run_id in incident["description"]
    assert [h["status"] for h in soda_cloud_emulator.history(DEMO_INCIDENT_ID)] == ["investigating"]


def test_succeeding_pipeline_resolves_incident_with_notes(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    dag_run = dag_test(DAG_ID, conf={"fail_pipeline": False})

    assert dag_run.state == "success"
    assert task_instances(dag_run)["mark_incident_investigating"].state == "skipped"
    incident = soda_cloud_emulator.incident(DEMO_INCIDENT_ID)
    assert incident["status"] == "resolved"
    assert f"run {dag_run.run_id}" in incident["resolutionNotes"]
    pushed = xcom_value(dag_run, "resolve_incident")
    assert pushed["status"] == "resolved"
    assert pushed["cloud_url"] == incident["cloudUrl"]


def test_incident_id_from_dag_run_conf_overrides_params(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    other = "c0a8e4b1-93f2-4d57-8e6a-5b1d7f2c9e02"
    dag_run = dag_test(DAG_ID, conf={"incident_id": other})

    assert dag_run.state == "success"
    assert soda_cloud_emulator.incident(other)["status"] == "resolved"
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "reported"
