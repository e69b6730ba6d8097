"""Push, not poll: Soda Cloud's webhook starts this DAG when a critical incident on orders changes.

Soda Cloud POSTs ``incidentCreated`` / ``incidentUpdated`` deliveries to the provider's receiver
on the Airflow API server (``/soda-cloud/webhooks/soda_cloud_default``; the connection's
``webhook_token`` switches it on), which turns each into an asset event on
``soda-cloud://incidents/<dataset id>/<severity>``. Nothing polls Soda Cloud: the DAG starts
within a second of the change, spends none of the API's rate limit, and a change made while the
triggerer restarts is not missed. Needs Airflow 3 (docs: webhooks).

The payload has the polling watcher's shape (``example_soda_incident_events``), so the task
reads either; a webhook's ``change`` is ``appeared`` or ``updated``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

# Airflow 3; on Airflow 2.11, import the same names from airflow.providers.common.compat.sdk.
from airflow.sdk import DAG, task

from airflow_provider_soda.assets import create_asset

# [START howto_webhook_incidents]
critical_incidents_on_orders = create_asset(dataset_id="ds-orders", severity="critical")

with DAG(
    dag_id="example_soda_webhook_incidents",
    schedule=[critical_incidents_on_orders],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "soda"],
):

    @task
    def react(triggering_asset_events: Any = None) -> list[str]:
        """Quarantine while the incident is open, republish once it is resolved."""
        actions = []
        for event in triggering_asset_events[critical_incidents_on_orders]:
            incident = event.extra["payload"]
            if incident["status"] == "resolved":
                actions.append(f"republish orders (incident #{incident['number']} resolved)")
            else:
                actions.append(f"quarantine orders (incident #{incident['number']} {incident['status']})")
        print("\n".join(actions))
        return actions

    react()
# [END howto_webhook_incidents]
