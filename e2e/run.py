"""``make e2e``: the provider in a real Airflow, driven through the UI in Debian's Chromium.

Starts the Soda Cloud emulator and ``airflow standalone`` on loopback (SQLite, connection testing
enabled), then in a headless browser: logs in, creates a Soda Cloud connection through the form
(US region, the emulator as custom base URL), tests it and saves it; triggers the example DAG
through the REST API, and follows the finished task's "Soda Cloud incident" extra link to the
incident. What differs between Airflow 2 (Flask-AppBuilder UI, ``/api/v1``) and 3 (React UI,
``/api/v2``) lives in ``ui_airflow2.py`` and ``ui_airflow3.py``. Screenshots go to
``e2e/artifacts/airflow-<version>/``. Exactly the processes it started (with their children) are
stopped, even on failure.
"""

from __future__ import annotations

import os
import shutil
import sys

import requests
from common import (
    AIRFLOW_VERSION,
    ARTIFACTS,
    BIN,
    CHROMIUM,
    CHROMIUM_ARGS,
    DAG_ID,
    HOME,
    INCIDENT_ID,
    ROOT,
    free_port,
    start,
    step,
    stop,
    wait_for,
)

from airflow_provider_soda.testing.dag_test import copy_dag_files
from airflow_provider_soda.version_compat import AIRFLOW_V_3_0_PLUS

if AIRFLOW_V_3_0_PLUS:
    import ui_airflow3 as ui
else:
    import ui_airflow2 as ui  # type: ignore[no-redef]


def main() -> int:
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    # The examples as this Airflow reads them (on 2.11, with the compat layer's imports).
    dags = HOME / "dags"
    copy_dag_files((ROOT / "example_dags").glob("*.py"), dags)
    shutil.copytree(ROOT / "example_dags" / "contracts", dags / "contracts")
    port, emulator_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__PARALLELISM": "2",
        # Log servers on free ports, so that another Airflow on this machine does not collide.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        **ui.airflow_env(HOME, port),
    }
    env.pop("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", None)  # the connection must come from the UI
    processes = []
    try:
        step(
            f"starting the emulator (port {emulator_port}) and airflow standalone {AIRFLOW_VERSION} (port {port})"
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
        wait_for("Airflow to be healthy", lambda: ui.healthy(base), 240)
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
            ui.create_and_test_connection(page, base, emulator, env)
            api = ui.rest_api(base)
            run_id = api.trigger_dag()
            step(f"opening the extra link of {DAG_ID}/{run_id}/resolve_incident")
            link = api.extra_link(run_id)
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


if __name__ == "__main__":
    sys.exit(main())
