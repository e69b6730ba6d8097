"""The parameter reference lists every parameter each public class accepts, with its default.

The docs build completes each class's ``:param`` list with its bases' (docs/_ext/parameters.py);
this checks that the result covers every keyword ``__init__`` accepts, here and in the bases.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs" / "_ext"))

from parameters import accepted, merged

PUBLIC = [
    "airflow_provider_soda.operators.incidents.UpdateIncidentOperator",
    "airflow_provider_soda.operators.incidents.UpdateIncidentsOperator",
    "airflow_provider_soda.operators.gate.SodaCloudIncidentGateOperator",
    "airflow_provider_soda.operators.scans.SodaCloudScanOperator",
    "airflow_provider_soda.operators.contracts.SodaCloudVerifyContractOperator",
    "airflow_provider_soda.sensors.incidents.SodaCloudIncidentSensor",
    "airflow_provider_soda.sensors.scans.SodaCloudScanSensor",
    "airflow_provider_soda.notifications.incidents.SodaCloudIncidentNotifier",
    "airflow_provider_soda.triggers.incidents.SodaCloudIncidentTrigger",
    "airflow_provider_soda.triggers.incidents.SodaCloudIncidentEventTrigger",
    "airflow_provider_soda.triggers.scans.SodaCloudScanTrigger",
    "airflow_provider_soda.triggers.rate_limit.SodaCloudRateLimitTrigger",
    "airflow_provider_soda.hooks.soda_cloud.SodaCloudHook",
]


def load(path: str) -> type:
    module, _, name = path.rpartition(".")
    cls: type = getattr(importlib.import_module(module), name)
    return cls


@pytest.mark.parametrize("path", PUBLIC)
def test_every_accepted_parameter_is_documented_with_its_default(path: str) -> None:
    cls = load(path)
    documented = merged(cls)
    missing = sorted(set(accepted(cls)) - set(documented))
    assert not missing, f"{path} accepts {missing} but its reference (with its bases') does not document them"
    for name, default in accepted(cls).items():
        if default is not inspect.Parameter.empty:
            assert "default" in documented[name].lower(), (path, name, documented[name])


def test_inherited_parameters_appear_on_the_subclass() -> None:
    params = merged(load("airflow_provider_soda.operators.contracts.SodaCloudVerifyContractOperator"))
    for inherited in (
        "fail_on",
        "log_lines",
        "resolve_incidents",
        "dry_run",
        "deferrable",
        "soda_cloud_conn_id",
    ):
        assert inherited in params
    assert "Default: ``1000``" in params["log_lines"]


def test_bases_name_public_airflow_classes_not_private_ones() -> None:
    from parameters import _process_bases

    sensor = load("airflow_provider_soda.sensors.scans.SodaCloudScanSensor")
    bases = list(sensor.__bases__)
    _process_bases(None, "", sensor, None, bases)
    assert [b.__name__ for b in bases] == ["BaseSensorOperator"]
    operator = load("airflow_provider_soda.operators.contracts.SodaCloudVerifyContractOperator")
    bases = list(operator.__bases__)
    _process_bases(None, "", operator, None, bases)
    assert [b.__name__ for b in bases] == ["BaseOperator"]
