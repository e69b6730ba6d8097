"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``).

The connection form is declarative (``conn-fields`` / ``ui-field-behaviour``) so the UI can draw
it without importing the hook. Every Airflow release this provider supports (3.2+) draws forms from
these keys, so the hook carries no legacy ``get_connection_form_widgets`` / ``get_ui_field_behaviour``.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_soda import __version__
from airflow_provider_soda.endpoints import DEFAULT_REGION, REGIONS

_INTEGRATION = "Soda Cloud"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-soda",
        "name": "Soda Cloud",
        "description": "`Soda Cloud <https://www.soda.io/>`__: act on data-quality incidents from Airflow DAGs.",
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
                ],
            }
        ],
        "sensors": [
            {"integration-name": _INTEGRATION, "python-modules": ["airflow_provider_soda.sensors.incidents"]}
        ],
        "notifications": ["airflow_provider_soda.notifications.incidents.SodaCloudIncidentNotifier"],
        "extra-links": ["airflow_provider_soda.links.incidents.SodaCloudIncidentLink"],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_soda.triggers.rate_limit",
                    "airflow_provider_soda.triggers.incidents",
                ],
            }
        ],
        "config": {
            "soda_cloud": {
                "description": "How the Soda Cloud provider shares Soda Cloud's rate limits between the "
                "processes and machines of this deployment (README, 'Running at scale').",
                "options": {
                    "rate_limit_store": {
                        "description": "Where the pacing schedule lives. 'local': files on this machine, "
                        "shared by every process on it (standalone, LocalExecutor, one Celery host). A Redis "
                        "URL (redis://, rediss:// or unix://): shared by every machine; install "
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
                    "rate_limit_redis_prefix": {
                        "description": "Prefix of the Redis keys of the 'redis' store, so that several "
                        "deployments can share one Redis database.",
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "prod-airflow-soda",
                        "default": "airflow-provider-soda",
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
                "conn-fields": {
                    "region": {
                        "label": "Region",
                        "description": "The Soda Cloud you log in to; API keys work only in their own "
                        "region. Ignored when a custom base URL is set.",
                        "schema": {
                            "type": ["string", "null"],
                            # null: the field left empty (the default region applies), which the
                            # type admits, so the enum must too.
                            "enum": [*REGIONS, None],
                            "default": DEFAULT_REGION,
                            # The dropdown shows "US (cloud.us.soda.io)"; the stored value stays "us".
                            "values_display": {
                                name: f"{name.upper()} ({url.removeprefix('https://')})"
                                for name, url in REGIONS.items()
                            },
                        },
                    },
                    "token": {
                        "label": "Cookie token (instead of an API key)",
                        "description": "A pre-authenticated Soda Cloud token, sent as cookie 'token'. "
                        "Only used when no API key is set.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "verify": {
                        "label": "CA bundle (optional)",
                        "description": "Path, on the workers, of a CA bundle file for a corporate TLS "
                        "proxy in front of Soda Cloud. TLS verification cannot be turned off.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["number", "null"], "minimum": 1, "default": 30},
                    },
                    "update_incident_requests": {
                        "label": "Incident updates per window",
                        "description": "How many incident updates Soda Cloud allows per window. Leave empty "
                        "for the documented limit (10).",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "update_incident_period": {
                        "label": "Window length (seconds)",
                        "description": "Length of that window. Leave empty for the documented 60 s.",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "rate_limit_group": {
                        "label": "Rate limit group (optional)",
                        "description": "Connections naming the same group share one rate-limit queue. "
                        "Set it on every connection of one Soda organisation if Soda counts its limits "
                        "per organisation rather than per API key.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "rate_limits": {
                        "label": "Other rate limit overrides (advanced)",
                        "description": 'Any endpoint, e.g. {"test_login": {"requests": 10, "period": 10}}. '
                        "Leave empty for Soda Cloud's documented limits.",
                        "schema": {"type": ["object", "null"]},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra"],
                    "relabeling": {
                        "login": "API key ID",
                        "password": "API key secret",
                        "host": "Custom base URL (optional)",
                    },
                    "placeholders": {
                        "login": "API key ID from Soda Cloud: Profile -> API Keys",
                        "password": "API key secret",
                        "host": "https://cloud.soda.io (leave empty to use the region)",
                    },
                },
            }
        ],
    }
