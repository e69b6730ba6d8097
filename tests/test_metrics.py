"""Metrics through Airflow's own Stats, seen by a real StatsD receiver (a UDP socket here):
a failure storm of OS processes shows its queue waits, each update once, and zero 429s."""

from __future__ import annotations

import re
import socket
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from storm import run_storm

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.metrics import METRICS
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, SodaCloudEmulator

LIMIT = RateLimit(10, 2.0)
N = 20
ROOT = Path(__file__).resolve().parent.parent


def received(sock: socket.socket, quiet: float = 1.0) -> dict[str, list[tuple[float, str]]]:
    """Every metric the receiver got until it was quiet for ``quiet`` s: name -> [(value, type)]."""
    metrics: dict[str, list[tuple[float, str]]] = defaultdict(list)
    sock.settimeout(quiet)
    while True:
        try:
            packet = sock.recv(65535).decode()
        except TimeoutError:
            return metrics
        for line in packet.splitlines():
            name, _, rest = line.partition(":")
            value, _, kind = rest.partition("|")
            metrics[name].append((float(value), kind.split("|")[0]))


@pytest.fixture
def statsd() -> Any:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def test_a_storm_shows_its_queue_waits_and_no_429(statsd: socket.socket, tmp_path: Path) -> None:
    with SodaCloudEmulator(rate_limits={"update_incident": LIMIT}) as em:
        ids = [f"metrics-{n:02d}" for n in range(N)]
        for incident_id in ids:
            em.add_incident({"id": incident_id})
        limits = {"update_incident": {"requests": LIMIT.requests, "period": LIMIT.period}}
        env = {
            "AIRFLOW_CONN_SODA_CLOUD_DEFAULT": em.airflow_connection(rate_limits=limits),
            "AIRFLOW__SODA_CLOUD__RATE_LIMIT_STORE": "local",
            "AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR": str(tmp_path),
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(statsd.getsockname()[1]),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
            "AIRFLOW__METRICS__TIMER_UNIT_CONSISTENCY": "True",  # Airflow 2 sends milliseconds too
        }
        result = run_storm([(env, ids)])
        assert result.errors == []
        metrics = received(statsd)

    sent = metrics["airflow.soda_cloud.requests.update_incident.2xx"]
    assert sum(value for value, _ in sent) == N  # each update once
    assert "airflow.soda_cloud.rate_limited.update_incident" not in metrics  # zero 429s
    assert "airflow.soda_cloud.requests.update_incident.429" not in metrics
    waits = metrics["airflow.soda_cloud.queue_wait.update_incident"]
    assert len(waits) == N
    assert {kind for _, kind in waits} == {"ms"}
    assert sum(1 for value, _ in waits if value >= 1000) >= N - LIMIT.requests  # the second window waited
    assert not [name for name in metrics if "store_fallback" in name]


def test_nothing_is_sent_when_metrics_are_off(
    statsd: socket.socket, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    SodaCloudHook().update_incident(DEMO_INCIDENT_ID, status="fixing")  # statsd_on is False by default
    assert received(statsd, quiet=0.3) == {}


def test_a_failing_metrics_backend_never_fails_a_request(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.common.compat.sdk import Stats

    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("the StatsD host is gone")

    monkeypatch.setattr(Stats, "incr", broken, raising=False)
    monkeypatch.setattr(Stats, "timing", broken, raising=False)
    assert SodaCloudHook().update_incident(DEMO_INCIDENT_ID, status="fixing").status_value == "fixing"


def test_the_docs_table_lists_every_metric() -> None:
    page = (ROOT / "docs" / "metrics.md").read_text()
    rows = re.findall(r"^\| `(soda_cloud\.[^`]+)` \| (counter|timer) \|", page, flags=re.MULTILINE)
    assert dict(rows) == {name: kind for name, (kind, _) in METRICS.items()}


def test_every_metric_name_in_the_code_is_documented() -> None:
    """Each name the code emits matches a row of the table, and each row is emitted somewhere."""
    code = "\n".join(p.read_text() for p in (ROOT / "airflow_provider_soda").rglob("*.py"))
    emitted = set(re.findall(r'metrics\.(?:incr|timing)\(\s*f?"([^"]+)"', code))
    patterns = {
        name: re.compile(
            re.sub(
                r"<[^>]+>",
                r"(?:[a-z0-9_]+|\\{[^}]+\\})",
                re.escape(name).replace(r"\<", "<").replace(r"\>", ">"),
            )
        )
        for name in METRICS
    }
    unmatched = [n for n in emitted if not any(p.fullmatch(f"soda_cloud.{n}") for p in patterns.values())]
    assert unmatched == []
    unused = [
        name for name, p in patterns.items() if not any(p.fullmatch(f"soda_cloud.{n}") for n in emitted)
    ]
    assert unused == []
