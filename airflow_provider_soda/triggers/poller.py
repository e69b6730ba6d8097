"""One poll per interval for every trigger of a triggerer that watches incidents on one connection.

This is what makes deferred waits cheap: their incident ids go out together, 1,000 per request,
and each distinct selection is listed once, so 200 sensors waiting on 200 incidents cost one
request per interval.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_provider_soda.exceptions import SodaCloudError
from airflow_provider_soda.watching import IncidentWatch, Snapshot, read_snapshot

if TYPE_CHECKING:
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

#: A new poller waits this long before its first poll, so that the triggers the scheduler hands
#: over together (a storm of deferrals) join the same request.
GATHER_SECONDS = 1.0


@dataclass(eq=False)
class _Subscriber:
    watch: IncidentWatch
    interval: float
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
        self._hook: SodaCloudHook | None = None

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
        """Receive a snapshot (or the poll's error) after every poll while the context is open."""
        subscriber = _Subscriber(watch, interval)
        self._subscribers[id(subscriber)] = subscriber
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            yield subscriber.answers
        finally:
            self._subscribers.pop(id(subscriber), None)
            if not self._subscribers and self._task is not None:
                self._task.cancel()
                self._task = None

    async def _run(self) -> None:
        await asyncio.sleep(GATHER_SECONDS)
        while self._subscribers:
            subscribers = list(self._subscribers.values())
            answer: Snapshot | SodaCloudError
            try:
                hook = self._get_hook()
                await hook.aload_settings()  # in the loop: see SodaCloudHook.aload_settings
                answer = await asyncio.to_thread(read_snapshot, hook, [s.watch for s in subscribers])
            except SodaCloudError as err:
                answer = err
            except Exception as err:  # a missing connection, say: every waiter must hear of it
                answer = SodaCloudError(f"Could not poll Soda Cloud: {type(err).__name__}: {err}")
            self.polls += 1
            for subscriber in subscribers:
                subscriber.answers.put_nowait(answer)
            if self._subscribers:
                await asyncio.sleep(min(s.interval for s in self._subscribers.values()))

    def _get_hook(self) -> SodaCloudHook:
        if self._hook is None:
            from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

            self._hook = SodaCloudHook(soda_cloud_conn_id=self.soda_cloud_conn_id)
        return self._hook
