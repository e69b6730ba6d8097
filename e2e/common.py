"""What ``make e2e`` does the same way on every Airflow: processes, waiting, the REST checks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import requests

from airflow_provider_soda.testing.processes import stop_session

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_VERSION = metadata.version("apache-airflow")
HOME = ROOT / ".airflow" / f"e2e-{AIRFLOW_VERSION}"
ARTIFACTS = ROOT / "e2e" / "artifacts" / f"airflow-{AIRFLOW_VERSION}"
BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USER = "admin"
# Typed into the form's "CA bundle" field; the emulator speaks plain HTTP, so it is stored, not used.
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
DAG_ID = "example_soda_incident_lifecycle"
INCIDENT_ID = "7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01"
KEY_ID, KEY_SECRET = "emulator-key-id", "emulator-key-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a process in its own process group, so that it can be stopped with its children."""
    return subprocess.Popen(
        command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the process and everything it started (its whole session: see testing/processes.py)."""
    stop_session(process)


def wait_for(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except (requests.RequestException, KeyError, ValueError):
            result = None
        if result:
            return result
        time.sleep(1)
    raise TimeoutError(f"Timed out after {timeout:.0f} s waiting for {what}")


def step(message: str) -> None:
    print(f"e2e: {message}", flush=True)


@dataclass
class RestApi:
    """Airflow's stable REST API: ``/api/v1`` with basic auth on 2.x, ``/api/v2`` with a token on 3.x."""

    base: str
    prefix: str
    session: requests.Session

    def url(self, path: str) -> str:
        return f"{self.base}{self.prefix}{path}"

    def check_saved_connection(self, emulator: str) -> None:
        """What the form stored: the region typed or picked, the URL and key typed into it."""
        saved = self.session.get(self.url("/connections/soda_cloud_default"), timeout=10).json()
        extra = json.loads(saved.get("extra") or "{}")
        step(f"saved connection: type {saved['conn_type']}, host {saved['host']}, extra {extra}")
        stored = (saved["conn_type"], saved["host"], saved["login"], extra.get("region"), extra.get("verify"))
        if stored != ("soda_cloud", emulator, KEY_ID, "us", CA_BUNDLE):
            raise AssertionError(f"the form stored {saved}")

    def test_stored_connection(self, **fields: str) -> None:
        """The stored connection through the REST test endpoint (what the UI's Test button calls on 3.1+).

        With only the id and type sent, Airflow 3.1+ tests the connection exactly as the form saved
        it, secret included; 3.0 tests only what is sent, so ``fields`` carries the rest there.
        """
        body = {"connection_id": "soda_cloud_default", "conn_type": "soda_cloud", **fields}
        result = self.session.post(self.url("/connections/test"), json=body, timeout=60).json()
        step(f"POST {self.prefix}/connections/test: {result}")
        if not (result.get("status") and "Connected to Emulated Soda Org" in result.get("message", "")):
            raise AssertionError(f"test connection failed: {result}")

    def trigger_dag(self) -> str:
        wait_for(
            f"{DAG_ID} to be parsed",
            lambda: self.session.get(self.url(f"/dags/{DAG_ID}"), timeout=10).ok,
            120,
        )
        self.session.patch(
            self.url(f"/dags/{DAG_ID}"), json={"is_paused": False}, timeout=10
        ).raise_for_status()
        step("triggering the example DAG through the REST API")
        body: dict[str, Any] = {"conf": {"incident_id": INCIDENT_ID, "fail_pipeline": False}}
        if self.prefix == "/api/v2":
            body["logical_date"] = None
        response = self.session.post(self.url(f"/dags/{DAG_ID}/dagRuns"), json=body, timeout=10)
        response.raise_for_status()
        run_id: str = response.json()["dag_run_id"]
        url = self.url(f"/dags/{DAG_ID}/dagRuns/{run_id}")
        state = wait_for(
            "the DAG run to finish",
            lambda: (s := self.session.get(url, timeout=10).json()["state"]) in ("success", "failed") and s,
            300,
        )
        if state != "success":
            raise AssertionError(f"DAG run {run_id} ended {state}")
        return run_id

    def extra_link(self, run_id: str) -> str:
        path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/resolve_incident/links"
        links = self.session.get(self.url(path), timeout=10).json()
        step(f"extra links: {links}")
        return str(links.get("extra_links", links).get("Soda Cloud incident"))


def run_documented_connection_test(env: dict[str, str], api: RestApi) -> None:
    """The commands the docs give for a broken Test button (docs/examples/test_connection.sh), as is."""
    script = ROOT / "docs" / "examples" / "test_connection.sh"
    token = api.session.headers["Authorization"].removeprefix("Bearer ")
    env = {
        **env,
        "PATH": f"{BIN}:{env.get('PATH', os.environ['PATH'])}",
        "AIRFLOW_URL": api.base,
        "TOKEN": token,
    }
    result = subprocess.run(
        ["bash", "-e", str(script)], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    step(f"{script.name}: exit {result.returncode}, {result.stdout.strip().splitlines()[-2:]}")
    if result.returncode != 0 or "Connection success" not in result.stdout:
        raise AssertionError(f"{script.name} failed:\n{result.stdout}\n{result.stderr}")
    if "Connected to Emulated Soda Org" not in result.stdout:
        raise AssertionError(f"{script.name}: the REST test did not reach the emulator:\n{result.stdout}")


def verify_through_cli(env: dict[str, str]) -> None:
    """``airflow connections test``, the workaround the README gives for the UI button."""
    result = subprocess.run(
        [str(BIN / "airflow"), "connections", "test", "soda_cloud_default"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    step(f"airflow connections test: exit {result.returncode}, {result.stdout.strip().splitlines()[-1:]}")
    if result.returncode != 0 or "Connection success" not in result.stdout:
        raise AssertionError(f"airflow connections test failed:\n{result.stdout}\n{result.stderr}")
