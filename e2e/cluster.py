"""``make e2e-cluster``: a real distributed Airflow sharing one Soda Cloud rate limit through Redis.

Starts, on loopback: the Soda Cloud emulator (10 updates per 5 s), and Airflow with
CeleryExecutor: PostgreSQL as metadata database (a database of this run's own), Redis as Celery
broker and as the provider's rate-limit store (key prefixes of this run's own), an API server,
scheduler, DAG processor, triggerer, and two Celery workers as separate process trees with
separate local pacing directories, as if on two hosts. Then it runs ``soda_cluster_storm``,
whose 20 tasks fail at once, each with ``SodaCloudIncidentNotifier`` on failure, and checks that
all 20 incidents end ``investigating`` and that the emulator answered no request with 429.
Last, Soda webhook deliveries: 50 incidents, each delivered three times at once to two API
servers (two workers each) on the one PostgreSQL database, must make exactly 50 asset events,
which the scheduler turns into runs of ``soda_cluster_webhooks`` on the Celery workers.
It stops exactly the processes it started and drops its database, even on failure.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from common import BIN, ROOT, free_port, start, step, stop, wait_for

HOME = ROOT / ".airflow" / "e2e-cluster"
DAG_ID = "soda_cluster_storm"
TASKS = 20
WINDOW = "10/5"  # updates per seconds, at the emulator and in the connection
BULK_DAG_ID = "soda_cluster_bulk"
BULK_INCIDENTS = 300
BULK_WINDOW = "50/2"
#: A deferral must carry where to resume, not what was done: its trigger's kwargs stay this small.
MAX_TRIGGER_KWARGS = 2048
POSTGRES = os.environ.get("SODA_E2E_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432")
REDIS = os.environ.get("SODA_E2E_REDIS", "redis://127.0.0.1:6379/0")
WEBHOOK_DAG_ID = "soda_cluster_webhooks"
WEBHOOK_TOKEN = secrets.token_hex(24)
WEBHOOK_DELIVERIES = 50


def psql(sql: str) -> None:
    """Run one statement against the server's ``test`` database (trust auth, as on this project's machines)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(f"{POSTGRES}/test", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(sql))
    engine.dispose()


def airflow(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "airflow"), *args], env=env, capture_output=True, text=True, check=False, timeout=300
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def run_state(env: dict[str, str], dag_id: str, run_id: str) -> str | None:
    output = airflow(env, "dags", "list-runs", dag_id, "-o", "json")
    # Warnings (e.g. about graphviz) may precede the JSON on stdout.
    runs = json.loads(next((line for line in output.splitlines() if line.startswith("[")), "[]"))
    for run in runs:
        if run.get("run_id") == run_id:
            return str(run.get("state"))
    return None


