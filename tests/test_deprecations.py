"""Old names keep working, and say what replaces them and when they go (docs/versions.md, policy)."""

from __future__ import annotations

import pytest
from airflow.exceptions import AirflowProviderDeprecationWarning
from conftest import StandInTI

from airflow_provider_soda.endpoints import MAX_LIST_ITEMS
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, SodaCloudEmulator


def test_max_ids_per_list_warns_naming_its_replacement_and_removal() -> None:
    from airflow_provider_soda.hooks import soda_cloud

    with pytest.warns(
        AirflowProviderDeprecationWarning, match=r"removed in 1\.0\.0; use .*endpoints\.MAX_LIST_ITEMS"
    ):
        assert soda_cloud.MAX_IDS_PER_LIST == MAX_LIST_ITEMS
    with pytest.raises(AttributeError, match="MAX_IDS_PER_LISTS"):
        soda_cloud.MAX_IDS_PER_LISTS  # noqa: B018 - a typo is still an AttributeError


def test_a_task_deferred_by_0_1_0_resumes_through_execute_after_wait(
    soda_cloud_emulator: SodaCloudEmulator,
) -> None:
    from airflow_provider_soda.operators.incidents import UpdateIncidentOperator

    ti = StandInTI()
    operator = UpdateIncidentOperator(
        task_id="t", incident_id=DEMO_INCIDENT_ID, status="fixing", deferrable=True
    )

    with pytest.warns(AirflowProviderDeprecationWarning, match="removed in 1.0.0.*execute_complete"):
        incident = operator.execute_after_wait({"ti": ti}, {"progress": {}})

    assert incident["status"] == "fixing"
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "fixing"
