"""Trigger that waits in the triggerer for a Soda Cloud scan to end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_soda.exceptions import (
    SodaCloudAuthenticationError,
    SodaCloudError,
    connection_not_found,
)
from airflow_provider_soda.scanning import (
    DEFAULT_POLL_INTERVAL,
    MAX_REPORTED_CHECKS,
    poll_delay,
    runners_report,
)

if TYPE_CHECKING:
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
    from airflow_provider_soda.models import Scan

#: Connection lookups in a row that find no connection before the wait ends with an error event.
MAX_CONNECTION_LOOKUPS = 3
#: Seconds a booked status slot is kept past its time for this trigger (it sends right after its sleep).
SLOT_HOLD_SECONDS = 30.0


class SodaCloudScanTrigger(BaseTrigger):
    """Poll a scan's status until it ends, then hand the status back to the deferred task.

    Each poll books a slot in the deployment-wide schedule of the status endpoint (60 per 60 s),
    sleeps on the event loop until that slot, and sends from a worker thread: many deferred scans
    share the limit in the order they asked, with no 429 and without blocking the event loop.
    Between polls it waits what Soda Cloud's ``X-Soda-Next-Poll-Time`` says, else ``poll_interval``;
    after a failed poll (Soda unreachable, the connection not readable) it waits ``poll_interval``
    before the next try, so that a wait never spins and always yields to cancellation. A
    connection that is not found three times in a row ends the wait with an error event.

    Events carry ``scan_id`` and are ``{"status": "final", "scan": {...}}`` (the status as Soda sent
    it, with at most :data:`~airflow_provider_soda.scanning.MAX_REPORTED_CHECKS` checks and every
    count), ``{"status": "timeout", "scan": {...}}`` after ``end_time`` (a Unix time), or
    ``{"status": "error", "message": ..., "retryable": ...}`` for an error retrying cannot fix (a
    401 after the connection was read again, a 403, a 404). Other errors are logged and the next
    poll tries again, within ``end_time``.

    On Airflow 3.3+, when a user marks the deferred task failed or success, or clears it, the
    triggerer calls :meth:`on_kill`. Only a wait with ``cancel_on_kill`` (the operator's, on the
    scan it started) then cancels the scan, and only while it has not seen the scan end; a
    sensor's wait leaves the scan alone. Earlier releases have no such hook: the scan then runs to
    its end in Soda Cloud (docs: operators/scan, "Cancellation").

    :param scan_id: the scan to wait for.
    :param soda_cloud_conn_id: the connection to poll with.
    :param poll_interval: seconds between polls when Soda sends no hint.
    :param end_time: Unix time after which the wait ends with a timeout event.
    :param first_poll_after: seconds to wait before the first poll (the task polled just before
        deferring; its answer said when to look again).
    :param cancel_on_kill: cancel the scan when Airflow stops the deferred task (the task started it).
    :param hook_params: the task's hook retry limits (``RetryLimits`` fields), used here too.
    :param runner_check_after: seconds of ``queuing`` after which the Soda Runners are read once and
        named in a warning, in the triggerer's log and in the event's ``notes`` (None: never).
    """

    def __init__(
        self,
        *,
        scan_id: str,
        soda_cloud_conn_id: str,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        end_time: float,
        first_poll_after: float = 0.0,
        cancel_on_kill: bool = False,
        hook_params: dict[str, Any] | None = None,
        runner_check_after: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.scan_id = scan_id
        self.soda_cloud_conn_id = soda_cloud_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = float(end_time)
        self.first_poll_after = max(0.0, float(first_poll_after))
        self.cancel_on_kill = bool(cancel_on_kill)
        self.hook_params = dict(hook_params or {})
        self.runner_check_after = None if runner_check_after is None else float(runner_check_after)
        self._ended = False
        self._notes: list[str] = []

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "scan_id": self.scan_id,
            "soda_cloud_conn_id": self.soda_cloud_conn_id,
            "poll_interval": self.poll_interval,
            "end_time": self.end_time,
            "first_poll_after": self.first_poll_after,
            "cancel_on_kill": self.cancel_on_kill,
            "hook_params": self.hook_params,
            "runner_check_after": self.runner_check_after,
        }

    async def _hook(self, *, fresh: bool = False) -> SodaCloudHook:
        from airflow_provider_soda.hooks.retry import RetryLimits
        from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

        if fresh or not hasattr(self, "_soda_hook"):
            hook = SodaCloudHook(
                soda_cloud_conn_id=self.soda_cloud_conn_id,
                retry_limits=RetryLimits().updated(self.hook_params),
            )
            await hook.aload_settings()
            self._soda_hook = hook
        return self._soda_hook

    def _remaining(self) -> float:
        return max(self.end_time - time.time(), 0.0)

    async def _poll(self, hook: SodaCloudHook, wait: float) -> Scan:
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

    def _event(self, status: str, **payload: Any) -> TriggerEvent:
        if self._notes:
            payload["notes"] = self._notes
        return TriggerEvent({"status": status, "scan_id": self.scan_id, **payload})  # type: ignore[no-untyped-call]

    async def _check_runners_if_stuck(self, hook: SodaCloudHook, scan: Scan, queuing_since: float) -> None:
        """Once the scan has been ``queuing`` for ``runner_check_after``, name the Runners (log and event)."""
        waited = time.monotonic() - queuing_since
        if self.runner_check_after is None or self._notes or waited < self.runner_check_after:
            return
        note = await asyncio.to_thread(runners_report, hook, scan.id, waited)
        self.log.warning("%s", note)
        self._notes.append(note)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        reread = False
        wait = self.first_poll_after
        last: Scan | None = None
        queuing_since: float | None = None
        missing = 0  # connection lookups in a row that found no connection
        while True:
            failure: str | None = None
            try:
                hook = await self._hook(fresh=reread)
                scan = await self._poll(hook, min(wait, self._remaining()))
            except SodaCloudAuthenticationError as err:
                if not reread:  # the key may have been rotated since this trigger read the connection
                    reread = True
                    continue
                yield self._event("error", message=str(err), retryable=False)
                return
            except SodaCloudError as err:
                if not err.retryable:
                    yield self._event("error", message=str(err), retryable=False)
                    return
                failure = str(err)
            except Exception as err:  # a failed connection lookup, say: a later poll may pass
                failure = f"{type(err).__name__}: {err}"
                missing = missing + 1 if connection_not_found(err) else 0
                if missing >= MAX_CONNECTION_LOOKUPS:
                    yield self._event("error", message=self._no_connection(err), retryable=False)
                    return
            else:
                missing = 0
            reread = False
            if failure is None:
                last = scan
                if scan.is_final:
                    self._ended = True
                    yield self._event("final", scan=_payload(scan))
                    return
            if self._remaining() <= 0:
                yield self._event("timeout", scan=_payload(last) if last is not None else None)
                return
            if failure is None:
                if scan.state_value == "queuing":
                    queuing_since = queuing_since or time.monotonic()
                    await self._check_runners_if_stuck(hook, scan, queuing_since)
                else:
                    queuing_since = None
                wait = poll_delay(scan, self.poll_interval)
                continue
            pause = min(poll_delay(None, self.poll_interval), self._remaining())
            self.log.warning(
                "Soda Cloud scan %s: status poll failed (%s); trying again in %.1f s.",
                self.scan_id, failure, pause,
            )  # fmt: skip
            await asyncio.sleep(pause)  # also where a cancellation reaches a wait that keeps failing
            wait = 0.0

    def _no_connection(self, err: Exception) -> str:
        return (
            f"The wait for Soda Cloud scan {self.scan_id} ended: connection {self.soda_cloud_conn_id!r} was not "
            f"found where the trigger runs, {MAX_CONNECTION_LOOKUPS} times in a row ({type(err).__name__}: "
            f"{err}). Under `airflow dags test` a deferred task's trigger runs in the CLI process: give the "
            f"connection as AIRFLOW_CONN_{self.soda_cloud_conn_id.upper()} or from a secrets backend there "
            "(docs: troubleshooting). The scan itself was not cancelled."
        )

    async def on_kill(self) -> None:
        """Cancel the scan this wait's task started when a user stops the task (Airflow 3.3+ calls this)."""
        if not self.cancel_on_kill:
            self.log.info(
                "The deferred task was stopped; Soda Cloud scan %s goes on (this task did not start it).",
                self.scan_id,
            )
            return
        if self._ended:
            self.log.info("The deferred task was stopped after Soda Cloud scan %s ended.", self.scan_id)
            return
        hook = await self._hook()
        cancelled = await asyncio.to_thread(hook.cancel_scan, self.scan_id)
        self.log.info(
            "The deferred task was stopped by a user: %s Soda Cloud scan %s.",
            "cancelled" if cancelled else "nothing to cancel for", self.scan_id,
        )  # fmt: skip


def _payload(scan: Scan) -> dict[str, Any]:
    """Return the scan as an event carries it: bounded, so that a scan of thousands of checks fits."""
    return scan.bounded(MAX_REPORTED_CHECKS).model_dump(mode="json", by_alias=True)
