"""Metrics through Airflow's own ``Stats`` (StatsD or OpenTelemetry, as the deployment configured).

Every name is under :data:`PREFIX` (Airflow adds its own ``[metrics] statsd_prefix`` before it),
and :data:`METRICS` describes each for the table in docs/metrics.md. Nothing is sent when metrics are off
(Airflow's Stats is then a no-op), and emitting never fails the caller: a metrics backend that
raises is ignored.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

PREFIX = "soda_cloud"

#: name (with ``<placeholders>``) -> (kind, what it counts). docs/metrics.md's table is this (tests/test_metrics.py).
METRICS: dict[str, tuple[str, str]] = {
    "soda_cloud.requests.<endpoint>.<status_class>": (
        "counter",
        "API requests sent, by endpoint (update_incident, get_scan, ...) and answer (2xx, 3xx, 4xx, 429, "
        "5xx, or 'error' when no answer came)",
    ),
    "soda_cloud.rate_limited.<endpoint>": (
        "counter",
        "429 answers (each is retried after the schedule's pause)",
    ),
    "soda_cloud.queue_wait.<endpoint>": (
        "timer",
        "time a request waited in line in the shared rate-limit schedule",
    ),
    "soda_cloud.queue_timeout.<endpoint>": (
        "counter",
        "requests not sent because the queue was longer than the caller may wait",
    ),
    "soda_cloud.store_fallback.<store>": (
        "counter",
        "times a process fell back to pacing alone because the store (local, redis) failed",
    ),
    "soda_cloud.notifier.given_up": (
        "counter",
        "incident updates a notifier could not deliver (logged as ERROR)",
    ),
    "soda_cloud.deferrals.<kind>": (
        "counter",
        "tasks deferred to the triggerer: rate_limit (a slot far away), scan (a scan running), "
        "incident_wait (a sensor)",
    ),
    "soda_cloud.scan.outcome.<state>": (
        "counter",
        "scans that ended, by final state (completed, failed, ...)",
    ),
    "soda_cloud.scan.duration": ("timer", "a scan's duration in Soda Cloud, from its start to its end"),
    "soda_cloud.webhooks.<result>": (
        "counter",
        "webhook deliveries received, by result: delivered (asset events created), duplicate (sent "
        "before), ignored (nothing to emit), rejected (400)",
    ),
    "soda_cloud.webhooks.asset_events": ("counter", "asset events the webhook receiver created"),
    "soda_cloud.webhooks.link_back.<result>": (
        "counter",
        "links back to Soda incidents: sent, or refused (another host, no API key, Soda said no)",
    ),
}


def status_class(status: int) -> str:
    """``2xx``, ``3xx``, ``4xx``, ``429`` or ``5xx``: the answer's part of a request metric's name."""
    return "429" if status == 429 else f"{status // 100}xx"


_stats: Any = None


def _backend() -> Any:
    """Airflow's Stats, looked up once (the compat layer resolves it on every access otherwise)."""
    global _stats
    if _stats is None:
        from airflow.providers.common.compat.sdk import Stats

        _stats = Stats
    return _stats


def incr(name: str, count: int = 1) -> None:
    """Count ``count`` at ``name`` (under :data:`PREFIX`); never raises."""
    with contextlib.suppress(Exception):
        _backend().incr(f"{PREFIX}.{name}", count)


def timing(name: str, seconds: float) -> None:
    """Record a duration in seconds at ``name`` (sent in milliseconds, as StatsD timers are); never raises."""
    with contextlib.suppress(Exception):
        _backend().timing(f"{PREFIX}.{name}", timedelta(seconds=max(seconds, 0.0)))
