"""Defects a review found in real DAGs (issue "Correct in real DAGs"): each test fails on the code
before its fix."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_soda.notifications.incidents import SodaCloudIncidentNotifier
from airflow_provider_soda.retry_policy import default_retry_policy
from airflow_provider_soda.testing import SodaCloudEmulator


def test_one_notifier_called_for_two_runs_updates_each_runs_incident(
    soda_cloud_emulator: SodaCloudEmulator,
) -> None:
    """The DAG processor runs all queued DAG-level callbacks of a file against one parsed DAG, so
    one notifier object; each call must render its own context, not the first one's."""
    for incident_id in ("inc-A", "inc-B"):
        soda_cloud_emulator.add_incident({"id": incident_id})
    notifier = SodaCloudIncidentNotifier(incident_id="{{ params.incident_id }}", status="investigating")
    for incident_id in ("inc-A", "inc-B"):
        dag_level: Any = {
            "params": {"incident_id": incident_id},
            "reason": "task_failure",
            "run_id": "r",
            "dag": None,  # every context has one; Airflow 2's notifier reads it
        }
        notifier(dag_level)
    task_level: Any = {
        "params": {"incident_id": "inc-A"},
        "ti": type("TI", (), {"task_id": "t", "try_number": 1, "state": "failed"})(),
        "run_id": "r2",
        "dag": None,
    }
    notifier(task_level)
    assert [r.incident_id for r in soda_cloud_emulator.requests_to("update_incident")] == [
        "inc-A",
        "inc-B",
        "inc-A",
    ]
    assert notifier.incident_id == "{{ params.incident_id }}"  # the object itself stays a template


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        ("['inc-A', 'inc-B']", ["inc-A", "inc-B"]),  # what {{ ti.xcom_pull(...) }} renders to
        ('["inc-A", "inc-B"]', ["inc-A", "inc-B"]),  # JSON
        (["inc-A", "inc-B"], ["inc-A", "inc-B"]),  # native rendering or an XComArg
    ],
)
def test_incident_ids_from_a_rendered_list(rendered: Any, expected: list[str]) -> None:
    from airflow_provider_soda.operators.incidents import UpdateIncidentsOperator

    operator = UpdateIncidentsOperator(task_id="bulk", incident_ids=["x"], status="resolved")
    operator.incident_ids = rendered  # as after template rendering
    assert [incident_id for incident_id, _ in operator._plan()] == expected


