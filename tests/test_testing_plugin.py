"""The testing page's setup, run as a DAG project runs it: its conftest, the plugin's fixtures and
the how-to test, by pytest in a process and a directory of their own, with no Airflow settings
inherited from this suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from airflow_provider_soda.testing.dag_test import copy_dag_files

ROOT = Path(__file__).resolve().parent.parent


def region(path: Path, name: str) -> str:
    text = path.read_text()
    return text.split(f"# [START {name}]\n", 1)[1].split(f"# [END {name}]", 1)[0]


def run_pytest(project: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_documented_conftest_runs_the_documented_test(tmp_path: Path) -> None:
    copy_dag_files([ROOT / "example_dags" / "example_soda_incident_lifecycle.py"], tmp_path / "dags")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text(
        region(ROOT / "docs" / "examples" / "testing_conftest.py", "testing_conftest")
    )
    (tmp_path / "tests" / "test_lifecycle.py").write_text(
        region(ROOT / "tests" / "test_docs.py", "howto_test_with_emulator")
    )

    result = run_pytest(tmp_path)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout


def test_airflow_db_without_a_configured_home_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text(
        'pytest_plugins = ["airflow_provider_soda.testing.pytest_plugin"]\n'
    )
    (tmp_path / "tests" / "test_db.py").write_text("def test_db(airflow_db):\n    pass\n")

    result = run_pytest(tmp_path)

    assert result.returncode == 1
    assert "call airflow_provider_soda.testing.dag_test.configure_airflow_home" in result.stdout.lower()
