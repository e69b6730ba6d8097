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


class SlidingWindowLimiter:
    """At most ``limit.requests`` requests in any window of ``limit.period`` seconds. Thread-safe."""

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._done: deque[float] = deque()  # completion times, in order
        self._in_flight = 0
        self._cond = threading.Condition()

    def _expire(self, now: float) -> None:
        while self._done and self._done[0] <= now - self.limit.period:
            self._done.popleft()

    def _delay(self, now: float) -> float:
        """Seconds until a slot frees (0: free now). Call with the lock held."""
        self._expire(now)
        if len(self._done) + self._in_flight < self.limit.requests:
            return 0.0
        if self._done:
            return self._done[0] + self.limit.period - now
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

    def release(self) -> None:
        """Date the slot taken by :meth:`try_acquire` at now, when the server has surely counted it."""
        with self._cond:
            self._in_flight -= 1
            self._done.append(self._clock())
            self._cond.notify_all()

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Wait for a slot, yield the seconds waited, and release the slot on exit."""
        waited = 0.0
        with self._cond:
            while (delay := self._delay(self._clock())) > 0:
                start = self._clock()
                self._cond.wait(delay)
                waited += self._clock() - start
            self._in_flight += 1
        try:
            yield waited
        finally:
            self.release()

    def wait_after_rejection(self) -> float:
        """Seconds to wait after a 429 that carried no ``Retry-After``.

        The server's window is full. If our own requests filled it, the earliest one to leave
        the window frees a slot; if another client filled it, we cannot see when, so wait one
        slot's share of the window (``period / requests``) rather than a blind backoff.
        """
        with self._cond:
            now = self._clock()
            self._expire(now)
            share = self.limit.period / self.limit.requests
            if self._done and len(self._done) + self._in_flight >= self.limit.requests:
                return max(self._done[0] + self.limit.period - now, share)
            return share


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
