"""Resolve many Soda Cloud incidents at once: one task per incident, or one task for them all.

``example_soda_many_incidents`` maps ``UpdateIncidentOperator`` over the ids: each incident gets
a task instance of its own, shown (and retried) on its own in the UI, with its own "Soda Cloud
incident" link. ``example_soda_many_incidents_one_task`` sends them all from one
``UpdateIncidentsOperator``, which paces itself and frees its worker slot between windows.
Either way every request of the deployment queues in one shared schedule per API key, so Soda
Cloud's 10 updates per 60 s are kept without a pool.
"""

from __future__ import annotations

from datetime import datetime

# Airflow 3; on Airflow 2.11, import the same names from airflow.providers.common.compat.sdk.
from airflow.sdk import DAG, Param, task

from airflow_provider_soda.operators.incidents import UpdateIncidentOperator, UpdateIncidentsOperator

PARAMS = {
    # The emulator's seeded incidents; in real life, e.g. the ids an upstream task found.
    "incident_ids": Param(
        [
            "5e1b0c7a-0d4f-4c2e-b6a1-9f8e7d6c5b03",
            "5e1b0c7a-0d4f-4c2e-b6a1-9f8e7d6c5b04",
            "5e1b0c7a-0d4f-4c2e-b6a1-9f8e7d6c5b05",
        ],
        type="array",
        items={"type": "string"},
    ),
}


@task
def incidents_to_resolve(params: dict[str, object] | None = None) -> list[str]:
    """Mapping needs a real list at run time, so read the param in a task."""
    return list(params["incident_ids"]) if params else []  # type: ignore[call-overload]


with DAG(
    dag_id="example_soda_many_incidents",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "soda"],
    params=PARAMS,
):
    # [START howto_operator_update_incident_mapped]
    UpdateIncidentOperator.partial(
        task_id="resolve_incident",
        status="resolved",
        resolution_notes="Backfill finished in run {{ run_id }}.",
    ).expand(incident_id=incidents_to_resolve())
    # [END howto_operator_update_incident_mapped]

with DAG(
    dag_id="example_soda_many_incidents_one_task",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "soda"],
    params=PARAMS,
):
    # [START howto_operator_update_incidents]
    UpdateIncidentsOperator(
        task_id="resolve_incidents",
        incident_ids=incidents_to_resolve(),  # or a template, or updates=[{"incident_id": ..., "status": ...}]
        status="resolved",
        resolution_notes="Backfill finished in run {{ run_id }}.",
        deferrable=True,  # waits for its next slot in the triggerer, not in a worker slot
    )
    # [END howto_operator_update_incidents]
