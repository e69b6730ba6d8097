"""Test DAGs: the notifier at task level (failure, success, retry) and at DAG level."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_soda.notifications.incidents import SodaCloudIncidentNotifier

PARAMS = {
    "incident_id": Param("7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01", type="string"),
    "fail": Param(False, type="boolean"),
}
notifier = SodaCloudIncidentNotifier(incident_id="{{ params.incident_id }}")
describing = SodaCloudIncidentNotifier(
    incident_id="{{ params.incident_id }}", describe_failure=True, include_error=True
)


def _pipeline(params: dict[str, object] | None) -> str:
    if params and params["fail"]:
        raise RuntimeError("source returned no rows")
    return "ok"


with DAG(dag_id="soda_test_task_notifier", schedule=None, start_date=datetime(2026, 1, 1), params=PARAMS):

    @task(retries=0, on_failure_callback=notifier, on_success_callback=notifier)
    def pipeline(params: dict[str, object] | None = None) -> str:
        return _pipeline(params)

    pipeline()


with DAG(
    dag_id="soda_test_describing_notifier", schedule=None, start_date=datetime(2026, 1, 1), params=PARAMS
):

    @task(retries=0, on_failure_callback=describing)
    def pipeline(params: dict[str, object] | None = None) -> str:
        return _pipeline(params)

    pipeline()


with DAG(
    dag_id="soda_test_dag_notifier",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params=PARAMS,
    on_failure_callback=SodaCloudIncidentNotifier(
        incident_id="{{ params.incident_id }}", describe_failure=True
    ),
    on_success_callback=SodaCloudIncidentNotifier(
        incident_id="{{ params.incident_id }}", resolution_notes="Resolved by {{ run_id }}"
    ),
):

    @task(retries=0)
    def pipeline(params: dict[str, object] | None = None) -> str:
        return _pipeline(params)

    pipeline()


# A literal incident id: what DAG-level callbacks can use on Airflow 3.0, whose callback context
# has no params or dag_run to render a template from.
with DAG(
    dag_id="soda_test_dag_notifier_literal",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params=PARAMS,
    on_failure_callback=SodaCloudIncidentNotifier(
        incident_id="7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01", describe_failure=True
    ),
):

    @task(retries=0)
    def pipeline(params: dict[str, object] | None = None) -> str:
        return _pipeline(params)

    pipeline()


with DAG(dag_id="soda_test_retry_notifier", schedule=None, start_date=datetime(2026, 1, 1), params=PARAMS):

    @task(
        retries=1,
        retry_delay=timedelta(0),
        on_retry_callback=SodaCloudIncidentNotifier(
            incident_id="{{ params.incident_id }}",
            severity="critical",
            describe_failure=True,
            include_error=True,
        ),
        on_success_callback=notifier,
    )
    def flaky(ti=None) -> str:  # type: ignore[no-untyped-def]
        if ti.try_number == 1:
            raise ConnectionError("warehouse timed out")
        return "ok"

    flaky()
