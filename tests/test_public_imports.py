"""The provider imports Airflow only through public or common-compat paths, as official providers
do: internal modules move between releases without notice. ``airflow_provider_soda/testing``
is exempt: its dag.test() helpers drive Airflow's core (DagBag, the metadata DB) on purpose."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "airflow_provider_soda"
INTERNAL = (
    "airflow.sdk.execution_time",
    "airflow.sdk.definitions",
    "airflow.sdk.bases",
    "airflow.sdk.api",
    "airflow.sdk.types",
    "airflow.sdk._shared",
    "airflow.models",
    "airflow.utils",
    "airflow.api_fastapi",
    "airflow.jobs",
    "airflow.dag_processing",
    "airflow.executors",
)
#: The webhook receiver runs inside the API server, Airflow's core, and records asset events there:
#: it uses the core's own API (as providers' API server plugins do), and only these modules of it,
#: whose paths are the same on every Airflow 3 line (tests/test_webhooks_receiver.py runs on each).
CORE_SIDE = "webhooks"
CORE_MODULES = {
    "airflow.configuration",
    "airflow.models.asset",
    "airflow.assets.manager",
    "airflow.utils.session",
}
MODULES = sorted(
    p for p in PACKAGE.rglob("*.py") if not {"testing", CORE_SIDE} & set(p.relative_to(PACKAGE).parts)
)


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_the_guard_sees_internal_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("if True:\n    from airflow.sdk.execution_time.xcom import XCom\n")
    assert any(m.startswith(INTERNAL) for m in imported_modules(sample))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_no_internal_airflow_imports(path: Path) -> None:
    internal = [m for m in imported_modules(path) if m.startswith(INTERNAL)]
    assert internal == [], (
        f"{path.name} imports internal Airflow modules {internal}; use airflow.sdk or airflow.providers.common.compat"
    )


#: What the provider may import from Airflow: the compat layer (what moved between 2.11 and 3.x
#: resolves there), the trigger base classes, which live at the same path on every release, and
#: the OpenLineage provider's OperatorLineage (lineage/facets.py, imported only by its listener),
#: the class official providers return from their get_openlineage_facets_* methods, and
#: airflow.exceptions, whose AirflowProviderDeprecationWarning official providers warn with
#: (same path on 2.11 and 3.x; the compat layer does not re-export it).
ALLOWED = (
    "airflow.providers.common.compat",
    "airflow.triggers.base",
    "airflow.providers.openlineage.extractors",
    "airflow.exceptions",
)


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_airflow_is_imported_through_the_compat_layer(path: Path) -> None:
    direct = [
        m
        for m in imported_modules(path)
        if (m == "airflow" or m.startswith("airflow.")) and not m.startswith(ALLOWED)
    ]
    assert direct == [], f"{path.name} imports {direct}; import them from airflow.providers.common.compat.sdk"


def test_the_receiver_uses_only_the_core_modules_it_names() -> None:
    used = {
        m
        for path in (PACKAGE / CORE_SIDE).rglob("*.py")
        for m in imported_modules(path)
        if m.startswith("airflow.") and not m.startswith(ALLOWED)
    }
    assert used == CORE_MODULES
