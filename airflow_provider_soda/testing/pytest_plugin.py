"""Pytest fixtures for DAG authors. Enable with ``pytest_plugins = ["airflow_provider_soda.testing.pytest_plugin"]``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_soda.testing.emulator import SodaCloudEmulator


@pytest.fixture
def soda_cloud_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[SodaCloudEmulator]:
    """Yield a running emulator, with ``soda_cloud_default`` pointing at it for the test's duration."""
    with SodaCloudEmulator() as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", emulator.airflow_connection())
        yield emulator
