"""Client-side pacing so that this process never sends more than Soda Cloud allows.

Soda Cloud documents its limits per endpoint (e.g. 10 incident updates per 60 s) and sends no
``Retry-After`` with a 429, so the cheapest 429 is the one never provoked: every request first
takes a slot from a sliding-window limiter shared by all hooks in the process that talk to the
same base URL with the same credential.

A slot is dated when its response arrives, not when the request leaves: the server counted the
request somewhere in between, so dating it late can only make us wait a few milliseconds more,
while dating it early would let the next request arrive while the server's window is still full.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from airflow_provider_soda.endpoints import RateLimit


class Slot:
    """A slot taken from a limiter; :meth:`rejected` marks a request the server refused with 429."""

    def __init__(self, waited: float) -> None:
        self.waited = waited
        self.counted = True

    def rejected(self) -> None:
        """The server did not count this request, so neither does the window."""
        self.counted = False


class SlidingWindowLimiter:
    """At most ``limit.requests`` requests in any window of ``limit.period`` seconds. Thread-safe.

    When the server answers 429 anyway, someone else (another process, another client of the
    same key) is using part of the quota. The limiter then lowers its own share of the window
    to what the server accepted, and gives one slot back per clean window (additive increase),
    so a shared quota costs about one 429 per window instead of one per request.
    """

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._done: deque[float] = deque()  # completion times, in order
        self._in_flight = 0
        self._capacity = limit.requests
        self._adjusted_at = float("-inf")
        self._rejections_in_a_row = 0
        self._cond = threading.Condition()

    @property
    def capacity(self) -> int:
        """Slots per window this process currently allows itself."""
        with self._cond:
            self._recover(self._clock())
            return self._capacity

    def _recover(self, now: float) -> None:
        while self._capacity < self.limit.requests and now - self._adjusted_at >= self.limit.period:
            self._capacity += 1
            self._adjusted_at += self.limit.period

    def _expire(self, now: float) -> None:
        while self._done and self._done[0] <= now - self.limit.period:
            self._done.popleft()

    def _delay(self, now: float) -> float:
        """Seconds until a slot frees (0: free now). Call with the lock held."""
        self._expire(now)
        self._recover(now)
        used = len(self._done) + self._in_flight
        if used < self._capacity:
            return 0.0
        if len(self._done) > used - self._capacity:
            # the slot frees when enough of our completed requests have left the window
            return self._done[used - self._capacity] + self.limit.period - now
        return self.limit.period  # every slot is in flight: a completion will wake us sooner

    def delay(self) -> float:
        """Seconds until a slot frees, without taking one (0: a request could go now)."""
        with self._cond:
            return self._delay(self._clock())

    def try_acquire(self) -> float:
        """Take a slot and return 0, or take nothing and return the seconds until one frees.

        A taken slot must be given back with :meth:`release` once the response has arrived.
        """
        with self._cond:
            delay = self._delay(self._clock())
            if delay == 0:
                self._in_flight += 1
            return delay

    def release(self, counted: bool = True) -> None:
        """Give back a slot taken by :meth:`try_acquire`, dated now if the server counted it."""
        with self._cond:
            self._in_flight -= 1
            if counted:
                self._done.append(self._clock())
                self._rejections_in_a_row = 0
            self._cond.notify_all()

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        """Wait for a slot, yield it, and release it on exit (dated then, or dropped if rejected)."""
        waited = 0.0
        with self._cond:
            while (delay := self._delay(self._clock())) > 0:
                start = self._clock()
                self._cond.wait(delay)
                waited += self._clock() - start
            self._in_flight += 1
        taken = Slot(waited)
        try:
            yield taken
        finally:
            self.release(taken.counted)

    def on_rejection(self) -> float:
        """Learn from a 429 without ``Retry-After``; return how long to wait before trying again.

        Our requests still in the window are what the server let through, so that becomes our
        share for now, and the wait is until the earliest of them leaves the window. With none of
        ours in the window another client holds all of it, and we cannot see when it frees: wait
        one slot's share of the window (``period / requests``), longer for each 429 in a row.
        """
        with self._cond:
            now = self._clock()
            self._expire(now)
            self._rejections_in_a_row += 1
            self._capacity = max(1, min(self._capacity, len(self._done)))
            self._adjusted_at = now
            share = self.limit.period / self.limit.requests
            wait = min(self.limit.period, share * self._rejections_in_a_row)
            if self._done:
                wait = max(wait, self._done[0] + self.limit.period - now)
            return wait


_registry: dict[tuple[str, str, str, RateLimit], SlidingWindowLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(base_url: str, credential: str, bucket: str, limit: RateLimit) -> SlidingWindowLimiter:
    """The process-wide limiter for one (base URL, credential, endpoint bucket, limit)."""
    key = (base_url, credential, bucket, limit)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = SlidingWindowLimiter(limit)
        return limiter
