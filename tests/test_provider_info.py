"""Provider registration: metadata valid for Airflow, every class path importable, CLI listing."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from importlib.metadata import entry_points, version
from pathlib import Path

import airflow
import jsonschema
import pytest
from jsonschema import Draft7Validator

from airflow_provider_soda import __version__
from airflow_provider_soda.endpoints import DEFAULT_REGION, REGIONS
from airflow_provider_soda.get_provider_info import get_provider_info

AIRFLOW_DIR = Path(airflow.__file__).parent


def test_provider_info_validates_against_airflows_schema() -> None:
    schema = json.loads((AIRFLOW_DIR / "provider_info.schema.json").read_text())
    Draft7Validator(schema).validate(get_provider_info())


def test_connection_form_validates_against_airflows_provider_yaml_schema() -> None:
    schema = json.loads((AIRFLOW_DIR / "provider.yaml.schema.json").read_text())
    conn_types_schema = schema["properties"]["connection-types"]
    Draft7Validator(conn_types_schema).validate(get_provider_info()["connection-types"])


def test_package_name_and_version_match_the_distribution() -> None:
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-soda"
    assert info["versions"] == [__version__] == [version("airflow-provider-soda")]


def test_entry_point_is_registered() -> None:
    (entry_point,) = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.value.startswith("airflow_provider_soda")
    ]
    assert entry_point.load() is get_provider_info


def _import(dotted: str) -> object:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_every_listed_class_and_module_imports() -> None:
    info = get_provider_info()
    for section in ("hooks", "operators"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for dotted in [*info["notifications"], *info["extra-links"]]:
        _import(dotted)
    for conn in info["connection-types"]:
        hook = _import(conn["hook-class-name"])
        assert hook.conn_type == conn["connection-type"]  # type: ignore[attr-defined]
        assert hook.hook_name == conn["hook-name"]  # type: ignore[attr-defined]
        assert hook.default_conn_name == "soda_cloud_default"  # type: ignore[attr-defined]
        assert hook.conn_name_attr == "soda_cloud_conn_id"  # type: ignore[attr-defined]


def test_providers_manager_sees_the_connection_type_and_form() -> None:
    from airflow.providers_manager import ProvidersManager

    from airflow_provider_soda.version_compat import AIRFLOW_V_3_2_PLUS

    if AIRFLOW_V_3_2_PLUS:  # workers resolve hooks through the task SDK's own manager
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        hook_info = ProvidersManagerTaskRuntime().hooks["soda_cloud"]
    else:
        hook_info = ProvidersManager().hooks["soda_cloud"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_soda.hooks.soda_cloud.SodaCloudHook"
    assert hook_info.connection_testable is True
    manager = ProvidersManager()
    assert "airflow-provider-soda" in manager.providers
    behaviour = manager.field_behaviours["soda_cloud"]
    assert behaviour["relabeling"]["login"] == "API key ID"
    assert "extra__soda_cloud__region" in manager.connection_form_widgets


def test_airflow_providers_list_shows_the_provider() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    # The JSON list may follow log lines (some Airflow releases log plugin setup to stdout).
    start = result.stdout.index('[{"package_name"')
    listed = {p["package_name"]: p for p in json.loads(result.stdout[start:])}
    assert listed["airflow-provider-soda"]["version"] == __version__


def test_dag_facing_modules_do_not_import_requests_or_read_connections() -> None:
    # What the provider adds to what Airflow's own base classes import (Airflow 2 imports requests
    # itself, 3.x does not).
    code = (
        "import os, sys; os.environ.pop('AIRFLOW_CONN_SODA_CLOUD_DEFAULT', None);"
        "from airflow.providers.common.compat.sdk import BaseHook, BaseOperator;"
        "before = set(sys.modules);"
        "import airflow_provider_soda.operators.incidents, airflow_provider_soda.hooks.soda_cloud;"
        "import airflow_provider_soda.operators.scans, airflow_provider_soda.sensors.scans;"
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('requests', 'urllib3')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_region_dropdown_names_each_regions_host() -> None:
    (conn,) = get_provider_info()["connection-types"]
    schema = conn["conn-fields"]["region"]["schema"]
    assert schema["enum"] == [*REGIONS, None]
    for value in (*REGIONS, None):  # the type admits null (an empty field), so must the enum
        jsonschema.validate(value, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("mars", schema)
    assert schema["default"] == DEFAULT_REGION
    assert schema["values_display"] == {"eu": "EU (cloud.soda.io)", "us": "US (cloud.us.soda.io)"}


def test_dag_files_load_no_hook_and_no_model_they_do_not_use() -> None:
    """Importing the incident operators and notifier builds no hook (that happens in execute) and
    loads no scan model; the hook's call path and the scan models load when a task runs."""
    code = (
        "import sys;"
        "import airflow_provider_soda.operators.incidents, airflow_provider_soda.notifications.incidents;"
        "print(sorted(m for m in ('airflow_provider_soda.hooks.soda_cloud', 'airflow_provider_soda.hooks.transport',"
        " 'airflow_provider_soda.models.scans', 'airflow_provider_soda.models.checks') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
