"""``make e2e`` on Airflow 2.11: the Flask-AppBuilder web server, its login and ``/api/v1``.

Its connection form is built from the hook's ``get_connection_form_widgets()`` (text fields:
the region is typed), and its Test button posts the unsaved form to ``/api/v1/connections/test``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import requests
from common import ARTIFACTS, CA_BUNDLE, HOME, KEY_ID, KEY_SECRET, USER, RestApi, step, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Page


def airflow_env(home: Path, port: int) -> dict[str, str]:
    return {
        "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
        "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(port),
        "AIRFLOW__WEBSERVER__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__WEBSERVER__WORKERS": "1",
        # The form's Test button uses the session; this script's REST calls use basic auth.
        "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.session,airflow.api.auth.backend.basic_auth",
        "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
    }


def password() -> str:
    """The admin password ``airflow standalone`` generated (2.x has no password file to preset)."""
    file = HOME / "standalone_admin_password.txt"
    return str(
        wait_for("the standalone admin password", lambda: file.exists() and file.read_text().strip(), 120)
    )


def healthy(base: str) -> bool:
    health = requests.get(f"{base}/health", timeout=5).json()
    return all(health[part]["status"] == "healthy" for part in ("metadatabase", "scheduler", "triggerer"))


def rest_api(base: str) -> RestApi:
    session = requests.Session()
    session.auth = (USER, password())
    return RestApi(base, "/api/v1", session)


def create_and_test_connection(page: Page, base: str, emulator: str, env: dict[str, str]) -> None:
    from playwright.sync_api import expect

    step("logging in")
    page.goto(f"{base}/login/")
    page.locator("#username").fill(USER)
    page.locator("#password").fill(password())
    page.get_by_role("button", name="Sign In").or_(page.locator("input[type=submit]")).first.click()
    expect(page.get_by_text("DAGs").first).to_be_visible(timeout=30_000)

    step("creating the Soda Cloud connection through the form (US region, emulator as base URL)")
    page.goto(f"{base}/connection/add")
    page.locator("#conn_id").fill("soda_cloud_default")
    # Connection type is a select2 box over a hidden <select>: open it, search, pick.
    page.locator("#conn_type + .select2-container .select2-selection").click()
    page.locator(".select2-search__field").fill("Soda Cloud")
    page.locator(".select2-results__option", has_text="Soda Cloud").first.click()
    expect(page.locator("#conn_type")).to_have_value("soda_cloud")
    # The relabelled standard fields and the hook's widgets, by the labels the provider gave them.
    expect(page.get_by_text("API key ID", exact=True)).to_be_visible()
    expect(page.get_by_text("One of: eu, us (default eu).")).to_be_visible()
    page.locator("#host").fill(emulator)
    page.locator("#login").fill(KEY_ID)
    page.locator("#password").fill(KEY_SECRET)
    page.locator("#extra__soda_cloud__region").fill("us")
    page.locator("#extra__soda_cloud__verify").fill(CA_BUNDLE)
    page.screenshot(path=str(ARTIFACTS / "01-connection-form.png"), full_page=True)

    step("pressing Test")
    with page.expect_response("**/api/v1/connections/test") as answer:
        page.locator("#test-connection").click()
    reply = f"HTTP {answer.value.status} {answer.value.text()}"
    alert = page.locator(".alert-success, .alert-error").first
    expect(alert).to_be_visible(timeout=30_000)
    # The alert text, without its close button (a multiplication sign).
    message = re.sub(r"\s+", " ", alert.inner_text().replace("\u00d7", "")).strip()
    page.screenshot(path=str(ARTIFACTS / "02-test-connection.png"), full_page=True)
    step(f"the UI reports: {message} ({reply})")
    if "Connected to Emulated Soda Org" not in message:
        raise AssertionError(f"Test Connection failed in the UI: {message} ({reply})")

    page.get_by_role("button", name="Save").first.click()
    expect(page.get_by_text("Added Row")).to_be_visible(timeout=15_000)
    page.goto(f"{base}/connection/list/")
    expect(page.get_by_text("soda_cloud_default").first).to_be_visible(timeout=15_000)
    page.screenshot(path=str(ARTIFACTS / "03-connection-list.png"), full_page=True)
    rest_api(base).check_saved_connection(emulator)
