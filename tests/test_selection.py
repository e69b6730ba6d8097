"""Bulk updates by selection (safety, dry run, skips, deferral) and the quality gate, under dag.test()."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import task_instances, task_logs, xcom_value

from airflow_provider_soda.exceptions import SodaCloudValidationError
from airflow_provider_soda.selection import IncidentSelection
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, SodaCloudEmulator

ORDERS_OPEN = [DEMO_INCIDENT_ID, "inc-orders-dup"]


def updated(emulator: SodaCloudEmulator) -> list[str]:
    return [r.incident_id for r in emulator.requests_to("update_incident") if r.incident_id]


# -- the example DAGs -----------------------------------------------------------------------------


def test_example_resolves_every_open_incident_of_the_dataset(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    dag_run = dag_test("example_soda_resolve_after_backfill")

    assert dag_run.state == "success"
    assert sorted(updated(soda_cloud_emulator)) == sorted(ORDERS_OPEN)  # the dry run sent nothing
    for incident_id in ORDERS_OPEN:
        incident = soda_cloud_emulator.incident(incident_id)
        assert incident["status"] == "resolved"
        assert dag_run.run_id in incident["resolutionNotes"]
    assert soda_cloud_emulator.history("inc-orders-late") == []  # resolved already: not selected
    preview = xcom_value(dag_run, "preview")
    assert {p["incident_id"]: p["changes"] for p in preview} == {
        DEMO_INCIDENT_ID: {"status": ["reported", "resolved"]},
        "inc-orders-dup": {"status": ["investigating", "resolved"]},
    }
    assert all(p["dry_run"] for p in preview)
    results = xcom_value(dag_run, "resolve_open_incidents")
    assert [(r["incident_id"], r["ok"], r["status"]) for r in results] == [
        (DEMO_INCIDENT_ID, True, "resolved"),
        ("inc-orders-dup", True, "resolved"),
    ]
    json.dumps(results)


def test_example_gate_skips_publishing_while_a_critical_incident_is_open(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    closed = dag_test("example_soda_publish_gate")

    assert closed.state == "success"
    tis = task_instances(closed)
    assert (tis["quality_gate"].state, tis["publish"].state) == ("skipped", "skipped")
    assert [i["id"] for i in xcom_value(closed, "quality_gate", key="open_incidents")] == ["inc-orders-dup"]

    soda_cloud_emulator._update("inc-orders-dup", {"status": "resolved"})  # someone fixes it
    opened = dag_test("example_soda_publish_gate")
    assert opened.state == "success"
    tis = task_instances(opened)
    assert (tis["quality_gate"].state, tis["publish"].state) == ("success", "success")
    assert xcom_value(opened, "quality_gate") == []
    assert soda_cloud_emulator.requests_to("update_incident") == []  # the gate only reads


# -- selection safety -------------------------------------------------------------------------------


def test_incidents_already_as_asked_are_skipped_without_a_request(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    dag_run = dag_test("soda_test_update_selection", conf={"selection": {"dataset_id": "ds-orders"}})

    assert dag_run.state == "success"
    assert sorted(updated(soda_cloud_emulator)) == sorted(ORDERS_OPEN)
    results = {r["incident_id"]: r for r in xcom_value(dag_run, "update")}
    assert results["inc-orders-late"]["skipped"] is True
    assert results[DEMO_INCIDENT_ID]["skipped"] is False
    assert soda_cloud_emulator.history("inc-orders-late") == []


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({}, "the selection has no filter, so it would select every incident"),
        ({"dataset_id": None, "status": None}, "the selection has no filter"),
        (
            {"status": "open"},
            "would change 9 Soda Cloud incidents (9 match), more than max_incidents=3; nothing was sent",
        ),
        ({"status": "done"}, "status must be one of: reported, investigating, fixing, resolved"),
        ({"created_from": "2026-11-01T00:00:00"}, "has no timezone"),
        ({"dataset": "ds-orders"}, "unknown filter 'dataset'; valid filters: status, severity, dataset_id"),
    ],
)
def test_unsafe_or_invalid_selections_fail_before_the_first_update(
    dag_test: Any,
    soda_cloud_emulator: SodaCloudEmulator,
    capsys: pytest.CaptureFixture[str],
    selection: dict[str, Any],
    message: str,
) -> None:
    dag_run = dag_test("soda_test_update_selection", conf={"selection": selection})

    assert dag_run.state == "failed"
    assert updated(soda_cloud_emulator) == []
    assert message in task_logs(capsys)


def test_an_empty_literal_selection_fails_at_parse_time() -> None:
    from airflow_provider_soda.operators.incidents import UpdateIncidentsOperator

    with pytest.raises(ValueError, match="allow_unfiltered_selection=True"):
        UpdateIncidentsOperator(task_id="all", selection={}, status="resolved")
    with pytest.raises(ValueError, match="exactly one of incident_ids, updates or selection"):
        UpdateIncidentsOperator(task_id="both", selection={"status": "open"}, incident_ids=["a"])
    UpdateIncidentsOperator(task_id="ok", selection={}, allow_unfiltered_selection=True, status="resolved")


def test_dry_run_by_ids_reads_and_reports_missing_ones(soda_cloud_emulator: SodaCloudEmulator) -> None:
    from airflow_provider_soda.operators.incidents import UpdateIncidentsOperator

    op = UpdateIncidentsOperator(
        task_id="dry",
        incident_ids=[DEMO_INCIDENT_ID, "inc-orders-late", "nope"],
        status="resolved",
        dry_run=True,
    )
    results = {r["incident_id"]: r for r in op._run({"ti": None}, {})}  # type: ignore[arg-type]
    assert results[DEMO_INCIDENT_ID]["changes"] == {"status": ["reported", "resolved"]}
    assert results["inc-orders-late"]["skipped"] is True
    assert results["nope"]["ok"] is False
    assert "has no incident 'nope'" in results["nope"]["error"]
    assert soda_cloud_emulator.requests_to("update_incident") == []


def test_a_deferred_selection_resumes_on_the_incidents_it_selected(
    dag_test: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Deferring between updates must not re-list: updated incidents no longer match "open"."""
    with SodaCloudEmulator(incidents=[{"id": f"i{n}", "status": "reported"} for n in range(5)]) as emulator:
        extra = {"rate_limits": {"update_incident": {"requests": 2, "period": 1}}}
        monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", emulator.airflow_connection(**extra))
        dag_run = dag_test("soda_test_update_selection_deferrable")

        assert dag_run.state == "success"
        assert sorted(updated(emulator)) == [f"i{n}" for n in range(5)]  # each once
        assert all(emulator.incident(f"i{n}")["status"] == "resolved" for n in range(5))
        assert "waiting in the triggerer" in task_logs(capsys)