@pytest.mark.parametrize("rendered", ["inc-A", "inc-A,inc-B", "[broken", 42])
def test_incident_ids_that_are_not_a_list_are_refused_before_any_request(
    rendered: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    from airflow_provider_soda.operators.incidents import UpdateIncidentsOperator

    operator = UpdateIncidentsOperator(task_id="bulk", incident_ids=["x"], status="resolved")
    operator.incident_ids = rendered
    with pytest.raises(AirflowFailException, match=r"must be a list of incident ids.*Nothing was sent"):
        operator.execute({"ti": None})  # type: ignore[arg-type]
    assert soda_cloud_emulator.requests == []  # not one request per character


def test_a_dag_written_for_retry_policies_parses_on_every_release(caplog: pytest.LogCaptureFixture) -> None:
    """Where Airflow has no task retry policies (< 3.3) the policy is dropped with one warning,
    so that one DAG file serves every release; where it has them, the policy is the task's."""
    from datetime import datetime

    from airflow.providers.common.compat.sdk import DAG

    from airflow_provider_soda.operators import _base
    from airflow_provider_soda.operators.incidents import UpdateIncidentOperator
    from airflow_provider_soda.retry_policy import RETRY_POLICIES_SUPPORTED, SodaCloudRetryPolicy

    _base._warn_no_retry_policies.cache_clear()
    mine = SodaCloudRetryPolicy(max_delay=600)
    with (
        caplog.at_level("WARNING", logger=_base.__name__),
        DAG("portable", schedule=None, start_date=datetime(2026, 1, 1), default_args={"retry_policy": mine}),
    ):
        explicit = UpdateIncidentOperator(task_id="a", incident_id="i", status="resolved", retry_policy=mine)
        from_default_args = UpdateIncidentOperator(task_id="b", incident_id="i", status="resolved")
    warnings = [r.getMessage() for r in caplog.records if "retry_policy is ignored" in r.getMessage()]
    if RETRY_POLICIES_SUPPORTED:
        assert explicit.retry_policy is mine
        assert from_default_args.retry_policy is mine
        assert warnings == []
    else:
        assert getattr(explicit, "retry_policy", None) is None
        assert getattr(from_default_args, "retry_policy", None) is None
        assert len(warnings) == 1  # once per process, not once per task
        assert "need Airflow 3.3+" in warnings[0]


@pytest.mark.skipif(
    default_retry_policy() is None,
    reason="Airflow < 3.3 has no task retry_policy",
)
def test_the_default_retry_policy_reaches_mapped_tasks_and_yields_to_default_args() -> None:
    from datetime import datetime

    from airflow.providers.common.compat.sdk import DAG

    from airflow_provider_soda.operators.incidents import UpdateIncidentOperator
    from airflow_provider_soda.retry_policy import SodaCloudRetryPolicy

    mine = SodaCloudRetryPolicy(min_delay=7)
    with DAG("plain", schedule=None, start_date=datetime(2026, 1, 1)):
        plain = UpdateIncidentOperator(task_id="plain", incident_id="i", status="resolved")
        off = UpdateIncidentOperator(task_id="off", incident_id="i", status="resolved", retry_policy=None)
        mapped = UpdateIncidentOperator.partial(task_id="mapped", status="resolved").expand(incident_id=["a"])
    with DAG("defaults", schedule=None, start_date=datetime(2026, 1, 1), default_args={"retry_policy": mine}):
        from_default_args = UpdateIncidentOperator(task_id="t", incident_id="i", status="resolved")
        mapped_default_args = UpdateIncidentOperator.partial(task_id="m", status="resolved").expand(
            incident_id=["a"]
        )
    assert isinstance(plain.retry_policy, SodaCloudRetryPolicy)
    assert off.retry_policy is None
    assert isinstance(mapped.retry_policy, SodaCloudRetryPolicy)  # was None: partial() filled it
    assert from_default_args.retry_policy is mine  # was replaced by the provider's
    assert mapped_default_args.retry_policy is mine


def test_statuses_are_classified_without_sockets() -> None:
    from airflow_provider_soda.hooks.retry import Outcome, classify

    expected = {
        200: Outcome.OK,
        204: Outcome.OK,
        299: Outcome.OK,
        300: Outcome.REDIRECT,
        301: Outcome.REDIRECT,
    }
    expected |= {307: Outcome.REDIRECT, 399: Outcome.REDIRECT, 199: Outcome.FINAL}
    expected |= {429: Outcome.RATE_LIMITED, 500: Outcome.TRANSIENT, 502: Outcome.TRANSIENT}
    expected |= {503: Outcome.TRANSIENT, 504: Outcome.TRANSIENT, 400: Outcome.FINAL, 401: Outcome.FINAL}
    expected |= {403: Outcome.FINAL, 404: Outcome.FINAL, 501: Outcome.FINAL, 418: Outcome.FINAL}
    assert {status: classify(status) for status in expected} == expected


def test_a_tls_failure_keeps_its_cause_and_says_what_it_was(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """https:// to a server that speaks plain HTTP: the TLS handshake fails. The error used to say
    only "(SSLError)"; now it carries the TLS library's reason and chains the original exception."""
    import json

    import requests

    from airflow_provider_soda.exceptions import SodaCloudConnectionError
    from airflow_provider_soda.hooks.retry import RetryLimits
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    connection = json.loads(soda_cloud_emulator.airflow_connection())
    connection["host"] = soda_cloud_emulator.url.replace("http://", "https://")
    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", json.dumps(connection))
    hook = SodaCloudHook(retry_limits=RetryLimits(max_transient_retries=0))
    with pytest.raises(SodaCloudConnectionError) as excinfo:
        hook.update_incident("inc-A", status="fixing")
    assert isinstance(excinfo.value.__cause__, requests.exceptions.SSLError)
    message = str(excinfo.value)
    assert "SSLError: " in message
    assert any(word in message.lower() for word in ("ssl", "tls", "version", "record"))
    assert connection["password"] not in message


def test_dag_authors_tune_the_hook_through_hook_params() -> None:
    from airflow_provider_soda.hooks.retry import RetryLimits
    from airflow_provider_soda.notifications.incidents import notifier_budget
    from airflow_provider_soda.operators.incidents import UpdateIncidentOperator, UpdateIncidentsOperator

    tuned = {"max_transient_retries": 7, "backoff_cap": 60.0}
    operator = UpdateIncidentOperator(task_id="t", incident_id="i", status="resolved", hook_params=tuned)
    assert (operator.hook.retry_limits.max_transient_retries, operator.hook.retry_limits.backoff_cap) == (
        7,
        60,
    )
    deferrable = UpdateIncidentsOperator(
        task_id="b", incident_ids=["i"], status="resolved", deferrable=True, hook_params=tuned
    )
    limits = deferrable.hook.retry_limits
    assert (limits.max_transient_retries, limits.max_queue_wait) == (7, deferrable.defer_after_seconds)
    notifier = SodaCloudIncidentNotifier(incident_id="i", hook_params={"max_queue_wait": 60})
    assert notifier_budget(dag_level=False).updated(notifier.hook_params).max_queue_wait == 60
    with pytest.raises(ValueError, match=r"unknown key\(s\) 'retries'.*max_transient_retries"):
        UpdateIncidentOperator(task_id="u", incident_id="i", status="resolved", hook_params={"retries": 3})
    assert RetryLimits().updated(None) == RetryLimits()
