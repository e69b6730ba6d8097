"""``make e2e-cluster``: a real distributed Airflow sharing one Soda Cloud rate limit through Redis.

Starts, on loopback: the Soda Cloud emulator (10 updates per 5 s), and Airflow with
CeleryExecutor: PostgreSQL as metadata database (a database of this run's own), Redis as Celery
broker and as the provider's rate-limit store (key prefixes of this run's own), an API server,
scheduler, DAG processor, triggerer, and two Celery workers as separate process trees with
separate local pacing directories, as if on two hosts. Then it runs ``soda_cluster_storm``,
whose 20 tasks fail at once, each with ``SodaCloudIncidentNotifier`` on failure, and checks that
all 20 incidents end ``investigating`` and that the emulator answered no request with 429.
It stops exactly the processes it started and drops its database, even on failure.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from run import BIN, ROOT, free_port, start, step, stop, wait_for

HOME = ROOT / ".airflow" / "e2e-cluster"
DAG_ID = "soda_cluster_storm"
TASKS = 20
WINDOW = "10/5"  # updates per seconds, at the emulator and in the connection
POSTGRES = os.environ.get("SODA_E2E_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432")
REDIS = os.environ.get("SODA_E2E_REDIS", "redis://127.0.0.1:6379/0")


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


def run_state(env: dict[str, str], run_id: str) -> str | None:
    runs = json.loads(airflow(env, "dags", "list-runs", DAG_ID, "-o", "json") or "[]")
    for run in runs:
        if run.get("run_id") == run_id:
            return str(run.get("state"))
    return None


def main() -> int:
    started_at = time.monotonic()
    run = uuid.uuid4().hex[:10]
    database = f"soda_e2e_cluster_{run}"
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    api_port, emulator_port = free_port(), free_port()
    emulator = f"http://127.0.0.1:{emulator_port}"
    connection = {
        "conn_type": "soda_cloud",
        "host": emulator,
        "login": "emulator-key-id",
        "password": "emulator-key-secret",
        "extra": {"update_incident_requests": 10, "update_incident_period": 5},
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
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{POSTGRES.replace('+psycopg2', '')}/{database}",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": f"soda-e2e-{run}:",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "10",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW_CONN_SODA_CLOUD_DEFAULT": json.dumps(connection),
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
        processes.append(start(emulator_cmd, HOME / "emulator.log", env))
        for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
            processes.append(start([str(BIN / "airflow"), name], HOME / f"{name}.log", env))
        for worker in ("a", "b"):  # two hosts: separate process trees and local pacing directories
            worker_env = {**env, "AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR": str(HOME / f"host-{worker}-pacing")}
            command = [str(BIN / "airflow"), "celery", "worker", "--celery-hostname", f"host-{worker}@%h"]
            processes.append(start(command, HOME / f"worker-{worker}.log", worker_env))
        wait_for("the emulator", lambda: requests.get(f"{emulator}/_emulator/state", timeout=2).ok, 30)
        wait_for(
            "the API server",
            lambda: requests.get(f"http://127.0.0.1:{api_port}/api/v2/version", timeout=2).ok,
            120,
        )
        wait_for(
            f"DAG {DAG_ID} to be parsed", lambda: DAG_ID in airflow(env, "dags", "list", "-o", "plain"), 120
        )
        airflow(env, "dags", "unpause", DAG_ID)
        run_id = f"storm_{run}"
        airflow(env, "dags", "trigger", DAG_ID, "--run-id", run_id)
        step(f"triggered {DAG_ID}: {TASKS} tasks fail at once, each notifying Soda Cloud")
        state = wait_for(
            "the DAG run to finish", lambda: run_state(env, run_id) in ("failed", "success"), 600
        )
        step(f"DAG run finished: {run_state(env, run_id)} (expected failed: every task fails on purpose)")
        # The failure callbacks run in the task processes right after each failure.
        snapshot: dict[str, Any] = {}

        def all_moved() -> bool:
            snapshot.update(requests.get(f"{emulator}/_emulator/state", timeout=5).json())
            return all(
                snapshot["incidents"][f"inc-{n:04d}"]["status"] == "investigating"
                for n in range(1, TASKS + 1)
            )

        moved = False
        with contextlib.suppress(TimeoutError):
            moved = bool(wait_for("all incidents to be investigating", all_moved, 120))
        updates = [r for r in snapshot["requests"] if r["endpoint"] == "update_incident"]
        rejected = sum(1 for r in updates if r["status"] == 429)
        landed = {r["incident_id"] for r in updates if r["status"] == 200}
        step(f"{len(landed)} of {TASKS} incidents updated, {rejected} x 429, {len(updates)} update requests")
        ok = moved and state and rejected == 0 and len(landed) == TASKS
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
