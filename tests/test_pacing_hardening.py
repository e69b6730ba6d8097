"""The shared schedule in hostile settings (issue #21, items 8 to 11): Retry-After values that are
not numbers, store URLs that cannot be used, Redis keys that must outlive their pauses, and the
Python and Lua schedules deciding alike at the same instants, the clock stepping back included."""

from __future__ import annotations

import json
import logging
import math
import random
import time
import uuid
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
from conftest import REDIS_URL, _redis_or_skip

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.hooks.retry import MAX_RETRY_AFTER, parse_retry_after
from airflow_provider_soda.pacing import FallbackStore, schedule
from airflow_provider_soda.pacing.redis_store import RedisStore
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, Fault, SodaCloudEmulator

# -- 9. Retry-After ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["inf", "Infinity", "-inf", "nan", "1e999", "1e3", "-5", "+5", "0x10", " ", "5 s"]
)
def test_a_retry_after_that_is_not_delta_seconds_counts_as_none(value: str) -> None:
    assert parse_retry_after(value) is None


def test_a_retry_after_is_bounded() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("99999999999") == MAX_RETRY_AFTER
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT") == MAX_RETRY_AFTER


NOW = datetime(2026, 12, 6, 15, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("Sun, 06 Dec 2026 15:00:30 GMT", 30.0),  # ahead of now: the time left
        ("Sun, 06 Dec 2026 14:59:00 GMT", 0.0),  # passed: retry at once, never a negative wait
        ("Sun, 06 Dec 2026 15:00:00 GMT", 0.0),
        ("Sun, 06 Dec 2026 15:00:12 -0000", 12.0),  # "-0000": no zone given, read as UTC
    ],
)
def test_an_http_date_retry_after_is_the_time_left_until_it(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_a_date_without_a_zone_is_utc_whatever_the_machine_s_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The case above proves the naive-date branch only where the local zone is not UTC: set one."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert parse_retry_after("Sun, 06 Dec 2026 15:00:12 -0000", now=NOW) == 12.0
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    "value",
    [
        "soon",
        "Sun, 99 Dec 2026 15:00:00 GMT",
        "tomorrow 10:00",
        "6 Dec 2026 15:00:30 GMT",  # no day name: not an HTTP-date, though a mail parser reads it
        "06 Dec 2026 15:00:30 GMT",
    ],
)
def test_a_retry_after_that_is_neither_a_number_nor_a_date_counts_as_none(value: str) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_retry_after_inf_pauses_a_window_and_never_poisons_the_store(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    limits = {"update_incident": {"requests": 10, "period": 0.5}}
    monkeypatch.setenv(
        "AIRFLOW_CONN_SODA_CLOUD_DEFAULT", soda_cloud_emulator.airflow_connection(rate_limits=limits)
    )
    monkeypatch.setenv("AIRFLOW__SODA_CLOUD__RATE_LIMIT_STORE", "local")
    soda_cloud_emulator.inject(Fault(status=429, headers={"Retry-After": "inf"}))
    assert SodaCloudHook().update_incident(DEMO_INCIDENT_ID, status="fixing").status_value == "fixing"
    for path in (tmp_path / "pacing").glob("*.json"):  # every schedule still reads back
        state = json.loads(path.read_text())
        schedule.validate(state)
        assert math.isfinite(state["block"])


# -- 10. store settings that cannot be used ------------------------------------------------------------


def test_an_unusable_store_url_is_one_error_then_per_process_pacing(caplog: pytest.LogCaptureFixture) -> None:
    store = FallbackStore(RedisStore("redis://:s3cret-pw@127.0.0.1:6379/0?socket_timeout=abc", prefix="p"))
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_soda.pacing"):
        for _ in range(3):
            delay, _position = store.apply("k", RateLimit(10, 60), "reserve", [uuid.uuid4().hex, 5])
            assert delay == 0  # paced in this process: the update goes on
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    text = errors[0].getMessage()
    assert "rate_limit_store" in text
    assert "socket_timeout" in text
    assert "s3cret-pw" not in caplog.text


def test_an_unforeseen_store_error_never_fails_an_update(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        name = "broken"

        def apply(self, *args: Any) -> Any:
            raise RuntimeError("redis://:s3cret-pw@host went wrong")

    store = FallbackStore(Broken())  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="airflow_provider_soda.pacing"):
        assert store.apply("k", RateLimit(10, 60), "reserve", ["a", 5])[0] == 0
    assert "unexpected RuntimeError" in caplog.text
    assert "s3cret-pw" not in caplog.text


# -- 8. Redis keys outlive their pauses and bookings -------------------------------------------------


@pytest.fixture
def redis_client() -> Any:
    _redis_or_skip(REDIS_URL)
    import redis

    return redis.Redis.from_url(REDIS_URL)


def test_a_key_outlives_a_long_pause(redis_client: Any) -> None:
    prefix = f"soda-test-{uuid.uuid4().hex}"
    store = RedisStore(REDIS_URL, prefix=prefix)
    limit = RateLimit(10, 60)
    store.apply("k", limit, "reserve", ["a", 5])
    store.apply("k", limit, "claim", ["a", 30, 5])
    assert store.apply("k", limit, "reject", ["a", 1800, 0]) == pytest.approx(1800, abs=1)
    ttl = redis_client.pttl(f"{prefix}:k") / 1000
    assert ttl > 1800 + 3 * 60  # the pause, then the usual margin
    store.apply("k", limit, "reserve", ["far", 7200])  # a booking held two hours
    assert redis_client.pttl(f"{prefix}:k") / 1000 > 1800 + 7200
    redis_client.delete(f"{prefix}:k")


# -- 11. Python and Lua decide alike ----------------------------------------------------------------


def _lua(redis_client: Any) -> Any:
    return redis_client.register_script(
        resources.files("airflow_provider_soda.pacing").joinpath("schedule.lua").read_text()
    )


def _random_operations(rng: random.Random, count: int) -> list[tuple[float, str, list[Any]]]:
    """(clock step, op, args): forward moves, jumps, small and large steps back."""
    ids = [f"r{n}" for n in range(8)]
    steps = []
    for _ in range(count):
        step = rng.choice([0.0, 0.01, 0.3, 1.0, 2.5, 7.0, 25.0, -0.1, -1.0, -6.0])
        op = rng.choice(["reserve", "reserve", "claim", "claim", "release", "release", "reject", "cancel"])
        entry = rng.choice([*ids, "unknown"])
        if op == "reserve":
            args: list[Any] = [entry, rng.choice([1.0, 5.0, 30.0])]
        elif op == "claim":
            args = [entry, rng.choice([2.0, 10.0]), 5.0]
        elif op == "release":
            args = [entry, rng.random() < 0.8]
        elif op == "reject":
            args = [entry, rng.choice([None, 0, 3.0, 40.0]), rng.choice([0.0, 0.2])]
        else:
            args = [entry]
        steps.append((step, op, args))
    return steps


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) <= 2e-3  # Redis's cjson keeps 14 significant digits: 0.1 ms at today's epoch
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    return bool(a == b)


@pytest.mark.parametrize("seed", range(12))
def test_python_and_lua_make_every_decision_alike(redis_client: Any, seed: int) -> None:
    rng = random.Random(seed)
    requests, period = rng.choice([(2, 10.0), (3, 5.0), (10, 60.0)])
    script, key = _lua(redis_client), f"soda-test-diff-{uuid.uuid4().hex}"
    state = schedule.new_state()
    now = 1_764_000_000.0 + rng.random()
    try:
        for number, (step, op, args) in enumerate(_random_operations(rng, 120)):
            now = round(now + step, 4)  # instants cjson can carry exactly enough
            python = schedule.apply(state, op, json.loads(json.dumps(args)), requests, period, now)
            lua = json.loads(
                script(keys=[key], args=[op, requests, period, 600_000, json.dumps(args), repr(now)])
            )
            stored = json.loads(redis_client.get(key))
            where = f"seed {seed}, step {number}: {op}{args} at {now}"
            assert _close(python, lua), f"{where}: Python {python!r}, Lua {lua!r}"
            assert _close(state, {**stored, "e": stored["e"] or []}), (
                f"{where}: states differ\n{state}\n{stored}"
            )
    finally:
        redis_client.delete(key)
