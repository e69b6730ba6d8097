"""Test DAGs for waits and selections that fail safe: never_fail in every mode, dataset ids that
Soda Cloud does not know, and a filter that rendered empty."""

from __future__ import annotations

import inspect
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, BaseSensorOperator

from airflow_provider_soda.operators.gate import SodaCloudIncidentGateOperator
from airflow_provider_soda.operators.incidents import UpdateIncidentsOperator
from airflow_provider_soda.retry_policy import default_retry_policy
from airflow_provider_soda.sensors.incidents import SodaCloudIncidentSensor

DEMO = "7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01"
PLAIN_RETRIES: dict[str, Any] = {"retry_policy": None} if default_retry_policy() is not None else {}
#: never_fail came with Airflow 2.10's sensors; where it is missing, these DAGs use soft_fail.
NEVER_FAIL = (
    {"never_fail": True}
    if "never_fail" in inspect.signature(BaseSensorOperator.__init__).parameters
    else {"soft_fail": True}
)

for mode in ("poke", "deferred"):
    with DAG(
        dag_id=f"soda_test_sensor_never_fail_{mode}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        params={"incident_id": DEMO},
    ):
        SodaCloudIncidentSensor(
            task_id="wait",
            incident_id="{{ params.incident_id }}",
            deferrable=mode == "deferred",
            poke_interval=0.3,
            timeout=30,
            **NEVER_FAIL,
        )

    for verify in (True, False):
        with DAG(
            dag_id=f"soda_test_sensor_dataset_{mode}{'' if verify else '_unverified'}",
            schedule=None,
            start_date=datetime(2026, 1, 1),
            params={"dataset_id": "ds-orders", "status": "resolved"},
            render_template_as_native_obj=True,
        ):
            SodaCloudIncidentSensor(
                task_id="wait",
                selection={"dataset_id": "{{ params.dataset_id }}", "status": "{{ params.status }}"},
                verify_dataset_ids=verify,
                deferrable=mode == "deferred",
                poke_interval=0.3,
                timeout=30,
                **PLAIN_RETRIES,
            )

with DAG(
    dag_id="soda_test_gate_unverified",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params={"dataset_ids": ["ds-orders"]},
    render_template_as_native_obj=True,
):
    SodaCloudIncidentGateOperator(
        task_id="gate", dataset_ids="{{ params.dataset_ids }}", verify_dataset_ids=False, **PLAIN_RETRIES
    )

with DAG(
    dag_id="soda_test_selection_from_xcom",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params={"found": []},
    render_template_as_native_obj=True,
):
    UpdateIncidentsOperator(
        task_id="update",
        # An upstream lookup that found no dataset renders []: this must not select every dataset.
        selection={"dataset_id": "{{ params.found }}", "status": "open"},
        status="resolved",
        **PLAIN_RETRIES,
    )
