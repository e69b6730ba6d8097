"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``).

The connection form is declarative (``conn-fields`` / ``ui-field-behaviour``, from
:mod:`airflow_provider_soda.hooks.form`) so that Airflow 3.2+ draws it without importing the hook;
older UIs call the hook's methods, which that module builds from the same description.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_soda import __version__
from airflow_provider_soda.hooks.form import CONN_FIELDS, UI_FIELD_BEHAVIOUR

_INTEGRATION = "Soda Cloud"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-soda",
        "name": "Soda Cloud",
        "description": "`Soda Cloud <https://www.soda.io/>`__: run Soda scans on a Soda Agent, verify data "
        "contracts on a Soda Runner, and act on data-quality incidents from Airflow DAGs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://docs.soda.io/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {"integration-name": _INTEGRATION, "python-modules": ["airflow_provider_soda.hooks.soda_cloud"]}
        ],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_soda.operators.incidents",
                    "airflow_provider_soda.operators.gate",
                    "airflow_provider_soda.operators.scans",
                    "airflow_provider_soda.operators.contracts",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_soda.sensors.incidents",
                    "airflow_provider_soda.sensors.scans",
                ],
            }
        ],
        "asset-uris": [
            {
                "schemes": ["soda-cloud"],
                "handler": "airflow_provider_soda.assets.sanitize_uri",
                "factory": "airflow_provider_soda.assets.create_asset",
            }
        ],
        # Airflow 2.x reads the same as dataset-uris.
        "dataset-uris": [
            {
                "schemes": ["soda-cloud"],
                "handler": "airflow_provider_soda.assets.sanitize_uri",
                "factory": "airflow_provider_soda.assets.create_asset",
            }
        ],
        # Airflow 3's API server mounts the webhook receiver from it (docs: webhooks).
        "plugins": [
            {
                "name": "soda_cloud_webhooks",
                "plugin-class": "airflow_provider_soda.plugins.webhooks.SodaCloudWebhookPlugin",
            }
        ],
        "notifications": ["airflow_provider_soda.notifications.incidents.SodaCloudIncidentNotifier"],
        "extra-links": [
            "airflow_provider_soda.links.incidents.SodaCloudIncidentLink",
            "airflow_provider_soda.links.scans.SodaCloudScanLink",
            "airflow_provider_soda.links.scans.SodaCloudContractLink",
        ],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_soda.triggers.rate_limit",
                    "airflow_provider_soda.triggers.incidents",
                    "airflow_provider_soda.triggers.scans",
                ],
            }
        ],
        "config": {
            "soda_cloud": {
                "description": "How the Soda Cloud provider shares Soda Cloud's rate limits between the "
                "processes and machines of this deployment (docs: running-at-scale).",
                "options": {
                    "rate_limit_store": {
                        "description": "Where the pacing schedule lives. 'local': files on this machine, "
                        "shared by every process on it (standalone, LocalExecutor, one Celery host). A Redis "
                        "URL (redis://, rediss://, unix://, or redis+sentinel:// for Sentinel): shared by every machine; install "
                        "airflow-provider-soda[redis]. 'memory': per process. If the store fails, each "
                        "process paces alone for a while and warns once; no update is lost.",
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "redis://redis.internal:6379/3",
                        "default": "local",
                        "sensitive": True,
                    },
                    "rate_limit_dir": {
                        "description": "Directory of the 'local' store (created with mode 0700; must "
                        "belong to the user Airflow runs as). Empty: a per-user directory in the system's "
                        "temporary directory.",
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "/var/run/airflow/soda-pacing",
                        "default": "",
                    },
                    "rate_limit_dir_group": {
                        "description": "A Unix group whose members share the 'local' store: processes of "
                        "several users on one machine (a root CLI run and the airflow user's workers) then "
                        "queue in one schedule. Needs rate_limit_dir (its parent must exist); the directory "
                        "is made mode 2770 of that group, its files 0660, nothing open to other users. "
                        "Empty: the store is private to each user.",
                        "version_added": "0.6.0",
                        "type": "string",
                        "example": "airflow",
                        "default": "",
                    },
                    "rate_limit_redis_prefix": {
                        "description": "Prefix of the Redis keys of the 'redis' store, so that several "
                        "deployments can share one Redis database.",
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "prod-airflow-soda",
                        "default": "airflow-provider-soda",
                    },
                    "webhook_duplicate_window": {
                        "description": "Seconds within which the webhook receiver treats a delivery "
                        "equal to an earlier one (same connection, same JSON body) as Soda sending it "
                        "again, and emits no second asset event (docs: webhooks).",
                        "version_added": "0.7.0",
                        "type": "float",
                        "example": "3600",
                        "default": "86400",
                    },
                    "openlineage_namespaces": {
                        "description": "Which OpenLineage namespace each Soda datasource is, as a JSON "
                        "object (Soda datasource name -> namespace), so that Soda's check results land on "
                        "the datasets the SQL tasks report (docs: lineage). A datasource without one is "
                        "reported as soda://<datasource>.",
                        "version_added": "0.7.0",
                        "type": "string",
                        "example": '{"warehouse": "postgres://warehouse.example.com:5432"}',
                        "default": "",
                    },
                    "notifier_timeout": {
                        "description": "Seconds a task-level SodaCloudIncidentNotifier may wait in line for "
                        "the rate limit (DAG-level ones wait at most a third of dag_file_processor_timeout). "
                        "The default covers a storm of 150 updates at 10 per 60 s.",
                        "version_added": "0.2.0",
                        "type": "float",
                        "example": "1800",
                        "default": "900",
                    },
                },
            }
        },
        "connection-types": [
            {
                "connection-type": "soda_cloud",
                "hook-class-name": "airflow_provider_soda.hooks.soda_cloud.SodaCloudHook",
                "hook-name": "Soda Cloud",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
