"""The examples whose triggers must run in a real triggerer, in a real Airflow (``airflow
standalone``: scheduler, DAG processor, triggerer, API server) against the emulator: incident
changes must become DAG runs, once each, and a deferred sensor must resume when its incident is
resolved. Both run on one Airflow; ``airflow_services`` gives test_scans_triggerer.py its own."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_soda.testing import SodaCloudEmulator
from airflow_provider_soda.testing.dag_test import copy_dag_files
from airflow_provider_soda.testing.processes import session_members, stop_session
from airflow_provider_soda.version_compat import AIRFLOW_V_3_0_PLUS

pytestmark = pytest.mark.standalone

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "example_soda_incident_events"
SENSOR_DAG_ID = "example_soda_wait_for_resolution"


def wait_for(what: str, check: Callable[[], Any], timeout: float, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    problems = ""
    if log is not None and log.exists():  # what went wrong in Airflow, for whoever reads the failure
        lines = log.read_text(errors="replace").splitlines()
        problems = "\n".join(line for line in lines if "error" in line.lower() or "Error" in line)[-4000:]
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}\n{problems}")


#: The event-driven example polls every 10 s, which suits a demo; here each poll is a wait the test
#: sits through (a baseline, a change, a resolution, two quiet polls), so the copy the Airflow runs
#: polls every 2 s; runs per change do not depend on it. (The sensor example keeps its 10 s: at 2 s,
#: on a loaded machine, its trigger fired before the deferring task's process had exited, and
#: Airflow 3.3.2's LocalExecutor then failed the resumed workload.)
STANDALONE_DAG_EDITS = {"poll_interval=10,": "poll_interval=2,"}


@contextlib.contextmanager
def standalone_airflow(
    dag_files: list[str], emulator: SodaCloudEmulator, tmp: Path, env_overrides: dict[str, str] | None = None
) -> Iterator[Path]:
    """``airflow standalone`` on a fresh SQLite DB under ``tmp``, running ``dag_files``; yields the DB.

    ``dag_files`` are paths from the repository's root, copied with :data:`STANDALONE_DAG_EDITS`;
    ``env_overrides`` add to (or replace) the environment it runs in (connections, say).
    """
    home, dags, port = tmp / "home", tmp / "dags", _free_port()
    copy_dag_files([ROOT / name for name in dag_files], dags)  # on Airflow 2: the compat imports
    for name in dag_files:
        copied = dags / Path(name).name
        text = copied.read_text()
        for old, new in STANDALONE_DAG_EDITS.items():
            text = text.replace(old, new)
        copied.write_text(text)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",  # where workers find the execution API
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW_CONN_SODA_CLOUD_DEFAULT": emulator.airflow_connection(),
        # A pacing schedule of this Airflow's own (a module-scoped Airflow starts before the
        # per-test setting of tests/conftest.py applies).
        "AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR": str(tmp / "pacing"),
        # Log servers on ports of their own too, so that another Airflow here does not collide.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
    }
    if not AIRFLOW_V_3_0_PLUS:  # Airflow 2's web server, in place of the API server
        env["AIRFLOW__WEBSERVER__WEB_SERVER_PORT"] = str(port)
    env.update(env_overrides or {})
    log = (tmp / "standalone.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow", "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    (tmp / "env.json").write_text(json.dumps(env))
    try:
        yield home / "airflow.db"
    finally:
        # standalone with everything it started (Airflow 2 included); the tests are over, so a task
        # or trigger that is slow to stop gets 3 s, not the 20 s a deployment's shutdown would.
        stop_session(process, grace=3.0)
        assert session_members(process.pid) == [], "airflow standalone left processes running"
        log.close()


@pytest.fixture
def airflow_services(
    request: pytest.FixtureRequest, tmp_path: Path, soda_cloud_emulator: SodaCloudEmulator
) -> Iterator[Path]:
    """A standalone Airflow for one test, running the DAG files its module names in ``STANDALONE_DAG_FILES``."""
    with standalone_airflow(request.module.STANDALONE_DAG_FILES, soda_cloud_emulator, tmp_path) as db:
        yield db


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[SodaCloudEmulator]:
    with SodaCloudEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def shared_airflow(
    shared_emulator: SodaCloudEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """One standalone Airflow for both tests of this module (one start-up instead of two): the
    event-driven example (Airflow 3; 2.x has no asset watchers) and the sensor example, which
    touch different incidents and DAGs."""
    examples = ([DAG_ID] if AIRFLOW_V_3_0_PLUS else []) + [SENSOR_DAG_ID]
    files = [f"example_dags/{dag_id}.py" for dag_id in examples]
    with standalone_airflow(files, shared_emulator, tmp_path_factory.mktemp("airflow")) as db:
        yield db


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def runs(db: Path, dag_id: str = DAG_ID, task_id: str = "react") -> list[tuple[str, str, Any]]:
    """(run id, state, the task's return value) of a DAG's runs, from the metadata DB."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute(
                "SELECT r.run_id, r.state, x.value FROM dag_run r LEFT JOIN xcom x ON x.dag_id = r.dag_id "
                "AND x.run_id = r.run_id AND x.task_id = ? AND x.key = 'return_value' "
                "WHERE r.dag_id = ? ORDER BY r.id",
                (task_id, dag_id),
            ).fetchall()
    except sqlite3.OperationalError:  # tables not there yet, or the DB is busy
        return []
    return [(run_id, state, json.loads(value) if value else None) for run_id, state, value in rows]


