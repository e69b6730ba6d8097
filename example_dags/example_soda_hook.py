"""Use the hook from your own Python code: list the open incidents of a dataset, move each on.

The operators cover the usual cases; a ``@task`` (or a callback) that needs its own logic calls
:class:`~airflow_provider_soda.hooks.soda_cloud.SodaCloudHook` directly, with the same connection,
pacing, retries and errors as the operators.
"""

from __future__ import annotations

from datetime import datetime

# Airflow 3; on Airflow 2.11, import the same names from airflow.providers.common.compat.sdk.
from airflow.sdk import DAG, Param, task

with DAG(
    dag_id="example_soda_hook",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "soda"],
    params={"dataset_id": Param("ds-orders", type="string", minLength=1)},
):
    # [START howto_hook_list_and_update]
    @task
    def investigate_open_incidents(params: dict[str, str] | None = None) -> list[int]:
        from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

        hook = SodaCloudHook()  # connection soda_cloud_default
        numbers = []
        for incident in hook.list_incidents(dataset_id=params["dataset_id"], status="reported"):  # type: ignore[index]
            hook.update_incident(incident.id, status="investigating", description="Looked at by Airflow.")
            numbers.append(incident.number)
        return numbers

    # [END howto_hook_list_and_update]

    investigate_open_incidents()