# -- the gate ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conf", "blocking"),
    [
        ({"dataset_ids": ["ds-orders"], "min_severity": "critical"}, ["inc-orders-dup"]),
        ({"dataset_ids": ["ds-customers"], "min_severity": "critical"}, []),
        ({"dataset_ids": ["ds-customers"], "min_severity": "major"}, ["inc-customers-schema"]),
        (
            {"dataset_ids": ["ds-customers", "ds-inventory"], "min_severity": "minor"},
            [
                "c0a8e4b1-93f2-4d57-8e6a-5b1d7f2c9e02",
                "inc-customers-schema",
                "inc-inventory-stock",
                "inc-inventory-stale",
            ],
        ),
        ({"dataset_ids": ["ds-payments"], "min_severity": "critical"}, []),  # its critical one is resolved
    ],
)
def test_gate_fails_on_open_incidents_at_or_above_the_severity(
    dag_test: Any,
    soda_cloud_emulator: SodaCloudEmulator,
    capsys: pytest.CaptureFixture[str],
    conf: dict[str, Any],
    blocking: list[str],
) -> None:
    dag_run = dag_test("soda_test_gate", conf=conf)

    assert dag_run.state == ("failed" if blocking else "success")
    found = xcom_value(dag_run, "gate", key="open_incidents")
    assert sorted(i["id"] for i in found) == sorted(blocking)
    logs = task_logs(capsys)
    for incident_id in blocking:
        assert soda_cloud_emulator.incident(incident_id)["cloudUrl"] in logs
    if blocking:
        assert "SodaCloudIncidentsOpenError" in logs
        assert "Gate closed" in logs
    # status filtered on the server (3 open statuses per dataset), severity here when several count
    assert len(soda_cloud_emulator.requests_to("list_incidents")) == 3 * len(conf["dataset_ids"])


def test_gate_refuses_an_unknown_severity(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    dag_run = dag_test("soda_test_gate", conf={"min_severity": "urgent"})

    assert dag_run.state == "failed"
    assert "severity must be one of: minor, major, critical" in task_logs(capsys)
    assert soda_cloud_emulator.requests == []


@pytest.mark.parametrize(
    ("filters", "query"),
    [
        ({"lead_id": "user-7"}, {"leadId": "user-7"}),
        ({"created_from": "2026-11-01T00:00:00+00:00"}, {"from": "2026-11-01T00:00:00+00:00"}),
        ({"created_to": "2026-11-02T00:00:00+00:00"}, {"to": "2026-11-02T00:00:00+00:00"}),
        ({"incident_ids": ["a", "b"]}, {"incidentIds": "a,b"}),
    ],
)
def test_each_filter_alone_is_a_filter(filters: dict[str, Any], query: dict[str, str]) -> None:
    """Any one filter narrows the selection: none of them alone may be refused as 'unfiltered'."""
    selection = IncidentSelection.build(**filters)

    assert not selection.is_unfiltered()
    assert list(selection.queries()) == [query]


@pytest.mark.parametrize(
    "filters", [{"status": "fixing"}, {"severity": "major"}, {"dataset_id": "ds-orders"}]
)
def test_each_several_valued_filter_alone_is_a_filter(filters: dict[str, Any]) -> None:
    selection = IncidentSelection.build(**filters)

    assert not selection.is_unfiltered()
    assert IncidentSelection.build().is_unfiltered()


def test_bounds_in_the_wrong_order_are_refused() -> None:
    created_from, created_to = "2026-11-02T00:00:00+00:00", "2026-11-01T00:00:00+00:00"
    with pytest.raises(
        SodaCloudValidationError, match="created_from is after created_to: nothing could match"
    ):
        IncidentSelection.build(created_from=created_from, created_to=created_to)
    # equal bounds select one instant: allowed
    IncidentSelection.build(created_from=created_from, created_to=created_from)
