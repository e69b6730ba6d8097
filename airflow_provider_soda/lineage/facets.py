"""The OpenLineage facets of a finished scan (imported only when Airflow's OpenLineage listener asks).

Inputs: the datasets of the scan's checks, each with a ``dataQualityAssertions`` facet holding
one assertion per check *of this scan* that was evaluated (its ``evaluationStatus`` in the scan,
not its latest result in Soda): ``success`` is true for ``pass``, false for ``fail`` and ``warn``
(``severity`` ``error`` or ``warn`` tells them apart); ``notEvaluated`` and ``excluded`` checks
are left out. The run gets the custom facet ``sodaCloud_scan`` (schema:
``SodaCloudScanRunFacet.json`` in this package).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import attr
from airflow.providers.openlineage.extractors import OperatorLineage
from openlineage.client.generated.base import InputDataset, RunFacet
from openlineage.client.generated.data_quality_assertions_dataset import (
    Assertion,
    DataQualityAssertionsDatasetFacet,
)

from airflow_provider_soda.lineage.naming import (
    OPTION,
    UNKNOWN_DATASOURCE,
    datasource_namespaces,
    openlineage_dataset,
)
from airflow_provider_soda.models import Check, EvaluationStatus, Scan

#: The run facet's key: OpenLineage's custom facets are prefixed by who defines them.
RUN_FACET = "sodaCloud_scan"
#: The version of its schema, in the schema's file and in every facet.
FACET_VERSION = "1-0-0"
#: Immutable, as OpenLineage asks of a custom facet's schema: the file as released with the
#: version that introduced this schema version (a new schema version gets a new release's tag).
SCHEMA_URL = (
    "https://raw.githubusercontent.com/airflow-provider-soda/airflow-provider-soda/v0.7.0/"
    "airflow_provider_soda/lineage/SodaCloudScanRunFacet.json#/$defs/SodaCloudScanRunFacet"
)
#: What each evaluated result reports: (success, severity).
_RESULTS = {
    EvaluationStatus.PASS.value: (True, None),
    EvaluationStatus.WARN.value: (False, "warn"),
    EvaluationStatus.FAIL.value: (False, "error"),
}
#: Older OpenLineage clients' Assertion has no severity.
_HAS_SEVERITY = "severity" in attr.fields_dict(Assertion)


@attr.define
class SodaCloudScanRunFacet(RunFacet):
    """The Soda Cloud scan behind a task run: id, final state, counts and link."""

    scanId: str
    state: str
    checksTotal: int
    failures: int
    warnings: int
    errors: int
    assertionsReported: int
    scanDefinition: str | None = attr.field(default=None)
    url: str | None = attr.field(default=None)
    version: str = attr.field(default=FACET_VERSION)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL


def operator_lineage(
    scan: Scan, checks: Sequence[Check], *, log: logging.Logger | Any
) -> OperatorLineage[Any, Any]:
    """Return the lineage of a finished ``scan`` whose ``checks`` (names, columns, datasets) were read."""
    results = {c.id: c.status_value for c in scan.checks}
    namespaces = datasource_namespaces(log)
    inputs: dict[tuple[str, str], list[Assertion]] = {}
    unmapped: set[str] = set()
    reported = 0
    for check in checks:
        outcome = _RESULTS.get(results.get(check.id) or "")
        if outcome is None:  # notEvaluated, excluded, or not in this scan
            continue
        success, severity = outcome
        fields: dict[str, Any] = {
            "assertion": check.name or check.id,
            "success": success,
            "column": check.column,
        }
        if _HAS_SEVERITY:
            fields["severity"] = severity
        assertion = Assertion(**fields)
        counted = False
        for dataset in check.datasets:
            datasource, namespace, name = openlineage_dataset(
                dataset.qualified_name, dataset.name or dataset.id or "unknown", namespaces
            )
            if datasource not in namespaces:
                unmapped.add(datasource)
            inputs.setdefault((namespace, name), []).append(assertion)
            counted = True
        reported += counted
    unmapped.discard(UNKNOWN_DATASOURCE)  # no mapping can name a datasource Soda did not give
    if unmapped:
        log.warning(
            "OpenLineage: Soda datasource(s) %s have no namespace in [soda_cloud] %s; their datasets are "
            "reported as soda://<datasource>, apart from the tables the SQL tasks report. Map them, e.g. "
            '{"%s": "postgres://host:5432"}.',
            ", ".join(sorted(unmapped)), OPTION, sorted(unmapped)[0],
        )  # fmt: skip
    tally = scan.tally()
    run_facet = SodaCloudScanRunFacet(
        scanId=scan.id,
        state=scan.state_value,
        checksTotal=scan.checks_total if scan.checks_total is not None else len(scan.checks),
        failures=tally["failures"],
        warnings=tally["warnings"],
        errors=tally["errors"],
        assertionsReported=reported,
        scanDefinition=scan.definition_name,
        url=scan.cloud_url,
    )
    return OperatorLineage(
        inputs=[
            InputDataset(
                namespace=namespace,
                name=name,
                inputFacets={
                    "dataQualityAssertions": DataQualityAssertionsDatasetFacet(assertions=assertions)
                },
            )
            for (namespace, name), assertions in inputs.items()
        ],
        run_facets={RUN_FACET: run_facet},
    )
