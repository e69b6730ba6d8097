"""The Soda webhook receiver in a real Airflow 3 (``airflow standalone``: its API server mounts the
provider's plugin): real HTTP deliveries, asset events and asset-triggered DAG runs read from the
metadata database, a second API server with two workers on the same database, link backs to the
emulator, and hostile bodies. Module-scoped: one Airflow for every test here."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_soda.testing import SodaCloudEmulator
from airflow_provider_soda.testing.processes import stop_session
from airflow_provider_soda.version_compat import AIRFLOW_V_3_0_PLUS

pytestmark = [
    pytest.mark.standalone,
    pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="the receiver runs on Airflow 3's API server"),
]

TOKEN = "wh-" + uuid.uuid4().hex  # 35 characters, unique per run: never in any log
WEBHOOK_DAG = "example_soda_webhook_incidents"
CHECKS_DAG = "soda_webhook_checks"
CONTRACTS_DAG = "soda_webhook_contracts"
CRITICAL = "soda-cloud://incidents/ds-orders/critical"
CHECKS = "soda-cloud://checks/ds-orders"
CONTRACTS = "soda-cloud://contracts/warehouse/analytics/public/orders"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Trap(BaseHTTPRequestHandler):
    """Any request at all: what a forged callback URL would reach if the receiver followed it."""

    hits: list[str] = []

    def do_POST(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def trap() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trap)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def emulator() -> Iterator[SodaCloudEmulator]:
    with SodaCloudEmulator() as running:
        yield running


@pytest.fixture(scope="module")
def airflow(
    emulator: SodaCloudEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    from test_event_driven import api_server_up, standalone_airflow, wait_for

    tmp = tmp_path_factory.mktemp("webhooks")
    connections = {
        "AIRFLOW_CONN_SODA_CLOUD_DEFAULT": emulator.airflow_connection(
            webhook_token=TOKEN, webhook_link_back=True
        ),
        "AIRFLOW_CONN_SODA_NO_TOKEN": emulator.airflow_connection(),
        "AIRFLOW_CONN_SODA_SHORT_TOKEN": emulator.airflow_connection(webhook_token="short"),
        "AIRFLOW_CONN_NOT_SODA": json.dumps(
            {"conn_type": "http", "host": "x", "extra": {"webhook_token": TOKEN}}
        ),
    }
    files = [f"example_dags/{WEBHOOK_DAG}.py", "tests/standalone_dags/soda_webhook_assets.py"]
    with standalone_airflow(files, emulator, tmp, connections) as db:
        env = json.loads((tmp / "env.json").read_text())
        log = tmp / "standalone.log"
        wait_for("the API server", lambda: api_server_up(env), 240, log)
        wait_for(
            "the DAGs' assets", lambda: len(active_assets(db, CRITICAL, CHECKS, CONTRACTS)) == 3, 240, log
        )
        yield {"db": db, "env": env, "url": env["AIRFLOW__API__BASE_URL"], "log": log, "tmp": tmp}


def active_assets(db: Path, *uris: str) -> dict[str, int]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute(
                "SELECT a.uri, a.id FROM asset a JOIN asset_active aa ON aa.uri = a.uri AND aa.name = a.name"
            ).fetchall()
    except sqlite3.OperationalError:
        return {}
    return {uri: asset_id for uri, asset_id in rows if uri in uris}


def asset_events(db: Path, uri: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute(
            "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.uri = ? ORDER BY e.id",
            (uri,),
        ).fetchall()
    return [json.loads(extra) for (extra,) in rows]


def all_event_count(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return int(conn.execute("SELECT count(*) FROM asset_event").fetchone()[0])


def post(base: str, body: Any, *, conn_id: str = "soda_cloud_default", token: str | None = TOKEN,
         raw: bytes | None = None, scheme: str = "Bearer") -> requests.Response:  # fmt: skip
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"{scheme} {token}"
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(f"{base}/soda-cloud/webhooks/{conn_id}", data=data, headers=headers, timeout=60)


def incident_delivery(number: int, *, status: str = "reported", severity: str = "critical",
                      dataset: str = "ds-orders", event: str = "incidentUpdated") -> dict[str, Any]:  # fmt: skip
    return {
        "event": event,
        "incident": {
            "id": f"inc-{number}",
            "number": number,
            "title": f"Incident {number}",
            "severity": severity,
            "status": status,
            "sodaCloudUrl": f"https://cloud.soda.io/incidents/inc-{number}",
            "checkResults": [
                {"id": "c1", "name": "row_count > 0", "datasets": [{"id": dataset}], "outcome": "fail"}
            ],
        },
    }


def test_the_receiver_fails_closed(airflow: dict[str, Any]) -> None:
    base, delivery = airflow["url"], incident_delivery(1)
    unknown = [post(base, delivery, conn_id=c) for c in ("no_such_conn", "soda_no_token", "soda_short_token",
                                                           "not_soda", "..", "x" * 300)]  # fmt: skip
    assert [r.status_code for r in unknown] == [404] * 6
    assert len({r.text for r in unknown}) == 1, "the answers tell connections apart"
    assert post(base, delivery, token=None).status_code == 401
    assert post(base, delivery, token=TOKEN + "x").status_code == 401
    assert post(base, delivery, token=TOKEN, scheme="Basic").status_code == 401
    refused = post(base, delivery, token="wrong")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    too_big = post(base, None, raw=b'{"event": "' + b"x" * (1024 * 1024) + b'"}')
    assert too_big.status_code == 413
    not_json = post(base, None, raw=b"event=incidentCreated")
    assert not_json.status_code == 400
    assert "not JSON" in not_json.json()["detail"]
    assert post(base, [delivery]).status_code == 400
    assert all_event_count(airflow["db"]) == 0, "a refused delivery emitted an asset event"
    from test_event_driven import wait_for

    # standalone relays its services' output with a delay
    wait_for(
        "the short token's error", lambda: "shorter than 16" in airflow["log"].read_text(errors="replace"), 30
    )
    log = airflow["log"].read_text(errors="replace")
    assert TOKEN not in log
    assert all(TOKEN not in r.text for r in [*unknown, refused, too_big, not_json])


def test_an_incident_delivery_starts_the_dag_once(airflow: dict[str, Any]) -> None:
    from test_event_driven import runs, wait_for

    base, db = airflow["url"], airflow["db"]
    delivery = incident_delivery(7, event="incidentCreated", severity="high")
    first = post(base, delivery)
    assert first.status_code == 200, first.text
    # The example's asset (critical: Soda's "high" reads as critical) gets it; the dataset's
    # asset without severity is used by no DAG here.
    assert first.json() | {"delivery": None} == {
        "event": "incidentCreated", "delivery": None, "asset_events": 1, "duplicates": 0, "unused_assets": 1
    }  # fmt: skip
    # Soda sends it again, with its keys in another order: the same delivery.
    again = post(base, None, raw=json.dumps(delivery, sort_keys=True, indent=2).encode())
    assert again.json()["asset_events"] == 0
    assert again.json()["duplicates"] == 1
    events = asset_events(db, CRITICAL)
    assert len(events) == 1
    payload = events[0]["payload"]
    assert payload | {"dataset_ids": None} == {
        "id": "inc-7", "number": 7, "name": "Incident 7", "status": "reported", "severity": "critical",
        "cloud_url": "https://cloud.soda.io/incidents/inc-7", "change": "appeared", "previous_status": None,
        "event": "incidentCreated", "soda_status": "reported", "soda_severity": "high", "dataset_ids": None,
    }  # fmt: skip
    assert events[0]["from_soda_webhook"] is True
    assert events[0]["connection"] == "soda_cloud_default"
    done = wait_for(
        "the asset-triggered run", lambda: [r for r in runs(db, WEBHOOK_DAG) if r[1] == "success"], 240,
        airflow["log"],
    )  # fmt: skip
    assert done[0][2] == ["quarantine orders (incident #7 reported)"]
    assert len(runs(db, WEBHOOK_DAG)) == 1


def test_the_documented_test_delivery_works(airflow: dict[str, Any]) -> None:
    script = Path(__file__).resolve().parent.parent / "docs" / "examples" / "webhook_delivery.sh"
    env = {"PATH": os.environ["PATH"], "AIRFLOW_URL": airflow["url"], "SODA_WEBHOOK_TOKEN": TOKEN}
    sent = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, check=True)
    assert json.loads(sent.stdout)["asset_events"] == 1
    assert [e["payload"]["id"] for e in asset_events(airflow["db"], CRITICAL)].count("test-1") == 1


def test_a_stuck_delivery_does_not_block_the_api_server(airflow: dict[str, Any]) -> None:
    """While a delivery waits for the database (its write lock held here), the API server answers."""
    base, db = airflow["url"], airflow["db"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        lock = sqlite3.connect(db, timeout=30, isolation_level=None)
        try:
            lock.execute("BEGIN IMMEDIATE")  # the database's write lock, as a long transaction holds it
            stuck = pool.submit(post, base, incident_delivery(9, severity="critical"))
            time.sleep(1.0)  # let it reach the server and wait there for the lock
            answered = [
                requests.get(f"{base}/api/v2/monitor/health", timeout=30).status_code for _ in range(3)
            ]
            assert not stuck.done(), "the delivery did not wait for the database: the test proves nothing"
            assert answered == [200, 200, 200]
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert stuck.result().json()["asset_events"] == 1


def test_checks_and_contracts_deliveries(airflow: dict[str, Any]) -> None:
    from test_event_driven import runs, wait_for

    base, db = airflow["url"], airflow["db"]
    evaluation = {
        "event": "checkEvaluation",
        "checkResults": [
            {"id": "c1", "name": "row_count > 0", "datasets": [{"id": "ds-orders"}], "evaluationStatus": "pass"},
            {"id": "c2", "name": "missing_count(id) = 0", "column": "id", "datasets": [{"id": "ds-orders"}],
             "outcome": "FAIL", "sodaCloudUrl": "https://cloud.soda.io/checks/c2"},
            {"id": "c3", "name": "elsewhere", "datasets": [{"id": "ds-customers"}], "outcome": "pass"},
        ],
    }  # fmt: skip
    answer = post(base, evaluation).json()
    assert answer["asset_events"] == 1
    assert answer["unused_assets"] == 1
    (event,) = asset_events(db, CHECKS)
    assert event["payload"]["checks"][0] == {
        "id": "c2", "name": "missing_count(id) = 0", "outcome": "fail", "column": "id",
        "cloud_url": "https://cloud.soda.io/checks/c2",
    }  # fmt: skip
    assert event["payload"]["checks_total"] == 2
    assert event["payload"]["outcomes"] == {"pass": 1, "fail": 1}
    published = {"event": "contractPublished", "contract": {
        "dataset": "warehouse/analytics/public/orders", "datasource": "warehouse", "author": "ana",
        "contents": "dataset: warehouse/analytics/public/orders\nchecks: []\n"}}  # fmt: skip
    assert post(base, published).json()["asset_events"] == 1
    assert asset_events(db, CONTRACTS)[0]["payload"]["author"] == "ana"
    for dag_id in (CHECKS_DAG, CONTRACTS_DAG):
        wait_for(
            f"a {dag_id} run", lambda d=dag_id: [r for r in runs(db, d, "show") if r[1] == "success"], 240
        )
    # Unknown events and datasets no DAG uses: answered 2xx, so that Soda does not retry them.
    for body in ({"event": "datasetDeleted", "dataset": {"id": "ds-orders"}}, {"no": "event"},
                 incident_delivery(8, dataset="ds-nobody-uses")):  # fmt: skip
        answer = post(base, body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["asset_events"] == 0, answer.text


def test_a_burst_is_emitted_exactly_once_across_api_servers(airflow: dict[str, Any]) -> None:
    """50 deliveries, each sent three times at once: twice to standalone's API server and once to a
    second API server with two workers on the same database (as another machine, or the same one
    after a restart, would be)."""
    from test_event_driven import api_server_up, wait_for

    port = _free_port()
    env = {**airflow["env"], "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__WORKERS": "2"}
    second_url = f"http://127.0.0.1:{port}"
    log_path = airflow["tmp"] / "api-server-2.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_for("the second API server", lambda: api_server_up({"AIRFLOW__API__BASE_URL": second_url}), 240,
                     log_path)  # fmt: skip
            # Sent before to the first server only: the second one knows it too.
            repeat = post(second_url, incident_delivery(7, event="incidentCreated", severity="high"))
            assert repeat.json()["asset_events"] == 0, repeat.text
            before = len(asset_events(airflow["db"], CRITICAL))
            deliveries = [incident_delivery(100 + n, status="investigating") for n in range(50)]
            jobs = [(url, d) for d in deliveries for url in (airflow["url"], airflow["url"], second_url)]
            with ThreadPoolExecutor(max_workers=24) as pool:
                answers = list(pool.map(lambda job: post(*job), jobs))
        finally:
            stop_session(server, grace=5.0)
    assert [a.status_code for a in answers] == [200] * 150, {a.status_code: a.text for a in answers}
    assert sum(a.json()["asset_events"] for a in answers) == 50
    numbers = sorted(e["payload"]["number"] for e in asset_events(airflow["db"], CRITICAL)[before:])
    assert numbers == list(range(100, 150))


def test_link_back_only_to_the_connections_own_soda_cloud(
    airflow: dict[str, Any], emulator: SodaCloudEmulator, trap: str
) -> None:
    from test_event_driven import wait_for

    base, incident_id = airflow["url"], emulator.incident_ids()[0]
    delivery = emulator.webhook_delivery(incident_id)
    delivery["incident"]["severity"] = "critical"
    delivery["incident"]["checkResults"][0]["datasets"] = [{"id": "ds-orders"}]
    assert post(base, delivery).json()["asset_events"] == 1
    links = wait_for("the link back", lambda: emulator.links(incident_id), 60)
    asset_id = active_assets(airflow["db"], CRITICAL)[CRITICAL]
    assert links == [{"url": f"{base}/assets/{asset_id}", "text": f"Airflow asset {CRITICAL}"}]
    # Sent again: no second event, so no second link.
    assert post(base, delivery).json()["duplicates"] == 1
    # A forged callback on another host (an internal address): refused and logged, never called.
    for n, forged in enumerate([f"{trap}/integrations/webhook/incident-links/{incident_id}",
                                "https://169.254.169.254/latest/meta-data",
                                emulator.url.replace("127.0.0.1", "localhost") + "/x"]):  # fmt: skip
        other = emulator.webhook_delivery(incident_id)
        other["incident"].update(severity="critical", title=f"forged {n}", incidentLinkCallbackUrl=forged)
        other["incident"]["checkResults"][0]["datasets"] = [{"id": "ds-orders"}]
        assert post(base, other).json()["asset_events"] == 1
    wait_for("the refusals in the log", lambda: airflow["log"].read_text(errors="replace").count(
        "no link back to the incident") >= 3, 60)  # fmt: skip
    assert _Trap.hits == []
    assert len(emulator.links(incident_id)) == 1
    # A burst of deliveries offering links: the links queue behind the rate limit (10 per 60 s) on a
    # thread of their own, and the API server's shared threads stay free meanwhile.
    for n in range(25):
        burst = emulator.webhook_delivery(incident_id)
        burst["incident"].update(severity="critical", title=f"burst {n}")
        burst["incident"]["checkResults"][0]["datasets"] = [{"id": "ds-orders"}]
        assert post(base, burst).json()["asset_events"] == 1
    health = [requests.get(f"{base}/api/v2/monitor/health", timeout=30).status_code for _ in range(5)]
    assert health == [200] * 5
    assert len(emulator.links(incident_id)) < 26, "no link was waiting: the test proves nothing"


def test_hostile_bodies_never_fail_the_server(airflow: dict[str, Any]) -> None:
    """Fuzzing with hostile bodies: never a 5xx, and a refused delivery never emits."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    base, db = airflow["url"], airflow["db"]
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                        st.text(max_size=50))  # fmt: skip
    json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=10), inner, max_size=4), max_leaves=20)  # fmt: skip
    known = st.sampled_from(["incidentCreated", "incidentUpdated", "checkEvaluation", "contractPublished"])
    shaped = st.fixed_dictionaries({"event": known}, optional={
        "incident": json_values | st.fixed_dictionaries({}, optional={
            "id": json_values, "number": json_values, "severity": json_values, "status": json_values,
            "incidentLinkCallbackUrl": json_values, "checkResults": json_values | st.lists(
                st.fixed_dictionaries({"datasets": json_values | st.lists(json_values)}), max_size=3)}),
        "checkResults": json_values, "contract": json_values | st.fixed_dictionaries({}, optional={
            "dataset": json_values, "author": json_values})})  # fmt: skip

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body=json_values | shaped)
    def check(body: Any) -> None:
        before = all_event_count(db)
        answer = post(base, body)
        assert answer.status_code in (200, 400), (answer.status_code, answer.text, body)
        if answer.status_code == 400:
            assert all_event_count(db) == before

    check()
    before = all_event_count(db)
    hostile = [b"[" * 100_000 + b"]" * 100_000, b'{"event": "incidentCreated", "incident": ' + b'{"a": ' * 5000
               + b"1" + b"}" * 5001, b'{"event": 1e999999}', b'{"event": "' + b"9" * 5000 + b'"}',
               b'{"number": ' + b"9" * 5000 + b"}", b"\xff\xfe{}", b'{"event": "\\ud800"}', b"", b"null"]  # fmt: skip
    for raw in hostile:
        answer = post(base, None, raw=raw)
        assert answer.status_code in (200, 400), (answer.status_code, raw[:50])
    assert all_event_count(db) == before
    assert "Exception in ASGI application" not in airflow["log"].read_text(errors="replace")
