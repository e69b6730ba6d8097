"""A DAG project's ``tests/conftest.py`` as docs/testing.md shows it; tests/test_testing_plugin.py runs it."""

# [START testing_conftest]
import tempfile
from pathlib import Path

from airflow_provider_soda.testing.dag_test import configure_airflow_home

# First, before anything imports Airflow (Airflow reads its configuration once, at import): a
# throwaway Airflow home with a SQLite database, and your DAGs folder.
configure_airflow_home(
    Path(tempfile.mkdtemp(prefix="airflow-home-")),
    Path(__file__).resolve().parent.parent / "dags",
)

# The fixtures soda_cloud_emulator (an offline Soda Cloud) and airflow_db (the metadata database,
# created once per session).
pytest_plugins = ["airflow_provider_soda.testing.pytest_plugin"]
# [END testing_conftest]
