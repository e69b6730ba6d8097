"""Event-driven: quarantine a dataset when a critical incident appears, republish when it is resolved.

The asset is watched in the triggerer by ``SodaCloudIncidentEventTrigger``: each critical
incident of the dataset that appears, or whose status changes, becomes an asset event, and the
asset schedules this DAG. Several events that arrive before a run starts are handed to that one
run, so the task loops over them. Needs Airflow 3 (AssetWatcher) and a running triggerer.

Select on what stays true over the incident's life (dataset, severity): a selection on
``status="open"`` would not see the resolution, since a resolved incident no longer matches it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

# Airflow 3; on Airflow 2.11, import the same names from airflow.providers.common.compat.sdk.
from airflow.sdk import (
    DAG,
    Asset,
    AssetWatcher,  # Airflow 3 only: there is no asset watcher in 2.x
    task,
)

from airflow_provider_soda.triggers.incidents import SodaCloudIncidentEventTrigger

# [START howto_trigger_incident_events]
critical_incidents_on_orders = Asset(
    "soda-cloud://incidents/ds-orders/critical",
    watchers=[
        AssetWatcher(
            name="soda_critical_incidents_on_orders",
            trigger=SodaCloudIncidentEventTrigger(
                selection={"dataset_id": "ds-orders", "severity": "critical"},
                poll_interval=10,
            ),
        )
    ],
)

with DAG(
    dag_id="example_soda_incident_events",
    schedule=[critical_incidents_on_orders],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "soda"],
):

    @task
    def react(triggering_asset_events: Any = None) -> list[str]:
        """Quarantine on a new or reopened incident, republish once it is resolved."""
        actions = []
        for event in triggering_asset_events[critical_incidents_on_orders]:
            incident = event.extra["payload"]
            if incident["status"] == "resolved":
                actions.append(f"republish orders (incident #{incident['number']} resolved)")
            elif incident["change"] == "appeared" or incident["previous_status"] == "resolved":
                actions.append(f"quarantine orders (incident #{incident['number']} {incident['status']})")
            else:
                actions.append(
                    f"keep orders quarantined (incident #{incident['number']} {incident['status']})"
                )
        print("\n".join(actions))
        return actions

    react()
# [END howto_trigger_incident_events]
