"""The documentation cannot drift from the code: its examples are files that these tests run.

Every code example in ``docs/`` is a ``literalinclude`` of a marked region of a tested file (the
example DAGs, ``docs/examples/``, this module), never code pasted into a page; the README's
example is the quick-start region itself. ``make docs`` builds the site with warnings as errors.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_soda.get_provider_info import get_provider_info
from airflow_provider_soda.hooks.settings import WebhookSettings
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^(```+|~~~+)\s*(\S*)(.*)$")
#: Fenced blocks a page may hold itself: Sphinx directives, and text that is not code (log lines).
ALLOWED_FENCES = re.compile(r"^\{(literalinclude|toctree|include|eval-rst)\}$|^text$")
#: What an ``{eval-rst}`` block may hold: autodoc directives (they need reST) and their options.
AUTODOC_LINE = re.compile(r"^(\.\. auto(class|module|function|data):: [\w.]+|   :[\w-]+:.*)?$")


def region(path: Path, name: str) -> str:
    """The dedented lines between ``[START name]`` and ``[END name]``, as ``literalinclude`` shows them."""
    text = path.read_text()
    start, end = f"[START {name}]", f"[END {name}]"
    assert start in text, f"{path.relative_to(ROOT)} has no region {name!r}"
    assert end in text, f"{path.relative_to(ROOT)} does not end region {name!r}"
    body = text.split(start, 1)[1].split("\n", 1)[1].split(end, 1)[0]
    return textwrap.dedent(body.rsplit("\n", 1)[0] + "\n")


def fences(page: Path) -> list[tuple[str, dict[str, str], list[str]]]:
    """Each fenced block of a page: its info string, its ``:option: value`` lines and its body."""
    blocks: list[tuple[str, dict[str, str], list[str]]] = []
    info: str | None = None
    options: dict[str, str] = {}
    body: list[str] = []
    for line in page.read_text().splitlines():
        match = FENCE.match(line)
        if info is None and match:
            info, options, body = (match.group(2) + match.group(3)).strip(), {}, []
        elif info is not None and match and not match.group(2):
            blocks.append((info, options, body))
            info = None
        elif info is not None and (option := re.match(r"^:([\w-]+):\s*(.*)$", line)):
            options[option.group(1)] = option.group(2)
        elif info is not None:
            body.append(line)
    assert info is None, f"{page.relative_to(ROOT)} has an unclosed fence"
    return blocks


def test_the_docs_exist_and_are_all_in_the_tree() -> None:
    assert DOCS / "index.md" in PAGES
    assert len(PAGES) >= 15
    index = (DOCS / "index.md").read_text()
    for page in PAGES:
        name = page.relative_to(DOCS).with_suffix("").as_posix()
        assert page.name == "index.md" or name in index, f"docs/{name}.md is in no toctree of index.md"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_no_code_is_pasted_into_a_page(page: Path) -> None:
    for info, _, body in fences(page):
        directive = info.split()[0] if info else ""
        pasted = not ALLOWED_FENCES.match(directive) or (
            directive == "{eval-rst}" and not all(AUTODOC_LINE.match(line) for line in body)
        )
        assert not pasted, (
            f"docs/{page.relative_to(DOCS)} holds a ```{info} block: put the code in a tested file "
            "(an example DAG, docs/examples/) between [START x] and [END x] markers and include it "
            "with {literalinclude}"
        )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_every_include_names_a_tested_file_and_a_region_in_it(page: Path) -> None:
    for info, options, _ in fences(page):
        if not info.startswith("{literalinclude}"):
            continue
        target = (page.parent / info.split(maxsplit=1)[1]).resolve()
        assert target.is_file(), f"docs/{page.relative_to(DOCS)} includes a missing file {target}"
        tested = target.parent in (ROOT / "example_dags", EXAMPLES, ROOT / "tests")
        assert tested, f"{target} is not an example DAG, a docs example or a test"
        start, end = options.get("start-after", "").strip("\"'"), options.get("end-before", "").strip("\"'")
        assert start.startswith("[START "), (info, options)
        assert end == start.replace("[START", "[END"), (info, options)
        assert region(target, start[len("[START ") : -1]).strip()


def test_the_readme_example_is_the_quick_start_dag() -> None:
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"```python\n(.*?)```", readme, re.S)
    assert example, "the README has no python example"
    assert example.group(1) == region(ROOT / "example_dags" / "example_soda_quickstart.py", "quickstart")
    assert len(readme.splitlines()) < 120, "the README is a front page; the rest belongs in docs/"


def test_the_readme_renders_anywhere() -> None:
    """The README is the package's description on an index too: no link into the repository's
    files (an index cannot resolve them), no Sphinx directive, and its install commands are the
    tested ones of docs/examples/install.sh."""
    readme = (ROOT / "README.md").read_text()
    assert re.findall(r"\]\((?!https?://)([^)]+)\)", readme) == []
    assert "{literalinclude}" not in readme
    assert "{doc}" not in readme
    install = re.search(r"```bash\n(# Airflow and its pinned.*?)```", readme, re.S)
    assert install, "the README has no install commands"
    assert install.group(1) == region(ROOT / "docs" / "examples" / "install.sh", "install_with_constraints")


def test_the_quick_start_dag_keeps_its_incident_in_step(dag_test: Any, soda_cloud_emulator: Any) -> None:
    from airflow_provider_soda.testing import DEMO_INCIDENT_ID

    dag_run = dag_test("example_soda_quickstart")

    assert dag_run.state == "success"
    incident = soda_cloud_emulator.incident(DEMO_INCIDENT_ID)
    assert incident["status"] == "resolved"
    assert dag_run.run_id in incident["resolutionNotes"]


def test_the_documented_connections_read_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    script = EXAMPLES / "connections.sh"
    printed = subprocess.run(
        ["bash", "-c", f'set -e; source "{script}"; env -0'], capture_output=True, text=True, check=True
    ).stdout
    env = dict(item.split("=", 1) for item in printed.split("\0") if item.startswith("AIRFLOW_CONN_SODA"))
    expected = {
        "AIRFLOW_CONN_SODA_CLOUD_DEFAULT": "https://cloud.soda.io",
        "AIRFLOW_CONN_SODA_CLOUD_US": "https://cloud.us.soda.io",
        "AIRFLOW_CONN_SODA_CLOUD_PROXY": "https://soda-proxy.example.com",
        "AIRFLOW_CONN_SODA_CLOUD_WEBHOOKS": "https://cloud.soda.io",
    }
    assert set(env) == set(expected)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
        settings = SodaCloudHook(soda_cloud_conn_id=name.removeprefix("AIRFLOW_CONN_").lower()).settings
        assert (settings.base_url, settings.key_id) == (expected[name], "KEY_ID"), name
    assert json.loads(env["AIRFLOW_CONN_SODA_CLOUD_DEFAULT"])["conn_type"] == "soda_cloud"
    webhooks = WebhookSettings.from_connection(
        SodaCloudHook(soda_cloud_conn_id="soda_cloud_webhooks").get_connection("soda_cloud_webhooks")
    )
    assert webhooks is not None
    assert webhooks.token_problem is None
    assert webhooks.link_back


def test_the_documented_cli_connections_read_as_documented(airflow_db: None) -> None:
    """docs/examples/connections_cli.sh, run against this suite's Airflow, stores what the hook reads."""
    from airflow.providers.common.compat.sdk import Connection

    from airflow_provider_soda.hooks.settings import SodaCloudSettings

    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", str(EXAMPLES / "connections_cli.sh")], env=env, check=True, capture_output=True)
    expected = {
        "soda_cloud_default": "https://cloud.soda.io",
        "soda_cloud_us": "https://cloud.us.soda.io",
        "soda_cloud_proxy": "https://soda-proxy.example.com",
    }
    try:
        for conn_id, base_url in expected.items():
            stored = subprocess.run(
                [sys.executable, "-m", "airflow", "connections", "get", conn_id, "-o", "json"],
                env=env, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            # Airflow may print log lines before the JSON (3.0 does)
            (fields,) = json.loads(next(line for line in stored.splitlines() if line.startswith("[{")))
            conn = Connection(
                conn_id=conn_id, conn_type=fields["conn_type"], host=fields.get("host") or None,
                login=fields.get("login"), password=fields.get("password"),
                extra=json.dumps(fields.get("extra_dejson") or {}),
            )  # fmt: skip
            settings = SodaCloudSettings.from_connection(conn)
            assert (settings.base_url, settings.key_id, settings.key_secret) == (
                base_url,
                "KEY_ID",
                "KEY_SECRET",
            )
    finally:
        for conn_id in expected:
            subprocess.run([sys.executable, "-m", "airflow", "connections", "delete", conn_id], env=env,
                           check=False, capture_output=True)  # fmt: skip


def test_the_installation_page_matches_the_package() -> None:
    """The requirements and extras tables are pyproject.toml's; the install commands are valid bash
    with Airflow's constraints URL form."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    page = (DOCS / "installation.md").read_text()
    documented = re.findall(r"^\| `([^`]+)` \| ", page, flags=re.MULTILINE)
    assert documented[: len(project["dependencies"])] == project["dependencies"]
    extras = documented[len(project["dependencies"]) :]
    assert extras == ["redis", "openlineage"]
    for extra in extras:
        assert f"`{', '.join(project['optional-dependencies'][extra])}`" in page
    script = EXAMPLES / "install.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    commands = region(script, "install_with_constraints")
    assert (
        "https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}/constraints-${PYTHON_VERSION}.txt"
        in commands
    )
    assert "[redis,openlineage]" in commands


def test_the_documented_settings_are_options_the_provider_declares() -> None:
    declared = get_provider_info()["config"]["soda_cloud"]["options"]
    text = (EXAMPLES / "airflow.cfg").read_text()
    for name in ("config_redis_store", "config_shared_group", "config_lineage"):
        parser = configparser.ConfigParser()
        parser.read_string(region(EXAMPLES / "airflow.cfg", name))
        assert parser.sections()[0] == "soda_cloud"
        assert set(parser.sections()) <= {"soda_cloud", "openlineage"}
        for option in parser["soda_cloud"]:
            assert option in declared, f"docs/examples/airflow.cfg sets an unknown option {option!r}"
    assert "[START config_redis_store]" in text
    # The documented mapping is one the provider reads as documented.
    lineage = configparser.ConfigParser()
    lineage.read_string(region(EXAMPLES / "airflow.cfg", "config_lineage"))
    mapping = json.loads(lineage["soda_cloud"]["openlineage_namespaces"])
    assert mapping["warehouse"] == "postgres://warehouse.example.com:5432"
    assert json.loads(lineage["openlineage"]["transport"])["type"] == "http"


def test_the_documented_test_commands_are_a_valid_script() -> None:
    script = EXAMPLES / "test_connection.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    commands = region(script, "test_connection_commands")
    assert "airflow connections test soda_cloud_default" in commands
    assert '"connection_id": "soda_cloud_default", "conn_type": "soda_cloud"' in commands


# [START howto_test_with_emulator]
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, Fault  # noqa: E402
from airflow_provider_soda.testing.dag_test import run_dag  # noqa: E402


def test_lifecycle_dag_rides_out_a_flaky_soda_cloud(soda_cloud_emulator, airflow_db):  # type: ignore[no-untyped-def]
    # The soda_cloud_emulator fixture points soda_cloud_default at a real server on loopback.
    soda_cloud_emulator.inject(Fault(status=503, times=2))  # or delay=..., drop=True, truncate=True

    dag_run = run_dag("example_soda_incident_lifecycle", conf={"fail_pipeline": True})

    assert dag_run.state == "failed"  # the pipeline failed, as asked...
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "investigating"  # ...and Soda knows
    assert [r.status for r in soda_cloud_emulator.requests_to("update_incident")] == [503, 503, 200]


# [END howto_test_with_emulator]
