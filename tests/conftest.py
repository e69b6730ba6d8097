"""Test setup: a throwaway Airflow home with a SQLite DB, and the DAGs folder dag.test() needs.

Airflow reads its configuration at import, so the environment is prepared here, at conftest
import, before any test module imports Airflow.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_soda.testing.dag_test import configure_airflow_home, copy_dag_files, run_dag
from airflow_provider_soda.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_3_PLUS

pytest_plugins = ["airflow_provider_soda.testing.pytest_plugin"]

ROOT = Path(__file__).resolve().parent.parent
#: Examples that need what only Airflow 3 has (asset watchers); on 2.x their files are not parsed.
AIRFLOW_3_ONLY_EXAMPLES = {"example_soda_incident_events.py"}
#: Set by the first load of this conftest in a process. pytest.main() may run again in the same
#: process (make mutation: mutmut's runs), and Airflow keeps the configuration of its first import.
_LOADED = "SODA_TEST_AIRFLOW_HOME"
if _LOADED in os.environ and "airflow" in sys.modules:
    _HOME = Path(os.environ[_LOADED])
    DAGS_FOLDER = _HOME / "dags"
else:
    _HOME = Path(tempfile.mkdtemp(prefix="soda-provider-airflow-"))
    DAGS_FOLDER = _HOME / "dags"
    DAGS_FOLDER.mkdir()
    copy_dag_files(
        [
            source
            for source in [*(ROOT / "example_dags").glob("*.py"), *(ROOT / "tests" / "dags").glob("*.py")]
            if AIRFLOW_V_3_0_PLUS or source.name not in AIRFLOW_3_ONLY_EXAMPLES
        ],
        DAGS_FOLDER,
    )
    # Contract YAML files the examples verify (contract_file= is relative to the DAG file's folder).
    shutil.copytree(ROOT / "example_dags" / "contracts", DAGS_FOLDER / "contracts")
    # INFO, so that tests can read what operators log (deferrals, retries); pytest shows it only on failure.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
    configure_airflow_home(_HOME, DAGS_FOLDER)
    os.environ[_LOADED] = str(_HOME)
    atexit.register(shutil.rmtree, _HOME, ignore_errors=True)


#: The longest files, longest first (the first three start real ``airflow standalone`` Airflows). make
#: test runs files in parallel workers in collection order (``pytest -n 4 --dist loadfile
#: --no-loadscope-reorder``); starting the longest first lets the short ones fill the other workers
#: meanwhile, instead of everyone waiting on a long one at the end. Other files keep their order.
SLOWEST_FILES = (
    "test_scans_triggerer.py",
    "test_event_driven.py",
    "test_webhooks_receiver.py",
    "test_lineage.py",
    "test_storm.py",
    "test_scans.py",
    "test_pacing_redis_topologies.py",
    "test_rate_limits_airflow.py",
    "test_watching.py",
    "test_waits_and_selections.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


@pytest.fixture(autouse=True)
def _own_pacing_schedules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test paces in a schedule directory of its own: emulator ports repeat between tests,
    and a pause one test provoked (a 429 with Retry-After) must not reach the next."""
    monkeypatch.setenv("AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR", str(tmp_path / "pacing"))


REDIS_URL = os.environ.get("SODA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_NO_REDIS = (
    "needs Redis at {url} ({reason}). Start one (apt-get install redis-server; redis-server) or point "
    "SODA_TEST_REDIS_URL at yours; under CI=true these tests fail instead of skipping."
)


def _redis_or_skip(url: str) -> None:
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as err:
        message = _NO_REDIS.format(url=url, reason=f"{type(err).__name__}: {err}")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def redis_store_env(tmp_path: Path) -> dict[str, str]:
    """``[soda_cloud]`` settings for the shared Redis, under a key prefix of this test's own."""
    _redis_or_skip(REDIS_URL)
    return {
        "AIRFLOW__SODA_CLOUD__RATE_LIMIT_STORE": REDIS_URL,
        "AIRFLOW__SODA_CLOUD__RATE_LIMIT_REDIS_PREFIX": f"soda-test-{uuid.uuid4().hex}",
        "AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR": str(tmp_path / "unused-local-dir"),
    }


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test's own on a free port (so that the test may stop it)."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = _NO_REDIS.format(url="a port of its own", reason="no redis-server binary")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):
            try:
                import redis

                redis.Redis.from_url(url, socket_connect_timeout=0.2).ping()
                break
            except Exception:
                time.sleep(0.05)
        yield url
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def dag_test(airflow_db: None) -> Callable[..., Any]:
    """Run a DAG from the test DAGs folder under ``dag.test()``; returns the finished DagRun."""
    return run_dag


