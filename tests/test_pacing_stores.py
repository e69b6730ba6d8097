"""Every pacing store keeps the same schedule, shared by every user of the store; and a store
that fails never costs an update."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.exceptions import SodaCloudConfigError
from airflow_provider_soda.pacing import FallbackStore, Pacer, pacing_store, schedule_key
from airflow_provider_soda.pacing.redis_store import RedisStore, redact_url
from airflow_provider_soda.pacing.stores import LocalStore, MemoryStore, PacingStore, StoreUnavailable

LIMIT = RateLimit(3, 0.6)


@pytest.fixture(params=["memory", "local", "redis"])
def store_pair(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[PacingStore, PacingStore]:
    """Two handles on one store, as two processes would hold them (memory: the same object)."""
    if request.param == "memory":
        store = MemoryStore()
        return store, store
    if request.param == "local":
        return LocalStore(tmp_path / "pacing"), LocalStore(tmp_path / "pacing")
    env = request.getfixturevalue("redis_store_env")
    url, prefix = (
        env["AIRFLOW__SODA_CLOUD__RATE_LIMIT_STORE"],
        env["AIRFLOW__SODA_CLOUD__RATE_LIMIT_REDIS_PREFIX"],
    )
    return RedisStore(url, prefix=prefix), RedisStore(url, prefix=prefix)


def test_two_handles_share_one_queue(store_pair: tuple[PacingStore, PacingStore]) -> None:
    first, second = (Pacer(store, "k", LIMIT, timeout=5) for store in store_pair)
    tickets = [pacer.reserve(hold=5) for pacer in (first, second, first, second, first)]
    assert [t.position for t in tickets] == [0, 1, 2, 3, 4]
    assert [t.delay for t in tickets[:3]] == [0, 0, 0]
    assert all(LIMIT.period <= t.delay < LIMIT.period + 0.3 for t in tickets[3:])


def test_slots_keep_the_window_across_handles(store_pair: tuple[PacingStore, PacingStore]) -> None:
    """Six requests through two handles at 3 per 0.6 s: the 4th starts a period after the 1st ended."""
    pacers = [Pacer(store, "k2", LIMIT, timeout=5) for store in store_pair]
    started: list[float] = []
    ended: list[float] = []
    lock = threading.Lock()

    def one(pacer: Pacer) -> None:
        with pacer.slot(max_wait=10):
            with lock:
                started.append(time.monotonic())
            time.sleep(0.02)  # the request
            with lock:
                ended.append(time.monotonic())

    threads = [threading.Thread(target=one, args=(pacers[i % 2],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    started.sort()
    ended.sort()
    for i in range(3, 6):  # never more than 3 within any period (dated by completion)
        assert started[i] >= ended[i - 3] + LIMIT.period - 0.01


def test_a_too_long_queue_is_refused_before_sending(store_pair: tuple[PacingStore, PacingStore]) -> None:
    from airflow_provider_soda.pacing import QueueTooLong

    pacer = Pacer(store_pair[0], "k3", LIMIT, timeout=5)
    for _ in range(6):
        pacer.reserve(hold=5)
    with pytest.raises(QueueTooLong) as excinfo, pacer.slot(max_wait=0.1):
        pass
    assert excinfo.value.position == 6
    assert excinfo.value.wait > 1


def test_schedules_are_keyed_by_url_credential_and_bucket_or_group() -> None:
    base = {
        "base_url": "https://cloud.soda.io",
        "credential": "abc",
        "bucket": "update_incident",
        "group": None,
    }
    key = schedule_key(**base)  # type: ignore[arg-type]
    assert schedule_key(**{**base, "base_url": "https://cloud.us.soda.io"}) != key  # type: ignore[arg-type]
    assert schedule_key(**{**base, "credential": "other"}) != key  # type: ignore[arg-type]
    assert schedule_key(**{**base, "bucket": "test_login"}) != key  # type: ignore[arg-type]
    grouped = schedule_key(**{**base, "group": "org"})  # type: ignore[arg-type]
    assert schedule_key(**{**base, "credential": "other", "group": "org"}) == grouped  # type: ignore[arg-type]
    assert "abc" not in key
    assert "soda" not in key


def test_local_store_files_are_private_and_hold_no_secret(tmp_path: Path) -> None:
    directory = tmp_path / "pacing"
    store = LocalStore(directory)
    key = schedule_key(base_url="https://x", credential="fingerprint", bucket="update_incident", group=None)
    Pacer(store, key, LIMIT, timeout=5).reserve()
    assert os.stat(directory).st_mode & 0o777 == 0o700
    for path in directory.iterdir():
        assert os.stat(path).st_mode & 0o777 == 0o600
        assert b"fingerprint" not in path.read_bytes()
        assert b"https://x" not in path.read_bytes()


def test_store_is_chosen_in_airflow_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW__SODA_CLOUD__RATE_LIMIT_STORE", "memory")
    assert isinstance(pacing_store(), MemoryStore)
    monkeypatch.setenv("AIRFLOW__SODA_CLOUD__RATE_LIMIT_STORE", "local")
    monkeypatch.setenv("AIRFLOW__SODA_CLOUD__RATE_LIMIT_DIR", str(tmp_path / "here"))
    store = pacing_store()
    assert isinstance(store, FallbackStore)
    assert store.primary.directory == tmp_path / "here"
    monkeypatch.setenv("AIRFLOW__SODA_CLOUD__RATE_LIMIT_STORE", "redis://:s3cret@127.0.0.1:1/0")
    store = pacing_store()
    assert isinstance(store, FallbackStore)
    assert isinstance(store.primary, RedisStore)
    assert "s3cret" not in repr(store)
    monkeypatch.setenv("AIRFLOW__SODA_CLOUD__RATE_LIMIT_STORE", "postgres://user:s3cret@db")
    with pytest.raises(SodaCloudConfigError, match="redis://") as excinfo:
        pacing_store()
    assert "s3cret" not in str(excinfo.value)


def test_redact_url() -> None:
    assert redact_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redact_url("rediss://user:pw@h/0") == "rediss://user:***@h/0"
    assert redact_url("unix:///run/redis.sock") == "unix:///run/redis.sock"
    # redis-py's documented form for a password on a unix socket
    assert redact_url("unix:///run/redis.sock?password=pw&db=3") == "unix:///run/redis.sock?password=***&db=3"
    assert redact_url("redis://h/0?Password=pw") == "redis://h/0?Password=***"


def test_a_password_in_the_query_reaches_no_repr_error_or_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "unix:///nonexistent/soda-test-redis.sock?password=s3cret-in-query&db=0"
    store = FallbackStore(RedisStore(url, prefix="x"))
    assert "s3cret-in-query" not in repr(store)
    with (
        caplog.at_level(logging.WARNING, logger="airflow_provider_soda.pacing"),
        Pacer(store, "k", LIMIT, timeout=5).slot(max_wait=5),
    ):
        pass
    assert "unavailable" in caplog.text
    assert "s3cret-in-query" not in caplog.text
    monkeypatch.setenv("AIRFLOW__SODA_CLOUD__RATE_LIMIT_STORE", "postgres://db/0?password=s3cret-in-query")
    with pytest.raises(SodaCloudConfigError) as excinfo:
        pacing_store()
    assert "s3cret-in-query" not in str(excinfo.value)


class Broken:
    name = "broken"

    def __init__(self) -> None:
        self.calls = 0

    def apply(self, *args: Any) -> Any:
        self.calls += 1
        raise StoreUnavailable("no route to the store")


def test_a_failing_store_falls_back_to_this_process_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    broken = Broken()
    store = FallbackStore(broken)
    pacer = Pacer(store, "k", LIMIT, timeout=5)
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_soda.pacing"):
        for _ in range(4):
            with pacer.slot(max_wait=5):
                pass
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "no route to the store" in warnings[0].getMessage()
    assert "no update is lost" in warnings[0].getMessage()
    assert broken.calls == 1  # not retried on every request: tried again after a pause


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda tmp: LocalStore(tmp / "file-not-dir"), id="not a directory"),
        pytest.param(lambda tmp: RedisStore("redis://127.0.0.1:1/0", prefix="x"), id="redis refusing"),
    ],
)
def test_unavailable_stores_cost_no_request(make: Any, tmp_path: Path) -> None:
    (tmp_path / "file-not-dir").write_text("")
    store = make(tmp_path)
    key = "k"
    with pytest.raises(StoreUnavailable):
        store.apply(key, LIMIT, "reserve", ["t", 5])
    pacer = Pacer(FallbackStore(store), key, LIMIT, timeout=5)
    with pacer.slot(max_wait=5) as slot:
        assert slot.waited < 1
