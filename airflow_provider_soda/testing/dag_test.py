"""Run DAGs under ``dag.test()`` in a throwaway Airflow home, as the demo and the test suite do.

:func:`configure_airflow_home` must run before anything imports Airflow, because Airflow reads
its configuration once, at import.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun


#: How the example DAGs import Airflow (Airflow 3), and what Airflow 2.11 users write instead.
_AIRFLOW_3_IMPORT = "from airflow.sdk import "
_AIRFLOW_2_IMPORT = "from airflow.providers.common.compat.sdk import "


def copy_dag_files(sources: Iterable[Path], dags_folder: Path) -> None:
    """Copy DAG files into ``dags_folder``, as Airflow 2.11 would need them on Airflow 2.

    The example DAGs import ``DAG``, ``task``... from ``airflow.sdk``, as Airflow 3 users write
    them; on Airflow 2.11 the same names come from the compat layer (the comment above each
    import says so), and this is that one edit. Reads the installed Airflow's version without
    importing Airflow, so it may run before :func:`configure_airflow_home`.
    """
    from airflow_provider_soda.version_compat import AIRFLOW_V_3_0_PLUS

    dags_folder.mkdir(parents=True, exist_ok=True)
    for source in sources:
        text = source.read_text()
        if not AIRFLOW_V_3_0_PLUS:
            text = text.replace(_AIRFLOW_3_IMPORT, _AIRFLOW_2_IMPORT)
        (dags_folder / source.name).write_text(text)


def configure_airflow_home(home: Path, dags_folder: Path) -> None:
    """Point Airflow at ``home`` (SQLite metadata DB) and ``dags_folder``; no example DAGs."""
    if "airflow" in sys.modules:
        raise RuntimeError("configure_airflow_home() must run before Airflow is imported.")
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTOR": _sqlite_executor(),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
        }
    )


def _sqlite_executor() -> str:
    """Return the executor Airflow accepts beside SQLite (Airflow 2 refuses LocalExecutor there)."""
    from airflow_provider_soda.version_compat import AIRFLOW_V_3_0_PLUS  # reads metadata, not Airflow

    return "LocalExecutor" if AIRFLOW_V_3_0_PLUS else "SequentialExecutor"


def migrate_db() -> None:
    """``airflow db migrate`` in a subprocess, so its logging setup stays out of this process."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout}\n{result.stderr}")


def run_dag(
    dag_id: str, *, conf: dict[str, Any] | None = None, logical_date: datetime | None = None
) -> DagRun:
    """Parse the DAGs folder, run ``dag_id`` once with ``dag.test()`` and return the finished DagRun.

    :param logical_date: the run's logical date. Give one where a template reads the data
        interval: on Airflow 3.0, a run without a logical date has no ``data_interval_end``.
    """
    from airflow_provider_soda.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_2_PLUS

    # DagBag is no public API; it moved to the DAG processor in Airflow 3.2.
    if AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import DagBag
    else:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]

    bag = DagBag()
    if bag.import_errors:
        raise RuntimeError(f"DAG files failed to import: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise LookupError(f"No DAG {dag_id!r} in {bag.dag_folder}")
    dated: dict[str, Any] = {}
    if logical_date is not None:
        dated = {"logical_date" if AIRFLOW_V_3_0_PLUS else "execution_date": logical_date}
    dag_run: DagRun = dag.test(run_conf=conf, **dated)
    return dag_run
