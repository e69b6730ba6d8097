"""The sliding-window limiter and Retry-After parsing, on a fake clock (no sleeping)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.hooks.rate_limit import SlidingWindowLimiter, shared_limiter
from airflow_provider_soda.hooks.retry import RetryLimits, parse_retry_after


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def take(limiter: SlidingWindowLimiter) -> float:
    delay = limiter.try_acquire()
    if delay == 0:
        limiter.release()
    return delay


def test_window_admits_the_limit_then_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(RateLimit(3, 60), clock=clock)
    assert [take(limiter) for _ in range(3)] == [0, 0, 0]
    assert take(limiter) == 60
    clock.now += 59.5
    assert take(limiter) == pytest.approx(0.5)
    clock.now += 0.5
    assert take(limiter) == 0


def test_slots_are_dated_at_release_not_at_acquire() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(RateLimit(1, 10), clock=clock)
    assert limiter.try_acquire() == 0
    clock.now += 2  # the request takes 2 s to answer
    limiter.release()
    clock.now += 9
    assert limiter.try_acquire() == pytest.approx(1)  # 10 s after the response, not after sending


def test_in_flight_requests_count_against_the_window() -> None:
    limiter = SlidingWindowLimiter(RateLimit(2, 10), clock=FakeClock())
    assert limiter.try_acquire() == 0
    assert limiter.try_acquire() == 0
    assert limiter.try_acquire() > 0


def test_rejection_without_own_requests_waits_a_growing_share() -> None:
    limiter = SlidingWindowLimiter(RateLimit(10, 60), clock=FakeClock())
    assert [limiter.on_rejection() for _ in range(4)] == [6, 12, 18, 24]  # someone else holds the window
    assert limiter.capacity == 1
    assert take(limiter) == 0  # a success resets the streak
    assert limiter.on_rejection() == 60


def test_rejection_learns_our_share_and_waits_for_our_oldest_request() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(RateLimit(10, 60), clock=clock)
    for _ in range(4):
        take(limiter)
    clock.now += 20
    assert limiter.on_rejection() == 40  # until our oldest leaves the window
    assert limiter.capacity == 4  # the server let four of ours through
    assert take(limiter) == 40


def test_capacity_recovers_one_slot_per_clean_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(RateLimit(10, 60), clock=clock)
    for _ in range(3):
        take(limiter)
    limiter.on_rejection()
    assert limiter.capacity == 3
    clock.now += 60
    assert limiter.capacity == 4
    clock.now += 120
    assert limiter.capacity == 6


def test_a_rejected_request_does_not_take_a_slot() -> None:
    limiter = SlidingWindowLimiter(RateLimit(1, 60), clock=FakeClock())
    with limiter.slot() as slot:
        slot.rejected()
    assert limiter.delay() == 0
    with limiter.slot():
        pass
    assert limiter.delay() == 60


def test_threads_never_exceed_the_window() -> None:
    limiter = SlidingWindowLimiter(RateLimit(5, 0.2))
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(3):
            with limiter.slot(), lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    assert len(stamps) == 12
    for i, start in enumerate(stamps):
        # a send happens before its release is dated, so compare send times with a small slack
        assert sum(1 for t in stamps[i:] if t < start + 0.2 - 0.01) <= 5


def test_shared_limiter_is_per_base_url_credential_and_bucket() -> None:
    limit = RateLimit(10, 60)
    first = shared_limiter("https://a", "cred", "update_incident", limit)
    assert shared_limiter("https://a", "cred", "update_incident", limit) is first
    assert shared_limiter("https://b", "cred", "update_incident", limit) is not first
    assert shared_limiter("https://a", "other", "update_incident", limit) is not first
    assert shared_limiter("https://a", "cred", "test_login", limit) is not first


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("12", 12.0),
        (" 0.5 ", 0.5),
        ("-3", 0.0),
        ("Sat, 28 Nov 2026 12:00:30 GMT", 30.0),
        ("Sat, 28 Nov 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after(header, now=now) == seconds


def test_backoff_is_full_jitter_and_capped() -> None:
    limits = RetryLimits(backoff_base=1, backoff_cap=5)
    for retry in range(1, 10):
        assert 0 <= limits.backoff(retry) <= min(5, 2 ** (retry - 1))
