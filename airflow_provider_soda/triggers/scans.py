"""Trigger that waits in the triggerer for a Soda Cloud scan to end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_soda.exceptions import SodaCloudAuthenticationError, SodaCloudError
from airflow_provider_soda.scanning import DEFAULT_POLL_INTERVAL, poll_delay

if TYPE_CHECKING:
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

#: Seconds a booked status slot is kept past its time for this trigger (it sends right after its sleep).
SLOT_HOLD_SECONDS = 30.0


class SodaCloudScanTrigger(BaseTrigger):
    """Poll a scan's status until it ends, then hand the status back to the deferred task.

    Each poll books a slot in the deployment-wide schedule of the status endpoint (60 per 60 s),
    sleeps on the event loop until that slot, and sends from a worker thread: many deferred scans
    share the limit in the order they asked, with no 429 and without blocking the event loop.
    Between polls it waits what Soda Cloud's ``X-Soda-Next-Poll-Time`` says, else ``poll_interval``.

    Events carry ``scan_id`` and are ``{"status": "final", "scan": {...}}`` (the status as Soda sent it),
    ``{"status": "timeout", "scan": {...}}`` after ``end_time`` (a Unix time; the task cancels
    the scan), or ``{"status": "error", "message": ..., "retryable": ...}`` for an error retrying
    cannot fix (a 401 after the connection was read again, a 403, a 404). Other errors are
    logged and the next poll tries again, within ``end_time``.

    On Airflow 3.3+, when a user marks the deferred task failed or success, or clears it, the
    triggerer calls :meth:`on_kill`, which cancels the scan. Earlier releases have no such hook:
    the scan then runs to its end in Soda Cloud (docs: operators/scan, "Cancellation").

    :param scan_id: the scan to wait for.
    :param soda_cloud_conn_id: the connection to poll with.
    :param poll_interval: seconds between polls when Soda sends no hint.
    :param end_time: Unix time after which the task gives up and cancels the scan.
    :param first_poll_after: seconds to wait before the first poll (the task polled just before
        deferring; its answer said when to look again).
    """

    def __init__(
        self,
        *,
        scan_id: str,
        soda_cloud_conn_id: str,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        end_time: float,
        first_poll_after: float = 0.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.scan_id = scan_id
        self.soda_cloud_conn_id = soda_cloud_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = float(end_time)
        self.first_poll_after = max(0.0, float(first_poll_after))

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "scan_id": self.scan_id,
            "soda_cloud_conn_id": self.soda_cloud_conn_id,
            "poll_interval": self.poll_interval,
            "end_time": self.end_time,
            "first_poll_after": self.first_poll_after,
        }

    async def _hook(self, *, fresh: bool = False) -> SodaCloudHook:
        from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

        if fresh or not hasattr(self, "_soda_hook"):
            hook = SodaCloudHook(soda_cloud_conn_id=self.soda_cloud_conn_id)
            await hook.aload_settings()
            self._soda_hook = hook
        return self._soda_hook

    async def _poll(self, hook: SodaCloudHook, wait: float) -> Any:
        """Poll once, ``wait`` seconds from now at the earliest, in a slot of the shared schedule.

        The slot is booked first: when the queue is longer than ``wait`` (many scans waiting),
        the poll goes at its turn and a scan's end is noticed within one round of the limit; when
        it is shorter, the booking is given back and made again after ``wait``, so that no slot
        is held unused.
        """
        ticket = await asyncio.to_thread(hook.reserve_slot, "get_scan", hold=SLOT_HOLD_SECONDS)
        if ticket.delay < wait:
            await asyncio.to_thread(hook.cancel_slot, ticket, "get_scan")
            await asyncio.sleep(wait)
            ticket = await asyncio.to_thread(hook.reserve_slot, "get_scan", hold=SLOT_HOLD_SECONDS)
        if ticket.delay > 0:
            await asyncio.sleep(ticket.delay)
        return await asyncio.to_thread(hook.get_scan, self.scan_id, ticket=ticket)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        reread = False
        wait = self.first_poll_after
        while True:
            try:
                hook = await self._hook(fresh=reread)
                scan = await self._poll(hook, min(wait, max(self.end_time - time.time(), 0.0)))
            except SodaCloudAuthenticationError as err:
                if not reread:  # the key may have been rotated since this trigger read the connection
                    reread = True
                    continue
                yield TriggerEvent(
                    {"status": "error", "scan_id": self.scan_id, "message": str(err), "retryable": False}
                )  # type: ignore[no-untyped-call]
                return
            except SodaCloudError as err:
                if not err.retryable:
                    yield TriggerEvent(
                        {"status": "error", "scan_id": self.scan_id, "message": str(err), "retryable": False}
                    )  # type: ignore[no-untyped-call]
                    return
                self.log.warning(
                    "Soda Cloud scan %s: status poll failed (%s); trying again.", self.scan_id, err
                )
                scan = None
            except Exception as err:  # a failed connection lookup, say: the next poll may pass
                self.log.warning(
                    "Soda Cloud scan %s: status poll failed (%s: %s); trying again.",
                    self.scan_id, type(err).__name__, err,
                )  # fmt: skip
                scan = None
            reread = False
            payload = scan.model_dump(mode="json", by_alias=True) if scan is not None else None
            if scan is not None and scan.is_final:
                yield TriggerEvent({"status": "final", "scan_id": self.scan_id, "scan": payload})  # type: ignore[no-untyped-call]
                return
            wait = self.poll_interval if scan is None else poll_delay(scan, self.poll_interval)
            if self.end_time - time.time() <= 0:
                yield TriggerEvent({"status": "timeout", "scan_id": self.scan_id, "scan": payload})  # type: ignore[no-untyped-call]
                return

    async def on_kill(self) -> None:
        """Cancel the scan when a user acts on the deferred task (Airflow 3.3+ calls this)."""
        hook = await self._hook()
        cancelled = await asyncio.to_thread(hook.cancel_scan, self.scan_id)
        self.log.info(
            "The deferred task was stopped by a user: %s Soda Cloud scan %s.",
            "cancelled" if cancelled else "nothing to cancel for", self.scan_id,
        )  # fmt: skip
