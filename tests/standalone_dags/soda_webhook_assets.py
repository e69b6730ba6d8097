"""DAGs on the webhook receiver's other two asset forms: a dataset's check results, and the
contracts published for a dataset (tests/test_webhooks_receiver.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_soda.assets import create_asset

checks_of_orders = create_asset(dataset_id="ds-orders", checks=True)
orders_contracts = create_asset(contract_dataset="warehouse/analytics/public/orders")

for dag_id, asset in (
    ("soda_webhook_checks", checks_of_orders),
    ("soda_webhook_contracts", orders_contracts),
):
    with DAG(dag_id=dag_id, schedule=[asset], start_date=datetime(2026, 1, 1), catchup=False):

        @task
        def show(triggering_asset_events: Any = None, asset: Any = asset) -> list[Any]:
            return [event.extra["payload"] for event in triggering_asset_events[asset]]

        show()