def alive(processes: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    """Fail at once, with the log's tail, when a process of the cluster has died."""
    for process, log in zip(processes, logs, strict=True):
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{log.name}: the process exited with {process.returncode}:\n{tail}")


def run_dag(
    env: dict[str, str], dag_id: str, run_id: str, processes: list[subprocess.Popen[bytes]], logs: list[Path],
    *, while_running: Any = None,
) -> str:  # fmt: skip
    """Unpause and trigger ``dag_id``; return the run's final state."""
    wait_for(f"DAG {dag_id} to be parsed", lambda: dag_id in airflow(env, "dags", "list", "-o", "plain"), 180)
    airflow(env, "dags", "unpause", dag_id)
    airflow(env, "dags", "trigger", dag_id, "--run-id", run_id)
    final: list[str] = []

    def finished() -> bool:
        alive(processes, logs)
        if while_running is not None:
            while_running()
        state = run_state(env, dag_id, run_id)
        if state in ("failed", "success"):
            final.append(state)
        return bool(final)

    wait_for(f"the {dag_id} run to finish", finished, 600)
    return final[0]


def emulator_state(url: str) -> dict[str, Any]:
    return dict(requests.get(f"{url}/_emulator/state", timeout=5).json())


def storm(
    env: dict[str, str], run: str, emulator: str, processes: list[subprocess.Popen[bytes]], logs: list[Path]
) -> bool:
    """20 tasks fail at once; each failure callback moves its incident, sharing one rate limit."""
    step(f"{DAG_ID}: {TASKS} tasks fail at once on two workers, each notifying Soda Cloud")
    state = run_dag(env, DAG_ID, f"storm_{run}", processes, logs)
    step(f"{DAG_ID} finished {state} (every task fails on purpose)")
    wanted = [f"inc-{n:04d}" for n in range(1, TASKS + 1)]
    snapshot: dict[str, Any] = {}

    def all_moved() -> bool:  # the callbacks run right after each failure, in the task processes
        snapshot.update(emulator_state(emulator))
        return all(snapshot["incidents"][i]["status"] == "investigating" for i in wanted)

    with contextlib.suppress(TimeoutError):
        wait_for("all incidents to be investigating", all_moved, 120)
    updates = [r for r in snapshot["requests"] if r["endpoint"] == "update_incident"]
    rejected = sum(1 for r in updates if r["status"] == 429)
    landed = {r["incident_id"] for r in updates if r["status"] == 200}
    moved = sum(1 for i in wanted if snapshot["incidents"][i]["status"] == "investigating")
    step(f"{moved} of {TASKS} incidents investigating, {rejected} x 429, {len(updates)} update requests")
    return state == "failed" and moved == TASKS and rejected == 0 and landed == set(wanted)


def bulk(
    env: dict[str, str], run: str, emulator: str, processes: list[subprocess.Popen[bytes]], logs: list[Path]
) -> bool:
    """A deferrable bulk run of 300 incidents, its waits spent in the real triggerer."""
    import sqlalchemy

    step(f"{BULK_DAG_ID}: UpdateIncidentsOperator(deferrable=True) over {BULK_INCIDENTS} incidents")
    engine = sqlalchemy.create_engine(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    largest = [0]

    def sample_trigger_kwargs() -> None:
        with engine.connect() as connection:
            size = connection.execute(sqlalchemy.text("SELECT max(length(kwargs)) FROM trigger")).scalar()
        largest[0] = max(largest[0], int(size or 0))

    done = threading.Event()

    def sample_until_done() -> None:  # a trigger lives a few seconds: sample often
        while not done.wait(0.2):
            with contextlib.suppress(Exception):
                sample_trigger_kwargs()

    sampler = threading.Thread(target=sample_until_done, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        state = run_dag(env, BULK_DAG_ID, f"bulk_{run}", processes, logs)
    finally:
        done.set()
        sampler.join()
    wall = time.monotonic() - started
    task_logs = HOME / "logs" / f"dag_id={BULK_DAG_ID}"
    deferrals = sum(
        path.read_text(errors="replace").count("waiting in the triggerer")
        for path in task_logs.rglob("*.log")
    )
    engine.dispose()
    snapshot = emulator_state(emulator)
    updates = [r for r in snapshot["requests"] if r["endpoint"] == "update_incident"]
    rejected = sum(1 for r in updates if r["status"] == 429)
    # Only the run's own incidents (inc-0001 ...): the emulator also seeds some already resolved.
    resolved = sum(
        1
        for i, body in snapshot["incidents"].items()
        if i.startswith("inc-0") and body["status"] == "resolved"
    )
    step(
        f"{BULK_DAG_ID} finished {state} in {wall:.0f} s: {resolved} of {BULK_INCIDENTS} resolved, "
        f"{len(updates)} update requests, {rejected} x 429, deferrals: {deferrals}, largest "
        f"trigger kwargs seen: {largest[0]} bytes (limit {MAX_TRIGGER_KWARGS})"
    )
    return (
        state == "success"
        and resolved == BULK_INCIDENTS
        and len(updates) == BULK_INCIDENTS
        and rejected == 0
        and 0 < largest[0] <= MAX_TRIGGER_KWARGS
    )


def metadata(env: dict[str, str], sql: str) -> list[Any]:
    """Rows of one query against this run's metadata database."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    with engine.connect() as connection:
        rows = list(connection.execute(sqlalchemy.text(sql)))
    engine.dispose()
    return rows


def webhooks(env: dict[str, str], servers: list[str], processes: list[subprocess.Popen[bytes]],
             logs: list[Path]) -> bool:  # fmt: skip
    """Deliveries, each sent three times at once across two API servers: each emitted exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    uri = "soda-cloud://incidents/ds-orders/critical"
    step(
        f"{WEBHOOK_DAG_ID}: {WEBHOOK_DELIVERIES} webhook deliveries, each 3 times across {len(servers)} API servers"
    )
    active = f"SELECT count(*) FROM asset_active WHERE uri = '{uri}'"
    wait_for(
        "the webhook DAG's asset", lambda: alive(processes, logs) or metadata(env, active)[0][0] == 1, 180
    )
    for url in servers:
        wait_for(
            f"the API server at {url}",
            lambda url=url: requests.get(f"{url}/api/v2/version", timeout=2).ok,
            120,
        )

    def send(job: tuple[str, int]) -> tuple[int, int]:
        url, number = job
        body = {"event": "incidentCreated", "incident": {
            "id": f"wh-{number}", "number": number, "title": f"Incident {number}", "severity": "critical",
            "status": "reported", "checkResults": [{"name": "c", "datasets": [{"id": "ds-orders"}]}]}}  # fmt: skip
        answer = requests.post(f"{url}/soda-cloud/webhooks/soda_cloud_default", json=body, timeout=120,
                               headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})  # fmt: skip
        return answer.status_code, answer.json().get("asset_events", 0) if answer.ok else 0

    jobs = [(url, n) for n in range(WEBHOOK_DELIVERIES) for url in (servers[0], servers[1], servers[0])]
    with ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(send, jobs))
    events = f"SELECT count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.uri = '{uri}'"
    stored = metadata(env, events)[0][0]
    statuses = sorted({status for status, _ in answers})
    created = sum(count for _, count in answers)
    triggered = (
        f"SELECT coalesce(sum(cast(x.value as text)::int), 0) FROM xcom x WHERE x.dag_id = '{WEBHOOK_DAG_ID}'"
    )

    def all_run() -> bool:
        alive(processes, logs)
        return bool(metadata(env, triggered)[0][0] == WEBHOOK_DELIVERIES)

    # Every event should reach a run's triggering_asset_events; Airflow 3.0-3.3 may leave out
    # events stored while its scheduler creates a run (apache/airflow#54659; docs/webhooks.md), so
    # what runs consumed is reported, and the provider's own promise (each delivery stored once)
    # is what passes or fails.
    with contextlib.suppress(TimeoutError):
        wait_for("runs that consumed every asset event", all_run, 90)
    consumed = metadata(env, triggered)[0][0]
    step(f"answers {statuses}, {created} asset events reported, {stored} stored, {consumed} seen by runs")
    return statuses == [200] and created == stored == WEBHOOK_DELIVERIES and consumed > 0


def main() -> int:
    started_at = time.monotonic()
    run = uuid.uuid4().hex[:10]
    database = f"soda_e2e_cluster_{run}"
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    api_port, emulator_port, bulk_port = free_port(), free_port(), free_port()
    emulator, bulk_emulator = f"http://127.0.0.1:{emulator_port}", f"http://127.0.0.1:{bulk_port}"
    connection = {
        "conn_type": "soda_cloud",
        "host": emulator,
        "login": "emulator-key-id",
        "password": "emulator-key-secret",
        "extra": {
            "update_incident_requests": 10,
            "update_incident_period": 5,
            "webhook_token": WEBHOOK_TOKEN,
        },
    }
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "e2e" / "cluster_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": "32",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "32",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{POSTGRES}/{database}",
        "AIRFLOW__CELERY__BROKER_URL": REDIS,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{POSTGRES}/{database}",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": f"soda-e2e-{run}:",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "10",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API__WORKERS": "2",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW_CONN_SODA_CLOUD_DEFAULT": json.dumps(connection),
        "AIRFLOW_CONN_SODA_CLOUD_BULK": json.dumps(
            {
                **connection,
                "host": bulk_emulator,
                "extra": {"update_incident_requests": 50, "update_incident_period": 2},
            }
        ),
        "AIRFLOW__SODA_CLOUD__RATE_LIMIT_STORE": REDIS,
        "AIRFLOW__SODA_CLOUD__RATE_LIMIT_REDIS_PREFIX": f"soda-e2e-{run}",
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        step(f"PostgreSQL database {database}, Redis prefixes soda-e2e-{run}")
        psql(f'CREATE DATABASE "{database}"')
        airflow(env, "db", "migrate")
        emulator_cmd = [
            sys.executable, "-m", "airflow_provider_soda.testing.emulator", "--port", str(emulator_port),
            "--rate-limit", f"update_incident={WINDOW}", "--extra-incidents", str(TASKS),
        ]  # fmt: skip
        logs = [HOME / "emulator.log"]
        processes.append(start(emulator_cmd, logs[-1], env))
        bulk_cmd = [
            sys.executable, "-m", "airflow_provider_soda.testing.emulator", "--port", str(bulk_port),
            "--rate-limit", f"update_incident={BULK_WINDOW}", "--extra-incidents", str(BULK_INCIDENTS),
        ]  # fmt: skip
        logs.append(HOME / "bulk-emulator.log")
        processes.append(start(bulk_cmd, logs[-1], env))
        for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
            logs.append(HOME / f"{name}.log")
            processes.append(start([str(BIN / "airflow"), name], logs[-1], env))
        second_api = free_port()  # a second API server, as on another host
        logs.append(HOME / "api-server-2.log")
        processes.append(
            start([str(BIN / "airflow"), "api-server", "--port", str(second_api)], logs[-1], env)
        )
        for worker in ("a", "b"):  # two hosts: separate process trees and local pacing directories
            worker_env = {**env, "AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR": str(HOME / f"host-{worker}-pacing")}
            command = [str(BIN / "airflow"), "celery", "worker", "--celery-hostname", f"host-{worker}@%h"]
            logs.append(HOME / f"worker-{worker}.log")
            processes.append(start(command, logs[-1], worker_env))
        for url in (emulator, bulk_emulator):
            wait_for(
                "the emulators", lambda url=url: requests.get(f"{url}/_emulator/state", timeout=2).ok, 30
            )
        wait_for(
            "the API server",
            lambda: requests.get(f"http://127.0.0.1:{api_port}/api/v2/version", timeout=2).ok,
            120,
        )
        storm_ok = storm(env, run, emulator, processes, logs)
        bulk_ok = bulk(env, run, bulk_emulator, processes, logs)
        servers = [f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{second_api}"]
        webhooks_ok = webhooks(env, servers, processes, logs)
        ok = storm_ok and bulk_ok and webhooks_ok
        step(f"{'PASSED' if ok else 'FAILED'} in {time.monotonic() - started_at:.0f} s")
        return 0 if ok else 1
    finally:
        for process in reversed(processes):
            stop(process)
        try:
            psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        except Exception as err:  # never hide the run's own outcome
            print(f"e2e-cluster: could not drop database {database}: {err}", flush=True)
        try:
            import redis

            client = redis.Redis.from_url(REDIS)
            for prefix in (f"soda-e2e-{run}:*",):
                for key in client.scan_iter(prefix):
                    client.delete(key)
        except Exception as err:
            print(f"e2e-cluster: could not clean Redis keys: {err}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
