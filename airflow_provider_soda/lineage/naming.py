"""Which OpenLineage dataset a Soda dataset is: ``[soda_cloud] openlineage_namespaces``.

Soda names a dataset ``datasource/database/schema/table``; OpenLineage names it by the warehouse
(namespace ``postgres://host:5432``, name ``database.schema.table``), as the SQL operators report
it. The option maps each Soda datasource to its OpenLineage namespace, so that Soda's assertions
land on the very dataset the pipeline's own tasks report. A datasource without a mapping is
reported under ``soda://<datasource>``, with one warning per task that names the option.
"""

from __future__ import annotations

import json
import logging
from typing import Any

#: The option, in section ``[soda_cloud]``.
OPTION = "openlineage_namespaces"
#: The namespace of a datasource the option does not map: ``soda://<datasource>``.
DEFAULT_NAMESPACE_PREFIX = "soda://"
#: The datasource of a dataset Soda gives no qualified name for.
UNKNOWN_DATASOURCE = "unknown"


def datasource_namespaces(log: logging.Logger | Any) -> dict[str, str]:
    """Return the option's mapping; bad JSON is one ERROR naming the option, and no mapping."""
    from airflow.providers.common.compat.sdk import conf

    raw = conf.get("soda_cloud", OPTION, fallback="") or ""
    if not raw.strip():
        return {}
    example = '{"warehouse": "postgres://db.example.com:5432"}'
    try:
        value = json.loads(raw)
    except ValueError as err:
        log.error(
            "[soda_cloud] %s is not valid JSON (%s); lineage uses the default soda:// namespaces. "
            "Set it to a JSON object of Soda datasource names to OpenLineage namespaces, e.g. %s.",
            OPTION, err, example,
        )  # fmt: skip
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in value.values()):
        log.error(
            "[soda_cloud] %s must be a JSON object of Soda datasource names to OpenLineage namespace "
            "strings, e.g. %s; lineage uses the default soda:// namespaces.",
            OPTION, example,
        )  # fmt: skip
        return {}
    return {str(k): v.rstrip("/") for k, v in value.items()}


def openlineage_dataset(
    qualified_name: str | None, fallback: str, namespaces: dict[str, str]
) -> tuple[str, str, str]:
    """Return ``(datasource, namespace, name)`` for a Soda dataset.

    ``qualified_name`` is ``datasource/database/schema/table``: the datasource picks the namespace,
    the rest joined by dots is the name. Without one, ``fallback`` (the dataset's name or id) is
    the name, under the datasource ``unknown``.
    """
    parts = [p for p in (qualified_name or "").split("/") if p]
    if len(parts) >= 2:
        datasource, name = parts[0], ".".join(parts[1:])
    else:
        datasource, name = UNKNOWN_DATASOURCE, parts[0] if parts else fallback
    return datasource, namespaces.get(datasource, f"{DEFAULT_NAMESPACE_PREFIX}{datasource}"), name
