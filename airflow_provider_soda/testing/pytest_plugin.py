"""Pytest fixtures for DAG authors: an offline Soda Cloud and a throwaway metadata database.

Enable with ``pytest_plugins = ["airflow_provider_soda.testing.pytest_plugin"]`` in a
``conftest.py`` that first calls
:func:`~airflow_provider_soda.testing.dag_test.configure_airflow_home` (docs: testing).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from airflow_provider_soda.testing.emulator import SodaCloudEmulator


@pytest.fixture
def soda_cloud_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[SodaCloudEmulator]:
    """Yield a running emulator, with ``soda_cloud_default`` pointing at it for the test's duration."""
    with SodaCloudEmulator() as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", emulator.airflow_connection())
        yield emulator


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create the metadata database of the configured Airflow home, once per test session.

    :func:`~airflow_provider_soda.testing.dag_test.run_dag` needs it; the home must have been
    set with :func:`~airflow_provider_soda.testing.dag_test.configure_airflow_home` before
    anything imported Airflow.
    """
    from airflow_provider_soda.testing.dag_test import migrate_db

    if "AIRFLOW_HOME" not in os.environ:
        pytest.fail(
            "airflow_db: no Airflow home is configured. Call "
            "airflow_provider_soda.testing.dag_test.configure_airflow_home(home, dags_folder) at the "
            "top of your conftest.py, before anything imports Airflow."
        )
    migrate_db()
