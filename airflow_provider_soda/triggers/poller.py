"""The shared poll loop of every trigger of a triggerer that watches incidents on one connection.

This is what makes deferred waits cheap: the waits that are due together go out together (their
incident ids 1,000 per request, each distinct selection listed once), so 200 sensors waiting on
200 incidents cost one request per interval. Sharing must never let one wait hurt another:

- each wait is polled on its own interval (a 6-hour wait does not slow a 1-second one, and a
  wait that joins is noticed at once), and waits with the same interval are kept in step so
  that they keep sharing requests;
- each wait gets the answer, or the error, of the part it reads (its ids, its selection): one
  selection's 403 does not fail another sensor, and an unforeseen exception is retryable;
- the connection is read again when the last wait leaves (the poller goes with it), when its
  settings are older than :data:`SETTINGS_MAX_AGE`, and after a 401 before the 401 is believed,
  so that a rotated API key works without restarting the triggerer.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_provider_soda.exceptions import SodaCloudAuthenticationError, SodaCloudError
from airflow_provider_soda.watching import IncidentWatch, Snapshot, poll_error, read_snapshot

if TYPE_CHECKING:
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

#: A new poller waits at most this long before its first poll, so that the triggers the scheduler
#: hands over together (a storm of deferrals) join the same request.
GATHER_SECONDS = 1.0
#: Waits due within this many seconds of the first due one are polled with it.
COALESCE_SECONDS = 0.25
#: The connection is read again when the settings a poller holds are older than this (seconds).
SETTINGS_MAX_AGE = 300.0


@dataclass(eq=False)
class _Subscriber:
    watch: IncidentWatch
    interval: float
    due: float  # the event loop's clock
    answers: asyncio.Queue[Snapshot | SodaCloudError] = field(default_factory=asyncio.Queue)


class IncidentPoller:
    """One poll loop per event loop and connection, shared by every trigger that subscribes.

    The blocking hook runs in a worker thread (``asyncio.to_thread``), so the triggerer's event
    loop never waits on the network or on the rate limit; the requests go through the same
    pacing schedule as every other caller of the connection.
    """

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, IncidentPoller]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, soda_cloud_conn_id: str) -> None:
        self.soda_cloud_conn_id = soda_cloud_conn_id
        self.polls = 0
        self._subscribers: dict[int, _Subscriber] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._hook: SodaCloudHook | None = None
        self._hook_read_at = 0.0

    @classmethod
    def for_connection(cls, soda_cloud_conn_id: str) -> IncidentPoller:
        """Return the running event loop's poller of this connection, created on first use."""
        pollers = cls._by_loop.setdefault(asyncio.get_running_loop(), {})
        if soda_cloud_conn_id not in pollers:
            pollers[soda_cloud_conn_id] = cls(soda_cloud_conn_id)
        return pollers[soda_cloud_conn_id]

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @asynccontextmanager
    async def subscribe(
        self, watch: IncidentWatch, interval: float
    ) -> AsyncIterator[asyncio.Queue[Snapshot | SodaCloudError]]:
        """Receive a snapshot (or the error of this watch's poll) every ``interval`` seconds."""
        loop = asyncio.get_running_loop()
        self._by_loop.setdefault(loop, {}).setdefault(self.soda_cloud_conn_id, self)
        subscriber = _Subscriber(watch, interval, self._first_due(interval, loop.time()))
        self._subscribers[id(subscriber)] = subscriber
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        self._wake.set()  # the loop may be asleep until a later wait is due
        try:
            yield subscriber.answers
        finally:
            self._subscribers.pop(id(subscriber), None)
            if not self._subscribers:
                self._retire(loop)

    def _first_due(self, interval: float, now: float) -> float:
        """In step with the waits of the same interval (they share requests), else soon."""
        same = [
            s.due for s in self._subscribers.values() if s.interval == interval and s.due <= now + interval
        ]
        return min(same) if same else now + min(GATHER_SECONDS, interval)

    def _retire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop when the last wait left; the next wait builds a new poller (and reads the connection)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        pollers = self._by_loop.get(loop, {})
        if pollers.get(self.soda_cloud_conn_id) is self:
            del pollers[self.soda_cloud_conn_id]
        self._hook = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._subscribers:
            now = loop.time()
            first = min(s.due for s in self._subscribers.values())
            if first > now:
                self._wake.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=first - now)
                continue
            due = [s for s in self._subscribers.values() if s.due <= first + COALESCE_SECONDS]
            answer = await self._poll([s.watch for s in due])
            self.polls += 1
            for subscriber in due:
                subscriber.due = now + subscriber.interval
                subscriber.answers.put_nowait(answer)

    async def _poll(self, watches: Sequence[IncidentWatch]) -> Snapshot | SodaCloudError:
        """Read what ``watches`` need; an error here (no usable connection) is every one's answer."""
        try:
            hook, fresh = await self._current_hook()
            snapshot = await asyncio.to_thread(read_snapshot, hook, watches)
            if not fresh and any(
                isinstance(e, SodaCloudAuthenticationError) for e in snapshot.errors.values()
            ):
                # The key may have been rotated since the connection was read: read it again first.
                self._hook = None
                hook, _ = await self._current_hook()
                snapshot = await asyncio.to_thread(read_snapshot, hook, watches)
            return snapshot
        except Exception as err:
            return poll_error(err)

    async def _current_hook(self) -> tuple[SodaCloudHook, bool]:
        """Return the hook to poll with, and whether its connection was read just now."""
        if self._hook is not None and time.monotonic() - self._hook_read_at < SETTINGS_MAX_AGE:
            return self._hook, False
        from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

        hook = SodaCloudHook(soda_cloud_conn_id=self.soda_cloud_conn_id)
        await hook.aload_settings()  # in the loop: see SodaCloudHook.aload_settings
        self._hook, self._hook_read_at = hook, time.monotonic()
        return hook, True
