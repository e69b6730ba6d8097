"""Start a scan, wait for it, and end the task on its outcome: what the scan and contract operators share.

The two operators differ only in how the scan starts (a v3 scan definition on a Soda Agent, or a
v4 contract verified on a Soda Runner); from the scan id on, everything here is the same: the
first status, the wait in the worker or the triggerer, cancellation, Airflow's own deferral
timeout, and the outcome (:class:`~airflow_provider_soda.operators._scan_task.SodaCloudScanTaskBase`).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_soda import metrics
from airflow_provider_soda.exceptions import SodaCloudError, SodaCloudScanTimeoutError
from airflow_provider_soda.links import reserve_link_urls
from airflow_provider_soda.operators._base import fail_fast
from airflow_provider_soda.operators._scan_task import SodaCloudScanTaskBase
from airflow_provider_soda.scanning import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    DEFERRAL_MARGIN_SECONDS,
    MAX_REPORTED_CHECKS,
    poll_delay,
    runners_report,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_soda.models import Scan

#: XCom key of the scan id, pushed as soon as the scan is started.
SCAN_ID_XCOM_KEY = "soda_cloud_scan_id"
#: Seconds before ``execution_timeout`` at which a wait gives up, so that it can still cancel its scan.
EXECUTION_TIMEOUT_MARGIN = 60.0
#: ``next_method`` of a task that Airflow resumes only to fail it (its deferral timed out, or the
#: trigger failed); Airflow's own constant is internal.
_RESUMED_TO_FAIL = "__fail__"


#: The lineage read of a scan's checks, queue and answer together, ends within this many seconds.
LINEAGE_DEADLINE = 3.0


class SodaCloudScanRunBase(SodaCloudScanTaskBase):
    """A task that starts a scan (:meth:`_start`), waits for it, and ends on its outcome.

    :param wait_for_completion: wait for the scan to end (default); otherwise return once it started.
    :param poll_interval: seconds between status polls when Soda Cloud suggests none.
    :param timeout: seconds to wait for the scan before cancelling it and failing (default 3 h).
    :param runner_check_after: seconds a scan may stay ``queuing`` before the Soda Runners are read
        once and named in a warning (None: never).
    """

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        runner_check_after: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion
        self.poll_interval = float(poll_interval)
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        if self.poll_interval <= 0 or self.timeout <= 0:
            raise ValueError("poll_interval and timeout must be positive numbers of seconds.")
        if runner_check_after is not None and float(runner_check_after) < 0:
            raise ValueError("runner_check_after must be a number of seconds >= 0, or None.")
        self.runner_check_after = None if runner_check_after is None else float(runner_check_after)
        if self.resolve_incidents and not wait_for_completion:
            raise ValueError(
                "resolve_incidents=True needs wait_for_completion=True: incidents are resolved from the "
                "scan's results, which a task that does not wait never sees. Wait here, or resolve from "
                "a SodaCloudScanSensor(resolve_incidents=True) downstream."
            )
        self.scan_id: str | None = None
        self._cancelled = False
        self._ended = False
        self._queuing_since: float | None = None
        self._runners_checked = False

    def _start(self, context: Context) -> str:
        """Start the scan; return its id. Raise what fails the task (never started twice)."""
        raise NotImplementedError

    def _what(self) -> str:
        """Name what the scan is of, for messages (``"scan definition 'x'"``)."""
        raise NotImplementedError

    def pre_execute(self, context: Any) -> None:
        """Keep the task instance, so that :meth:`on_kill` finds the scan id in XCom.

        Airflow 2.x stops a resumed task past its ``execution_timeout`` before ``execute_complete``
        or ``resume_execution`` run; the scan is still cancelled then.
        """
        self._ti = context["ti"]
        super().pre_execute(context)

    def execute(self, context: Context) -> Any:
        reserve_link_urls(self, context)
        self.scan_id = self._start(context)
        try:
            context["ti"].xcom_push(key=SCAN_ID_XCOM_KEY, value=self.scan_id)
            deadline = self._deadline(context)
            scan = self._first_status()
            if scan is not None:
                self._note_scan(context, scan)
            if not self.wait_for_completion:
                self.log.info("Not waiting for Soda Cloud scan %s.", self.scan_id)
                if scan is None:
                    return {"scan_id": self.scan_id, "state": None, **self._outcome_extra()}
                return {**scan.to_xcom(max_checks=MAX_REPORTED_CHECKS), **self._outcome_extra()}
            if (scan is None or not scan.is_final) and self.deferrable:
                self._defer(deadline, first_poll_after=poll_delay(scan, self.poll_interval))
            scan = self._wait(scan, deadline)
        except (TaskDeferred, SodaCloudScanTimeoutError):
            raise
        except BaseException as err:  # killed, timed out by Airflow, or a poll that cannot pass
            self._cancel(f"the task stopped ({type(err).__name__})")
            raise
        return self._finish(context, scan)

    def _deadline(self, context: Context) -> float:
        """When to give up on the scan: ``timeout`` from now, and before Airflow's ``execution_timeout``.

        Airflow counts a deferred task's time against ``execution_timeout`` too (2.x caps the
        deferral there, and a resumed task past it is stopped before it can cancel anything), so
        the wait ends :data:`EXECUTION_TIMEOUT_MARGIN` seconds earlier and cancels the scan itself.
        """
        deadline = time.time() + self.timeout
        limit = self.execution_timeout
        started = getattr(context["ti"], "start_date", None)
        if limit is not None and started is not None:
            cap = started.timestamp() + limit.total_seconds() - EXECUTION_TIMEOUT_MARGIN
            if cap < deadline:
                self.log.info(
                    "Waiting at most until %.0f s before execution_timeout (%s), to cancel the scan in time.",
                    EXECUTION_TIMEOUT_MARGIN, limit,
                )  # fmt: skip
                deadline = max(cap, time.time() + 1.0)
        return deadline

    def _first_status(self) -> Scan | None:
        """Read the status right after the start; None when a transient error hid it (the scan is healthy)."""
        assert self.scan_id is not None
        try:
            with fail_fast():
                return self.hook.get_scan(self.scan_id)
        except SodaCloudError as err:  # what fail_fast lets through may pass: the waits poll again
            self.log.warning(
                "Started Soda Cloud scan %s but could not read its status yet (%s); waiting for it.",
                self.scan_id, err,
            )  # fmt: skip
            return None

    def _defer(self, deadline: float, *, first_poll_after: float) -> None:
        from airflow_provider_soda.triggers.scans import SodaCloudScanTrigger

        assert self.scan_id is not None
        self.log.info(
            "Waiting for Soda Cloud scan %s in the triggerer; the worker slot is free meanwhile.",
            self.scan_id,
        )
        metrics.incr("deferrals.scan")
        self.defer(
            trigger=SodaCloudScanTrigger(
                scan_id=self.scan_id,
                soda_cloud_conn_id=self.soda_cloud_conn_id,
                poll_interval=self.poll_interval,
                end_time=deadline,
                first_poll_after=first_poll_after,
                cancel_on_kill=True,  # this task started the scan
                hook_params=self.hook_params,
                runner_check_after=self.runner_check_after,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=max(deadline - time.time(), 0) + DEFERRAL_MARGIN_SECONDS),
        )

    def _wait(self, scan: Scan | None, deadline: float) -> Scan:
        """Poll in the worker until the scan ends; cancel it and fail at the deadline.

        A failed poll is logged and the next one waits ``poll_interval``; every wait lasts at least
        ``MIN_POLL_DELAY`` (or ``poll_interval`` when shorter), whatever Soda's hint says.
        """
        assert self.scan_id is not None
        while scan is None or not scan.is_final:
            remaining = deadline - time.time()
            if remaining <= 0:
                self._on_timeout(self.scan_id)
            if scan is not None:
                self.log.info("Soda Cloud scan %s is %s.", scan.id, scan.state_value)
                self._check_runners_if_stuck(scan)
            time.sleep(min(poll_delay(scan, self.poll_interval), remaining))
            try:
                with fail_fast():  # a 401, 403 or 404 fails the task at once, without retries
                    scan = self.hook.get_scan(self.scan_id)
            except SodaCloudError as err:  # what fail_fast lets through may pass: poll again
                self.log.warning("Could not read the scan's status (%s); trying again.", err)
                scan = None
        self._ended = True
        return scan

    def _check_runners_if_stuck(self, scan: Scan) -> None:
        """Once a scan has been ``queuing`` for ``runner_check_after``, name the Soda Runners in a warning."""
        if self.runner_check_after is None or self._runners_checked:
            return
        if scan.state_value != "queuing":
            self._queuing_since = None
            return
        now = time.monotonic()
        self._queuing_since = self._queuing_since or now
        if now - self._queuing_since >= self.runner_check_after:
            self._runners_checked = True
            self.log.warning("%s", runners_report(self.hook, scan.id, now - self._queuing_since))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: the scan ended, the timeout passed, or the wait failed."""
        self.scan_id = (event or {}).get("scan_id") or self._started_scan_id(context)
        if not self.scan_id:
            raise AirflowFailException(
                f"The trigger's event names no scan ({event!r}) and XCom {SCAN_ID_XCOM_KEY!r} is empty."
            )
        for note in (event or {}).get("notes") or []:
            self.log.warning("%s", note)  # said in the triggerer while the task was deferred
        self._ended = (event or {}).get("status") == "final"  # never cancel a scan that ended
        scan = self._scan_from_event(event, self.scan_id)
        self._ended = True
        return self._finish(context, scan)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Cancel the scan when Airflow resumes the task only to fail it (deferral timeout, failed trigger).

        Airflow's deferral timeout fires when a triggerer lags past the wait's own timeout (on 2.11
        it is also capped at ``execution_timeout``); the trigger never ran its own timeout then.
        """
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except BaseException as err:
            if next_method == _RESUMED_TO_FAIL:
                self.scan_id = self.scan_id or self._started_scan_id(context)
                self._cancel(
                    f"Airflow ended the task's wait ({type(err).__name__}: {err})", unless_ended=True
                )
            raise

    def _started_scan_id(self, context: Context) -> str | None:
        """Return the scan id this try pushed when it started the scan (XCom survives a deferral)."""
        return self._scan_id_of(context["ti"])

    @staticmethod
    def _scan_id_of(ti: Any) -> str | None:
        try:
            value = ti.xcom_pull(task_ids=ti.task_id, key=SCAN_ID_XCOM_KEY, map_indexes=ti.map_index)
        except Exception:  # best effort, on the way out of a failing task
            return None
        return str(value) if value else None

    def _on_timeout(self, scan_id: str) -> NoReturn:
        self.scan_id = scan_id
        self._cancel(f"it was still running after the task's timeout of {self.timeout:g} s")
        raise SodaCloudScanTimeoutError(
            f"Soda Cloud scan {scan_id} of {self._what()} was still running after {self.timeout:g} s "
            "(the operator's timeout); it was cancelled. Raise timeout if the scan needs longer."
        )

    def _cancel(self, why: str, *, unless_ended: bool = False) -> None:
        """Cancel the scan this task started (once, never after it ended; best effort: the task is failing).

        :param unless_ended: read the status first (a resumed task cannot know whether the scan
            ended meanwhile; a status read is cheaper than a cancel, 60 against 10 per 60 s).
        """
        if self.scan_id is None and getattr(self, "_ti", None) is not None:
            self.scan_id = self._scan_id_of(self._ti)  # stopped before execute or execute_complete
            unless_ended = True
        if self.scan_id is None or self._cancelled or self._ended:
            return
        self._cancelled = True
        try:
            if unless_ended and self.hook.get_scan(self.scan_id).is_final:
                return
            if self.hook.cancel_scan(self.scan_id):
                self.log.warning("Cancelled Soda Cloud scan %s because %s.", self.scan_id, why)
        except Exception as err:
            self.log.error("Could not cancel Soda Cloud scan %s (%s): %s", self.scan_id, why, err)

    # -- OpenLineage ------------------------------------------------------------------------------

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Report the scan's datasets with Soda's assertions to OpenLineage (docs: lineage)."""
        return self._openlineage()

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """Report the same for a failed task: a failing check is what a lineage tool should show."""
        return self._openlineage()

    def _openlineage(self) -> Any:
        """Return the lineage of the scan this task ran; None when it never ended. Never raises.

        The checks' names, columns and datasets come from the read verified resolution made;
        without it, from one ``GET /api/v1/checks?checkIds=`` of the evaluated checks the task
        kept (at most 100, failures first), with one deadline of :data:`LINEAGE_DEADLINE` seconds
        for the queue and the answer, and no retry: OpenLineage's listener gives its extraction
        10 s by default and loses the whole event past that. A read that fails or is late leaves
        the assertions out, and the run facet is still reported.
        """
        scan = getattr(self, "_lineage_scan", None)
        if scan is None:
            return None
        try:
            from airflow_provider_soda.lineage.facets import operator_lineage  # imports OpenLineage
        except ImportError:
            return None
        bounded = scan.bounded(MAX_REPORTED_CHECKS)
        checks = getattr(self, "_lineage_checks", None)
        if checks is None:
            evaluated = [c.id for c in bounded.checks if c.status_value in ("pass", "warn", "fail")]
            try:
                checks = self._read_lineage_checks(evaluated) if evaluated else []
            except Exception as err:
                self.log.warning(
                    "OpenLineage: the checks of Soda Cloud scan %s could not be read in %g s (%s); the scan "
                    "is reported without its assertions.",
                    scan.id, LINEAGE_DEADLINE, err,
                )  # fmt: skip
                checks = []
        try:
            return operator_lineage(bounded, checks, log=self.log)
        except Exception as err:
            self.log.warning("OpenLineage: no Soda facets for scan %s: %s", scan.id, err)
            return None

    def _read_lineage_checks(self, check_ids: list[str]) -> list[Any]:
        """Read ``check_ids`` once: at most :data:`LINEAGE_DEADLINE` s in the queue and for the answer."""
        from dataclasses import replace

        from airflow_provider_soda.hooks.retry import RetryLimits
        from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

        limits = RetryLimits(
            max_transient_retries=0,
            max_rate_limit_retries=0,
            max_queue_wait=LINEAGE_DEADLINE,
            max_wait=LINEAGE_DEADLINE,
        )
        hook = SodaCloudHook(soda_cloud_conn_id=self.soda_cloud_conn_id, retry_limits=limits)
        hook.use_settings(replace(self.hook.settings, timeout=LINEAGE_DEADLINE))
        try:
            return list(hook.list_checks(check_ids=check_ids))
        finally:
            hook.close()

    def on_kill(self) -> None:
        """Cancel the scan when Airflow kills the task in the worker (marked failed, SIGTERM)."""
        self._cancel("the task was killed")
