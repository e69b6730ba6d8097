"""Benchmark: Soda webhook deliveries on a real Airflow 3 API server (2 workers, SQLite).

A fresh Airflow home gets the example DAG scheduled on ``soda-cloud://incidents/ds-orders/critical``
(so each delivery makes one asset event and queues one DAG run), then ``airflow api-server``.
The receiver commits the asset event before it answers, so a delivery's response time is the
time from the delivery to its asset event. Figures:

1. latency: 200 deliveries one after another; median, 95th percentile and maximum;
2. throughput: 1,000 distinct deliveries from 16 concurrent senders; deliveries per second, and
   asset events created (must be exactly 1,000);
3. duplicates: the same 1,000 sent again; deliveries per second, and asset events created (0).

Reference: the polling watcher (``SodaCloudIncidentEventTrigger``) notices a change at its next
poll: with the default ``poll_interval`` of 60 s, 30 s after the change on average and 60 s at
worst, and one list request per poll. Run with ``make bench``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-" + os.urandom(16).hex()
URI = "soda-cloud://incidents/ds-orders/critical"
POLL_INTERVAL = 60.0
WORKERS = 2
SENDERS = 16


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def delivery(number: int) -> bytes:
    return json.dumps(
        {
            "event": "incidentUpdated",
            "incident": {
                "id": f"inc-{number}",
                "number": number,
                "title": f"Incident {number}",
                "severity": "critical",
                "status": "investigating",
                "checkResults": [
                    {"name": "row_count > 0", "outcome": "fail", "datasets": [{"id": "ds-orders"}]}
                ],
            },
        }
    ).encode()


def events(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM asset_event").fetchone()[0])


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="soda-bench-webhooks-"))
    dags = home / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "example_dags" / "example_soda_webhook_incidents.py", dags)
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__WORKERS": str(WORKERS),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_CONN_SODA_CLOUD_DEFAULT": json.dumps(
            {"conn_type": "soda_cloud", "extra": {"webhook_token": TOKEN}}
        ),
    }
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([*airflow, "dags", "reserialize"], env=env, check=True, capture_output=True)
    log = (home / "api-server.log").open("wb")
    server = subprocess.Popen(
        [*airflow, "api-server", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/soda-cloud/webhooks/soda_cloud_default"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    db = home / "airflow.db"
    try:
        for _ in range(240):
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        session = requests.Session()
        session.post(url, data=delivery(0), headers=headers, timeout=60).raise_for_status()  # warm-up

        latencies = []
        for number in range(1, 201):
            started = time.perf_counter()
            answer = session.post(url, data=delivery(number), headers=headers, timeout=60)
            latencies.append(time.perf_counter() - started)
            assert answer.json()["asset_events"] == 1, answer.text
        latencies.sort()

        def send(body: bytes) -> int:
            answer = requests.post(url, data=body, headers=headers, timeout=120)
            answer.raise_for_status()
            return int(answer.json()["asset_events"])

        bodies = [delivery(number) for number in range(1000, 2000)]
        results = {}
        for name in ("distinct", "duplicates"):
            before = events(db)
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=SENDERS) as pool:
                created = sum(pool.map(send, bodies))
            seconds = time.perf_counter() - started
            results[name] = (len(bodies) / seconds, created, events(db) - before)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
        log.close()
        shutil.rmtree(home, ignore_errors=True)

    median = statistics.median(latencies)
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(f"Webhook receiver on airflow api-server ({WORKERS} workers, SQLite), {os.cpu_count()} cores")
    print("| figure | result | reference (polling watcher, poll_interval 60 s) | ratio |")
    print("| --- | --- | --- | ---: |")
    print(
        f"| delivery to asset event, 200 in a row | median {median * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms | {POLL_INTERVAL / 2:.0f} s on average, {POLL_INTERVAL:.0f} s at worst "
        f"| {median / (POLL_INTERVAL / 2):.4f} |"
    )
    rate, created, rows = results["distinct"]
    print(
        f"| 1,000 distinct deliveries, {SENDERS} senders | {rate:.0f} per s, {created} asset events "
        f"({rows} rows) | one list request per poll | |"
    )
    rate, created, rows = results["duplicates"]
    print(f"| the same 1,000 again | {rate:.0f} per s, {created} asset events ({rows} rows) | | |")


if __name__ == "__main__":
    main()
