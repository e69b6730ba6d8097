"""The example DAG end to end under dag.test() against the emulator: both paths."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import extra_link_url, task_instances, xcom_value

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


def test_extra_link_points_at_the_incident(dag_test: Any, soda_cloud_emulator: SodaCloudEmulator) -> None:
    from airflow_provider_soda.links.incidents import SodaCloudIncidentLink
    from airflow_provider_soda.operators.incidents import UpdateIncidentOperator

    dag_run = dag_test(DAG_ID, conf={"fail_pipeline": True})

    link = SodaCloudIncidentLink()
    assert link.name == "Soda Cloud incident"
    assert [type(x) for x in UpdateIncidentOperator.operator_extra_links] == [SodaCloudIncidentLink]
    stored = extra_link_url(dag_run, "mark_incident_investigating", link)
    assert stored == soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["cloudUrl"]
    assert stored.endswith(f"/incidents/{DEMO_INCIDENT_ID}")


@pytest.mark.parametrize(
    ("fail", "run_state", "status"), [(True, "failed", "investigating"), (False, "success", "resolved")]
)
def test_notifier_example(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, fail: bool, run_state: str, status: str
) -> None:
    dag_run = dag_test("example_soda_incident_notifiers", conf={"fail_pipeline": fail})

    assert dag_run.state == run_state
    incident = soda_cloud_emulator.incident(DEMO_INCIDENT_ID)
    assert incident["status"] == status
    text = incident["description"] if fail else incident["resolutionNotes"]
    assert dag_run.run_id in text


def test_many_incidents_example(dag_test: Any, soda_cloud_emulator: SodaCloudEmulator) -> None:
    from airflow_provider_soda.links.incidents import SodaCloudIncidentLink

    dag_run = dag_test("example_soda_many_incidents")

    assert dag_run.state == "success"
    ids = [f"5e1b0c7a-0d4f-4c2e-b6a1-9f8e7d6c5b{n:02d}" for n in (3, 4, 5)]
    for map_index, incident_id in enumerate(ids):
        incident = soda_cloud_emulator.incident(incident_id)
        assert incident["status"] == "resolved"
        assert dag_run.run_id in incident["resolutionNotes"]
        link = extra_link_url(dag_run, "resolve_incident", SodaCloudIncidentLink(), map_index=map_index)
        assert link == incident["cloudUrl"]
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "reported"
    assert sorted(r.incident_id for r in soda_cloud_emulator.requests_to("update_incident")) == sorted(ids)


def test_hook_example(dag_test: Any, soda_cloud_emulator: SodaCloudEmulator) -> None:
    reported_on_orders = [
        i["id"]
        for i in soda_cloud_emulator._incidents.values()
        if i["datasetId"] == "ds-orders" and i["status"] == "reported"
    ]
    assert reported_on_orders == [DEMO_INCIDENT_ID]  # the example has something to do

    dag_run = dag_test("example_soda_hook")

    assert dag_run.state == "success"
    for incident_id in reported_on_orders:
        assert soda_cloud_emulator.incident(incident_id)["status"] == "investigating"
    assert sorted(r.incident_id for r in soda_cloud_emulator.requests_to("update_incident")) == sorted(
        reported_on_orders
    )


def test_many_incidents_in_one_task_example(dag_test: Any, soda_cloud_emulator: SodaCloudEmulator) -> None:
    dag_run = dag_test("example_soda_many_incidents_one_task")

    assert dag_run.state == "success"
    ids = [f"5e1b0c7a-0d4f-4c2e-b6a1-9f8e7d6c5b{n:02d}" for n in (3, 4, 5)]
    for incident_id in ids:
        incident = soda_cloud_emulator.incident(incident_id)
        assert incident["status"] == "resolved"
        assert dag_run.run_id in incident["resolutionNotes"]
    assert [r.incident_id for r in soda_cloud_emulator.requests_to("update_incident")] == ids
