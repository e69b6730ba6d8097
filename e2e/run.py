"""``make e2e``: the provider in a real Airflow, driven through the UI in Debian's Chromium.

Starts the Soda Cloud emulator and ``airflow standalone`` on loopback (SQLite, simple auth
manager, connection testing enabled), then in a headless browser: logs in, creates a Soda Cloud
connection through the form (US region, the emulator as custom base URL), saves it, presses
Test and expects success (on Airflow 3.3.1-3.3.2, whose button is broken upstream, it checks the
saved connection through the REST API and ``airflow connections test`` instead); triggers the
example DAG through the REST API, and follows the finished task's "Soda Cloud incident" extra
link to the incident. Screenshots go to ``e2e/artifacts/airflow-<version>/``. Exactly the
processes it started (with their children) are stopped, even on failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import requests

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
USER, PASSWORD = "admin", "e2e-admin-password"
# Typed into the form's "CA bundle" field; the emulator speaks plain HTTP, so it is stored, not used.
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
DAG_ID = "example_soda_incident_lifecycle"
INCIDENT_ID = "7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01"
# Releases whose list-row Test button refuses a connection without a port (apache/airflow#73298,
# introduced by the host/port check of 3.3.1), with what the refusal says ("" for any failure:
# 3.3.1's reads differently). Anywhere else the button must report success.
UI_TEST_BROKEN_IN = {"3.3.1": "", "3.3.2": "The host or port to test differs from the stored connection"}


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
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # children (a scheduler...) may outlive their parent
        os.killpg(process.pid, signal.SIGKILL)


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


def main() -> int:
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    (HOME / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
    api_port, emulator_port = free_port(), free_port()
    base = f"http://127.0.0.1:{api_port}"
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(HOME / "passwords.json"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }
    env.pop("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", None)  # the connection must come from the UI
    processes = []
    try:
        step(
            f"starting the emulator (port {emulator_port}) and airflow standalone {AIRFLOW_VERSION} (port {api_port})"
        )
        emulator_cmd = [
            sys.executable,
            "-m",
            "airflow_provider_soda.testing.emulator",
            "--port",
            str(emulator_port),
        ]
        processes.append(start(emulator_cmd, HOME / "emulator.log", env))
        processes.append(start([str(BIN / "airflow"), "standalone"], HOME / "standalone.log", env))
        emulator = f"http://127.0.0.1:{emulator_port}"
        wait_for(
            "the emulator", lambda: requests.get(f"{emulator}/incidents/{INCIDENT_ID}", timeout=2).ok, 30
        )
        wait_for(
            "Airflow to be healthy",
            lambda: all(
                part.get("status") == "healthy"
                for part in requests.get(f"{base}/api/v2/monitor/health", timeout=5).json().values()
            ),
            240,
        )
        run_browser(base, emulator, env)
        step("e2e passed")
        return 0
    finally:
        for process in reversed(processes):
            stop(process)


def run_browser(base: str, emulator: str, env: dict[str, str]) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        try:
            step("logging in")
            page.goto(f"{base}/")
            page.get_by_label("Username").fill(USER)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/")

            step("creating the Soda Cloud connection through the form (US region, emulator as base URL)")
            page.goto(f"{base}/connections")
            page.get_by_role("button", name="Add Connection").click()
            page.get_by_label("Connection ID").fill("soda_cloud_default")
            page.get_by_role("combobox", name="Connection Type").fill("Soda Cloud")
            page.keyboard.press("Enter")
            page.get_by_label("Custom base URL (optional)").fill(emulator)
            page.get_by_label("API key ID").fill("emulator-key-id")
            page.get_by_label("API key secret").fill("emulator-key-secret")
            page.screenshot(path=str(ARTIFACTS / "01-connection-form-standard.png"), full_page=True)
            page.get_by_role("button", name="Extra Fields", exact=True).click()
            page.get_by_role("combobox", name="Region").click()
            page.get_by_role("option", name="US (cloud.us.soda.io)").click()
            # Airflow's form names its extra inputs element_<field> without tying the label to them.
            page.locator("input[id$='verify']").first.fill(CA_BUNDLE)
            page.screenshot(path=str(ARTIFACTS / "01-connection-form-extra.png"), full_page=True)
            page.get_by_role("button", name="Save").click()
            expect(page.get_by_text("soda_cloud_default")).to_be_visible(timeout=15_000)
            check_saved_connection(base, emulator)

            step("pressing Test")
            toasts = page.locator("[data-scope='toast'][data-part='root']")
            # Let the "connection created" toast go, so the screenshot shows the test result alone.
            # The pointer still rests where Save was, over the toast, which holds it open.
            page.mouse.move(0, 0)
            expect(toasts).to_have_count(0, timeout=30_000)
            with page.expect_response("**/api/v2/connections/test") as answer:
                page.get_by_role("button", name="Test Connection").first.click()
            # The toast shows only "Bad Request" for a refusal; the API's answer says why.
            reply = f"HTTP {answer.value.status} {answer.value.text()}"
            toast = toasts.filter(has_text=re.compile("Test Connection (Successful|Failed)")).first
            expect(toast).to_be_visible(timeout=30_000)
            toast.hover()  # holds the toast open and waits until its slide-in has settled
            page.wait_for_timeout(500)  # and its fade-in
            message = " / ".join(toast.inner_text().split("\n"))
            page.screenshot(path=str(ARTIFACTS / "02-test-connection.png"), full_page=True)
            step(f"the UI reports: {message} ({reply})")
            if "Test Connection Successful" not in message:
                known_refusal = UI_TEST_BROKEN_IN.get(AIRFLOW_VERSION)
                if known_refusal is None or known_refusal not in reply:
                    raise AssertionError(f"Test Connection failed in the UI: {message} ({reply})")
                # apache/airflow#73298: the list-row Test sends port 0 for a connection stored
                # without a port, and these releases take that for a different destination, so
                # the API never calls the hook. Fixed upstream; no release carries it yet.
                step(
                    f"that is apache/airflow#73298 in Airflow {AIRFLOW_VERSION}, not the provider; "
                    "checking the saved connection as the README tells users to"
                )
                verify_through_api(base)
                verify_through_cli(env)
            run_id = trigger_dag(base)
            step(f"opening the extra link of {DAG_ID}/{run_id}/resolve_incident")
            link = extra_link(base, run_id)
            expected = f"{emulator}/incidents/{INCIDENT_ID}"
            if link != expected:
                raise AssertionError(f"extra link {link!r} != {expected!r}")
            page.goto(link)
            expect(page.locator("#status")).to_have_text("resolved")
            page.screenshot(path=str(ARTIFACTS / "03-incident-page.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def check_saved_connection(base: str, emulator: str) -> None:
    """What the form stored: the region the dropdown offered, the URL and key typed into it."""
    saved = api(base).get(f"{base}/api/v2/connections/soda_cloud_default", timeout=10).json()
    extra = json.loads(saved.get("extra") or "{}")
    step(f"saved connection: type {saved['conn_type']}, host {saved['host']}, extra {extra}")
    if (saved["conn_type"], saved["host"], saved["login"], extra.get("region"), extra.get("verify")) != (
        "soda_cloud",
        emulator,
        "emulator-key-id",
        "us",
        CA_BUNDLE,
    ):
        raise AssertionError(f"the form stored {saved}")


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


def verify_through_api(base: str) -> None:
    """The stored connection through the REST test endpoint, the README's other workaround.

    Only the id and type are sent, so Airflow tests the connection exactly as the form saved it,
    secret included.
    """
    body = {"connection_id": "soda_cloud_default", "conn_type": "soda_cloud"}
    result = api(base).post(f"{base}/api/v2/connections/test", json=body, timeout=60).json()
    step(f"POST /api/v2/connections/test: {result}")
    if not (result.get("status") and "Connected to Emulated Soda Org" in result.get("message", "")):
        raise AssertionError(f"test connection failed: {result}")


def api(base: str) -> requests.Session:
    token = requests.post(f"{base}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=10)
    token.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return session


def trigger_dag(base: str) -> str:
    session = api(base)
    wait_for(
        f"{DAG_ID} to be parsed", lambda: session.get(f"{base}/api/v2/dags/{DAG_ID}", timeout=10).ok, 120
    )
    session.patch(f"{base}/api/v2/dags/{DAG_ID}", json={"is_paused": False}, timeout=10).raise_for_status()
    step("triggering the example DAG through the REST API")
    response = session.post(
        f"{base}/api/v2/dags/{DAG_ID}/dagRuns",
        json={"logical_date": None, "conf": {"incident_id": INCIDENT_ID, "fail_pipeline": False}},
        timeout=10,
    )
    response.raise_for_status()
    run_id: str = response.json()["dag_run_id"]
    url = f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"
    state = wait_for(
        "the DAG run to finish",
        lambda: (s := session.get(url, timeout=10).json()["state"]) in ("success", "failed") and s,
        300,
    )
    if state != "success":
        raise AssertionError(f"DAG run {run_id} ended {state}")
    return run_id


def extra_link(base: str, run_id: str) -> str:
    url = f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/resolve_incident/links"
    links = api(base).get(url, timeout=10).json()
    step(f"extra links: {links}")
    return str(links.get("extra_links", links).get("Soda Cloud incident"))


if __name__ == "__main__":
    sys.exit(main())
