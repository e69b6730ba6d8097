"""Test DAGs for pacing, deferral, bulk updates and the task retry policy."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
from airflow_provider_soda.operators.incidents import UpdateIncidentOperator, UpdateIncidentsOperator
from airflow_provider_soda.retry_policy import default_retry_policy

# Plain Airflow retries: opt out of SodaCloudRetryPolicy where it exists (Airflow >= 3.3).
PLAIN_RETRIES: dict[str, Any] = {"retry_policy": None} if default_retry_policy() is not None else {}

DEMO = "7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01"
START = datetime(2026, 1, 1)


def fill_window(context: Any) -> None:
    """Use up the update window right before the deferrable task's execute(), in its own process.

    A ``pre_execute`` hook, not an upstream task: the gap between two tasks under dag.test() can
    outlast any window short enough for a test on a loaded machine. The hook runs again when the
    task resumes from the triggerer; the marker file keeps that second run from filling again.
    """
    params = context["params"]
    marker = Path(params["marker"])
    if marker.exists():
        return
    marker.touch()
    hook = SodaCloudHook()
    for incident_id in params["ids"]:
        if params["fill_window_as"] == "this_process":
            hook.update_incident(incident_id, status="fixing")
        else:  # the same API key, but not through this process's limiter
            hook.get_conn().post(
                f"{hook.base_url}/api/v1/incidents/{incident_id}", json={}
            ).raise_for_status()


with DAG(
    dag_id="soda_test_deferrable_update",
    schedule=None,
    start_date=START,
    params={
        "fill_window_as": Param("this_process", enum=["this_process", "other_client"]),
        "ids": [],
        "marker": "",
    },
):
    UpdateIncidentOperator(
        task_id="update",
        incident_id=DEMO,
        status="investigating",
        deferrable=True,
        defer_after_seconds=0.1,
        retries=0,
        pre_execute=fill_window,
    )

with DAG(dag_id="soda_test_retry_policy", schedule=None, start_date=START):
    # retry_delay is an hour: only the Soda Cloud retry policy (Retry-After) makes the retry quick.
    UpdateIncidentOperator(
        task_id="update", incident_id=DEMO, status="fixing", retries=1, retry_delay=timedelta(hours=1)
    )

for deferrable in (False, True):
    with DAG(
        dag_id=f"soda_test_bulk_{'deferrable' if deferrable else 'blocking'}",
        schedule=None,
        start_date=START,
        render_template_as_native_obj=True,
        params={"incident_ids": Param([], type="array")},
    ):
        UpdateIncidentsOperator(
            task_id="bulk",
            incident_ids="{{ params.incident_ids }}",  # type: ignore[arg-type]
            status="resolved",
            resolution_notes="Bulk-resolved by {{ run_id }}",
            deferrable=deferrable,
            defer_after_seconds=0.1,
            retries=1,
            retry_delay=timedelta(0),
            **PLAIN_RETRIES,  # retry immediately, after retry_delay
        )

with DAG(dag_id="soda_test_bulk_per_incident", schedule=None, start_date=START):
    UpdateIncidentsOperator(
        task_id="bulk",
        updates=[
            {"incident_id": DEMO, "status": "fixing", "description": "being fixed"},
            {"incident_id": "c0a8e4b1-93f2-4d57-8e6a-5b1d7f2c9e02", "severity": "critical"},
        ],
        title="{{ dag.dag_id }}",
    )

with DAG(dag_id="soda_test_mapped", schedule=None, start_date=START):
    UpdateIncidentOperator.partial(task_id="update", status="fixing").expand(
        incident_id=[DEMO, "c0a8e4b1-93f2-4d57-8e6a-5b1d7f2c9e02"]
    )
