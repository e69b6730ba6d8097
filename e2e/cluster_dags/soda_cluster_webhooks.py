"""Scheduled on the asset Soda's webhooks feed: each incident delivery queues a run (e2e/cluster.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_soda.assets import create_asset

critical_on_orders = create_asset(dataset_id="ds-orders", severity="critical")

with DAG(
    dag_id="soda_cluster_webhooks",
    schedule=[critical_on_orders],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,
):

    @task
    def count(triggering_asset_events: Any = None) -> int:
        return len(triggering_asset_events[critical_on_orders])

    count()