def watcher_polls(emulator: SodaCloudEmulator) -> int:
    return sum(
        1
        for r in emulator.requests_to("list_incidents")
        if r.query.get("datasetId") == ["ds-orders"] and r.status == 200
    )


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="event-driven scheduling (AssetWatcher) needs Airflow 3")
def test_incident_changes_schedule_the_dag_once_each(
    shared_airflow: Path, shared_emulator: SodaCloudEmulator
) -> None:
    airflow_services, soda_cloud_emulator = shared_airflow, shared_emulator
    log = airflow_services.parents[1] / "standalone.log"
    # The triggerer took its baseline: the critical incident already open on orders does not fire.
    wait_for("the triggerer to poll Soda Cloud", lambda: watcher_polls(soda_cloud_emulator) >= 1, 240, log)
    soda_cloud_emulator.add_incident(
        {"id": "orders-critical-new", "datasetId": "ds-orders", "severity": "critical", "number": 50}
    )
    first = wait_for(
        "a run for the new incident",
        lambda: [r for r in runs(airflow_services) if r[1] == "success"],
        120,
        log,
    )
    assert first[0][2] == ["quarantine orders (incident #50 reported)"]

    soda_cloud_emulator._update("orders-critical-new", {"status": "resolved"})
    both = wait_for(
        "a run for the resolution",
        lambda: (done := [r for r in runs(airflow_services) if r[1] == "success"])[1:] and done,
        120,
        log,
    )
    assert both[-1][2] == ["republish orders (incident #50 resolved)"]

    # A few more polls with no change: no more runs (each change fired once).
    polls = watcher_polls(soda_cloud_emulator)
    wait_for("two more polls", lambda: watcher_polls(soda_cloud_emulator) >= polls + 2, 60, log)
    assert len(runs(airflow_services)) == 2
    assert soda_cloud_emulator.requests_to("update_incident") == []


def task_state(db: Path, dag_id: str, task_id: str) -> str | None:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute(
                "SELECT state FROM task_instance WHERE dag_id = ? AND task_id = ?", (dag_id, task_id)
            ).fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def test_a_deferred_sensor_resumes_in_the_triggerer(
    shared_airflow: Path, shared_emulator: SodaCloudEmulator
) -> None:
    airflow_services, soda_cloud_emulator = shared_airflow, shared_emulator
    log = airflow_services.parents[1] / "standalone.log"
    env = json.loads((airflow_services.parents[1] / "env.json").read_text())
    wait_for("the API server", lambda: api_server_up(env), 240, log)
    wait_for("the DAG to be parsed", lambda: _trigger(env), 240, log)
    wait_for(
        "the sensor to defer",
        lambda: task_state(airflow_services, SENSOR_DAG_ID, "wait_for_resolution") == "deferred",
        120,
        log,
    )
    polls = len(soda_cloud_emulator.requests_to("list_incidents"))
    wait_for(
        "the trigger to poll", lambda: len(soda_cloud_emulator.requests_to("list_incidents")) > polls, 60, log
    )
    soda_cloud_emulator._update("7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01", {"status": "resolved"})
    done = wait_for(
        "the run to finish",
        lambda: [
            r for r in runs(airflow_services, SENSOR_DAG_ID, "rebuild_orders_mart") if r[1] == "success"
        ],
        120,
        log,
    )
    assert done[0][2] == "rebuilt after incident #1 was resolved"


def api_server_up(env: dict[str, str]) -> bool:
    """Whether the API server (Airflow 2: the web server) answers its health check.

    Tasks queued before it is up fail on Airflow 3.0 (the executor cannot reach the execution
    API: "Connection refused", then "not found in serialized_dag table"), so tests trigger after.
    """
    import requests

    base = env["AIRFLOW__API__BASE_URL"]
    path = "/api/v2/monitor/health" if AIRFLOW_V_3_0_PLUS else "/health"
    try:
        return requests.get(f"{base}{path}", timeout=2).ok
    except requests.RequestException:
        return False


def _trigger(env: dict[str, str], dag_id: str = SENSOR_DAG_ID) -> bool:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "trigger", dag_id],
        env=env,
        capture_output=True,
        check=False,
    )
    return result.returncode == 0
