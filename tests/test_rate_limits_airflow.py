"""Pacing, deferral, bulk updates and the task retry policy, under dag.test() with compressed windows."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import task_instances, task_logs, xcom_value

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.exceptions import (
    SodaCloudBulkUpdateError,
    SodaCloudNotFoundError,
    SodaCloudRateLimitError,
    SodaCloudServerError,
)
from airflow_provider_soda.retry_policy import RETRY_POLICIES_SUPPORTED, SodaCloudRetryPolicy
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, Fault, SodaCloudEmulator

# Task retry policies arrived in Airflow 3.3; before that, tasks use their plain retries.
needs_retry_policies = pytest.mark.skipif(
    not RETRY_POLICIES_SUPPORTED, reason="Airflow < 3.3 has no task retry_policy"
)

IDS = [f"bulk-{n:02d}" for n in range(1, 8)]
LIMIT = RateLimit(3, 1.0)
# The deferrable task fills this window in its own pre_execute hook, milliseconds before execute():
# 6 s leaves a loaded machine ample time and keeps the triggerer's wait short.
SLOW_LIMIT = RateLimit(3, 6.0)


def pace(emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch, limit: RateLimit) -> SodaCloudEmulator:
    """Put the emulator and the connection both at ``limit``, with seven extra incidents."""
    emulator.rate_limits["update_incident"] = limit
    extra = {"rate_limits": {"update_incident": {"requests": limit.requests, "period": limit.period}}}
    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", emulator.airflow_connection(**extra))
    for incident_id in IDS:
        emulator.add_incident({"id": incident_id, "severity": "major", "description": "d"})
    return emulator


@pytest.fixture
def paced(soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch) -> SodaCloudEmulator:
    """3 updates per second."""
    return pace(soda_cloud_emulator, monkeypatch, LIMIT)


@pytest.fixture
def slow_paced(soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch) -> SodaCloudEmulator:
    """3 updates per 6 seconds."""
    return pace(soda_cloud_emulator, monkeypatch, SLOW_LIMIT)


def sent_ids(emulator: SodaCloudEmulator) -> list[str | None]:
    return [r.incident_id for r in emulator.requests_to("update_incident")]


def statuses(emulator: SodaCloudEmulator) -> list[int | None]:
    return [r.status for r in emulator.requests_to("update_incident")]


def test_deferral_and_resume_when_the_window_is_full(
    dag_test: Any, slow_paced: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    conf = {"ids": IDS[: SLOW_LIMIT.requests], "marker": str(tmp_path / "filled")}
    dag_run = dag_test("soda_test_deferrable_update", conf=conf)

    assert dag_run.state == "success"
    assert task_instances(dag_run)["update"].try_number == 1
    assert "in the triggerer" in task_logs(capsys)
    assert slow_paced.incident(DEMO_INCIDENT_ID)["status"] == "investigating"
    assert statuses(slow_paced) == [200] * (SLOW_LIMIT.requests + 1)  # waited instead of provoking a 429


def test_deferral_after_a_429_from_another_client(
    dag_test: Any, slow_paced: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    conf = {
        "ids": IDS[: SLOW_LIMIT.requests],
        "fill_window_as": "other_client",
        "marker": str(tmp_path / "filled"),
    }
    dag_run = dag_test("soda_test_deferrable_update", conf=conf)

    assert dag_run.state == "success"
    assert "in the triggerer" in task_logs(capsys)
    ours = statuses(slow_paced)[SLOW_LIMIT.requests :]
    assert ours[-1] == 200
    assert 1 <= ours.count(429) <= 2  # a growing share of the window, not one 429 per retry
    assert slow_paced.incident(DEMO_INCIDENT_ID)["status"] == "investigating"


@needs_retry_policies
def test_retry_policy_reschedules_after_retry_after(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    # 6 x 429 exhausts the hook's 5 retries; the error's retry_after (0.5 s, raised to the
    # policy's 1 s minimum) replaces the task's one-hour retry_delay.
    soda_cloud_emulator.inject(Fault(status=429, headers={"Retry-After": "0.5"}, times=6))
    dag_run = dag_test("soda_test_retry_policy")

    ti = task_instances(dag_run)["update"]
    assert (dag_run.state, ti.try_number) == ("success", 2)
    assert statuses(soda_cloud_emulator) == [429] * 6 + [200]


@needs_retry_policies
def test_retry_policy_decisions() -> None:
    from airflow.sdk import RetryAction

    policy = SodaCloudRetryPolicy(min_delay=1, max_delay=600)
    limited = SodaCloudRateLimitError("x", status_code=429, retry_after=42)
    decision = policy.evaluate(limited, try_number=1, max_tries=3)
    assert (decision.action, decision.retry_delay) == (RetryAction.RETRY, timedelta(seconds=42))
    huge = SodaCloudRateLimitError("x", status_code=429, retry_after=86400)
    assert policy.evaluate(huge, 1, 3).retry_delay == timedelta(seconds=600)
    wrapped = RuntimeError("task failed")
    wrapped.__cause__ = SodaCloudNotFoundError("x", status_code=404)
    assert policy.evaluate(wrapped, 1, 3).action is RetryAction.FAIL
    assert policy.evaluate(SodaCloudServerError("x", status_code=503), 1, 3).action is RetryAction.DEFAULT
    assert policy.evaluate(ValueError("unrelated"), 1, 3).action is RetryAction.DEFAULT
    assert SodaCloudRetryPolicy.deserialize(policy.serialize()).max_delay == 600


@needs_retry_policies
def test_operators_get_the_retry_policy_by_default() -> None:
    from airflow_provider_soda.operators.incidents import UpdateIncidentOperator

    op = UpdateIncidentOperator(task_id="t", incident_id="i", status="resolved")
    assert isinstance(op.retry_policy, SodaCloudRetryPolicy)
    assert UpdateIncidentOperator(task_id="u", incident_id="i", retry_policy=None).retry_policy is None


@pytest.mark.parametrize("mode", ["blocking", "deferrable"])
def test_bulk_update_paces_without_429(
    dag_test: Any, paced: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    dag_run = dag_test(f"soda_test_bulk_{mode}", conf={"incident_ids": IDS})

    assert dag_run.state == "success"
    assert task_instances(dag_run)["bulk"].try_number == 1
    assert sent_ids(paced) == IDS  # each once, in order, none skipped
    assert statuses(paced) == [200] * len(IDS)
    times = [r.at for r in paced.requests_to("update_incident")]
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + LIMIT.period) <= LIMIT.requests
    assert ("in the triggerer" in task_logs(capsys)) is (mode == "deferrable")
    results = xcom_value(dag_run, "bulk")
    assert [(r["incident_id"], r["ok"], r["status"]) for r in results] == [(i, True, "resolved") for i in IDS]
    assert xcom_value(dag_run, "bulk", key="incident_results") is None  # pushed once, as return_value
    assert all(dag_run.run_id in paced.incident(i)["resolutionNotes"] for i in IDS)


def test_bulk_404_in_the_middle_does_not_stop_the_others(dag_test: Any, paced: SodaCloudEmulator) -> None:
    ids = [*IDS[:3], "missing-incident", *IDS[3:]]
    dag_run = dag_test("soda_test_bulk_deferrable", conf={"incident_ids": ids})

    ti = task_instances(dag_run)["bulk"]
    assert (dag_run.state, ti.state, ti.try_number) == ("failed", "failed", 1)  # not retryable
    assert sent_ids(paced) == ids
    assert all(paced.incident(i)["status"] == "resolved" for i in IDS)
    results = {r["incident_id"]: r for r in xcom_value(dag_run, "bulk", key="incident_results")}
    assert (results["missing-incident"]["ok"], results["missing-incident"]["status_code"]) == (False, 404)
    assert "region where the incident lives" in results["missing-incident"]["error"]
    assert sum(r["ok"] for r in results.values()) == len(IDS)


def test_bulk_task_retry_sends_only_what_did_not_land(dag_test: Any, paced: SodaCloudEmulator) -> None:
    # The 3rd incident is rate limited beyond the hook's 5 retries on the first try only.
    paced.inject(Fault(status=429, headers={"Retry-After": "0.2"}, incident_id=IDS[2], times=6))
    dag_run = dag_test("soda_test_bulk_blocking", conf={"incident_ids": IDS})

    ti = task_instances(dag_run)["bulk"]
    assert (dag_run.state, ti.try_number) == ("success", 2)
    landed = [r.incident_id for r in paced.requests_to("update_incident") if r.status == 200]
    # The retry reads the incidents' state (one list request) and sends only the one that did not
    # land: it neither re-applies (overwriting edits made since) nor skips.
    assert landed == [i for i in IDS if i != IDS[2]] + [IDS[2]]
    (lookup,) = paced.requests_to("list_incidents")
    assert lookup.query["incidentIds"] == [",".join(IDS)]
    assert statuses(paced).count(429) == 6
    results = xcom_value(dag_run, "bulk")
    assert [r["skipped"] for r in results] == [i != IDS[2] for i in IDS]
    assert all(r["ok"] and r["status"] == "resolved" for r in results)
    assert all(paced.incident(i)["status"] == "resolved" for i in IDS)


@needs_retry_policies
def test_bulk_retryable_failure_carries_retry_after() -> None:
    error = SodaCloudBulkUpdateError("1 of 2 failed", retry_after=30)
    assert error.retryable is True
    decision = SodaCloudRetryPolicy().evaluate(error, 1, 3)
    assert decision.retry_delay == timedelta(seconds=30)


def test_bulk_per_incident_updates(dag_test: Any, soda_cloud_emulator: SodaCloudEmulator) -> None:
    dag_run = dag_test("soda_test_bulk_per_incident")

    assert dag_run.state == "success"
    demo = soda_cloud_emulator.incident(DEMO_INCIDENT_ID)
    assert (demo["status"], demo["description"], demo["name"]) == (
        "fixing",
        "being fixed",
        "soda_test_bulk_per_incident",
    )
    other = soda_cloud_emulator.incident("c0a8e4b1-93f2-4d57-8e6a-5b1d7f2c9e02")
    assert (other["severity"], other["status"]) == ("critical", "reported")


def test_bulk_validates_everything_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    from airflow_provider_soda.operators.incidents import UpdateIncidentsOperator

    op = UpdateIncidentsOperator(
        task_id="bulk",
        updates=[{"incident_id": "a", "status": "done"}, {"status": "fixing"}, {"incident_id": "b"}],
    )
    with pytest.raises(
        AirflowFailException, match=r"Nothing was sent.*#0 \('a'\).*status must be one of.*#1"
    ) as excinfo:
        op._plan()
    assert "#2 ('b'): Invalid incident update: nothing to update" in str(excinfo.value)
    with pytest.raises(ValueError, match="exactly one of incident_ids, updates or selection"):
        UpdateIncidentsOperator(task_id="neither")


def test_mapped_operator_over_incident_ids(dag_test: Any, soda_cloud_emulator: SodaCloudEmulator) -> None:
    dag_run = dag_test("soda_test_mapped")

    assert dag_run.state == "success"
    assert sorted(sent_ids(soda_cloud_emulator)) == sorted(
        [DEMO_INCIDENT_ID, "c0a8e4b1-93f2-4d57-8e6a-5b1d7f2c9e02"]
    )
    assert all(
        soda_cloud_emulator.incident(i)["status"] == "fixing" for i in soda_cloud_emulator.incident_ids()[:2]
    )
    json.dumps(xcom_value(dag_run, "update", map_index=0))