def task_instances(dag_run: Any) -> dict[str, Any]:
    """Task instances of a finished run by task id, read fresh from the metadata DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
        for ti in tis:
            session.expunge(ti)
    return {ti.task_id: ti for ti in tis}


def xcom_values(dag_run: Any, **filters: Any) -> list[Any]:
    """XCom values of a finished run, as a downstream task would pull them.

    :param filters: ``task_ids``, ``key``, ``map_indexes`` as ``get_many`` takes them.
    """
    from airflow.utils.session import create_session

    from airflow_provider_soda.version_compat import AIRFLOW_V_3_0_PLUS

    if not AIRFLOW_V_3_0_PLUS:  # Airflow 2: XCom rows come back deserialised, from a Query
        from airflow.models.xcom import XCom

        with create_session() as session:
            rows = XCom.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, session=session, **filters)
            return [row.value for row in rows]

    from airflow.models.xcom import XComModel

    query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, **filters)
    with create_session() as session:
        return [XComModel.deserialize_value(row) for row in session.scalars(query)]


def xcom_value(dag_run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """One XCom value of a finished run (None where there is none)."""
    values = xcom_values(dag_run, task_ids=task_id, key=key, map_indexes=map_index)
    return values[0] if values else None


def extra_link_url(dag_run: Any, task_id: str, link: Any, map_index: int = -1) -> Any:
    """The URL the UI shows for an extra link: stored when the task ends on Airflow 3, asked of the
    link by the web server on Airflow 2."""
    from airflow_provider_soda.version_compat import AIRFLOW_V_3_0_PLUS

    if AIRFLOW_V_3_0_PLUS:
        return xcom_value(dag_run, task_id, key=link.xcom_key, map_index=map_index)
    from airflow.models.taskinstancekey import TaskInstanceKey

    ti_key = TaskInstanceKey(dag_run.dag_id, task_id, dag_run.run_id, 1, map_index)
    return link.get_link(None, ti_key=ti_key)


#: Airflow 3.2's dag.test() leaves the task's exception out of the callback context (its workers
#: put it in); from 3.3 on, both do. Tests check the exception text only there, on older releases too.
DAG_TEST_PASSES_EXCEPTIONS = AIRFLOW_V_3_3_PLUS


def task_logs(capsys: pytest.CaptureFixture[str]) -> str:
    """What the tasks logged under ``dag.test()`` (stdout or stderr, by release), whitespace folded.

    Airflow 3.0 prints a task's exception through rich, wrapped at 80 columns; folding runs of
    whitespace lets tests look for a message whole on every release.
    """
    captured = capsys.readouterr()
    return " ".join((captured.out + captured.err).split())


async def first_event(trigger: Any) -> dict[str, Any]:
    """The trigger's first event; then its generator is closed, as the triggerer does."""
    events = trigger.run()
    try:
        async for event in events:
            return dict(event.payload)
    finally:
        await events.aclose()
    raise AssertionError("the trigger ended without an event")


def wait_for_scan_state(emulator: Any, scan_id: str, *states: str, timeout: float = 10.0) -> str:
    """Wait until the emulator's scan is in one of ``states`` (a scan moves on its own clock)."""
    deadline = time.monotonic() + timeout
    while (state := emulator.scans.scan(scan_id)["state"]) not in states:
        if time.monotonic() > deadline:
            raise AssertionError(f"scan {scan_id} is {state} after {timeout} s, not one of {states}")
        time.sleep(0.02)
    return str(state)


@dataclasses.dataclass(kw_only=True)
class StandInTI:
    """A task instance for tests that call an operator's or notifier's methods directly, outside a
    DAG run: the fields those methods read and an XCom store (``xcom``) they push to and pull from.
    Anything else raises AttributeError, so a test notices what its code path needs."""

    dag_id: str = "pipeline"
    task_id: str = "t"
    run_id: str = "manual__1"
    try_number: int = 1
    map_index: int = -1
    state: Any = None
    start_date: Any = None
    xcom: dict[str, Any] = dataclasses.field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, *, task_ids: str, key: str, map_indexes: int) -> Any:
        assert (task_ids, map_indexes) == (self.task_id, self.map_index), "pulled another task's XCom"
        return self.xcom.get(key)


class RecordingLog:
    """Stands in for an operator's ``log`` where no task runs (every release logs differently there)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __getattr__(self, level: str) -> Any:
        return lambda message, *args, **kwargs: self.lines.append(
            f"{level.upper()} {message % args if args else message}"
        )

    def log(self, level: int, message: str, *args: Any, **kwargs: Any) -> None:
        import logging

        self.lines.append(f"{logging.getLevelName(level)} {message % args if args else message}")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def operator_log(monkeypatch: pytest.MonkeyPatch) -> Callable[[type], RecordingLog]:
    def install(operator: type) -> RecordingLog:
        recording = RecordingLog()
        monkeypatch.setattr(operator, "log", property(lambda self: recording))
        return recording

    return install
