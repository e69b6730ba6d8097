"""Resolve many Soda Cloud incidents at once with dynamic task mapping.

One mapped task instance per incident: each shows up (and can be retried) on its own in the
UI, and each has its own "Soda Cloud incident" link. Soda Cloud allows 10 incident updates per
60 s; the hook paces requests within one process, while mapped instances run in separate
processes, so give these tasks a small pool (``pool="soda_cloud"`` with 1 slot) when you map
over more than about ten incidents: they then run one after another instead of competing for
the same rate limit (429s are still recovered, but waste time).
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_soda.operators.incidents import UpdateIncidentOperator

with DAG(
    dag_id="example_soda_many_incidents",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "soda"],
    params={
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
    },
):

    @task
    def incidents_to_resolve(params: dict[str, object] | None = None) -> list[str]:
        """Mapping needs a real list at run time, so read the param in a task."""
        return list(params["incident_ids"]) if params else []  # type: ignore[call-overload]

    UpdateIncidentOperator.partial(
        task_id="resolve_incident",
        status="resolved",
        resolution_notes="Backfill finished in run {{ run_id }}.",
    ).expand(incident_id=incidents_to_resolve())
