"""Soda's check results in OpenLineage: what the scan and contract operators report to lineage tools.

One small interface, :func:`.facets.operator_lineage`: a finished scan and its checks in, an
``OperatorLineage`` out (inputs with ``dataQualityAssertions``, a ``sodaCloud_scan`` run facet).
Only the operators' ``get_openlineage_facets_on_complete/_on_failure`` call it, and only Airflow's
OpenLineage listener calls those, so nothing here is imported, and no request is sent, where the
OpenLineage provider is not installed or is disabled (docs: lineage).
"""

from __future__ import annotations

from airflow_provider_soda.lineage.naming import DEFAULT_NAMESPACE_PREFIX, OPTION, datasource_namespaces

__all__ = ["DEFAULT_NAMESPACE_PREFIX", "OPTION", "datasource_namespaces"]
