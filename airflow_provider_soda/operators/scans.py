"""Operator that runs a Soda Cloud scan on a Soda Agent and waits for its outcome."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_soda import metrics
from airflow_provider_soda.exceptions import SodaCloudError, SodaCloudScanTimeoutError
from airflow_provider_soda.operators._base import fail_fast
from airflow_provider_soda.operators._scan_task import SodaCloudScanTaskBase
from airflow_provider_soda.scanning import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    DEFERRAL_MARGIN_SECONDS,
    poll_delay,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_soda.models import Scan

#: XCom key of the scan id, pushed as soon as the scan is started.
SCAN_ID_XCOM_KEY = "soda_cloud_scan_id"
#: ``next_method`` of a task that Airflow resumes only to fail it (its deferral timed out, or the
#: trigger failed); Airflow's own constant is internal.
_RESUMED_TO_FAIL = "__fail__"


class SodaCloudScanOperator(SodaCloudScanTaskBase):
    """Run a scan definition of Soda Cloud on its Soda Agent, wait for it, and fail on what it finds.

    Soda's checks then run as a step of the pipeline without soda-core in the Airflow image. The
    scan id is pushed to XCom (``soda_cloud_scan_id``) as soon as the scan starts, and the "Soda
    Cloud scan" link opens it. When the scan ends, its log (the last ``log_lines`` lines, at
    Soda's levels) goes to the task log, and the task returns (XCom ``return_value``) the scan's
    id, state, counts of failures, warnings and errors, link and checks.

    Outcomes: a scan ``failed`` or ``timedOut`` fails the task; a completed scan fails it when it
    counts what ``fail_on`` names (default failures and errors), counted from the state and each
    check's result as well as Soda's counts. Either is an ordinary failure, so the task's retries
    run the scan again. Without retries: a ``canceled`` scan (someone stopped it on purpose), a bad
    API key, a missing permission, an unknown scan definition, a start whose outcome is unknown
    (Soda answered 5xx or not at all: a scan may have started, and a retry would start another),
    and a failure after the scan ended (resolution, ``max_incidents``: a retry would scan again).

    Cancellation: when the task times out (``timeout``), is killed, or is marked failed in the
    worker, the scan is cancelled and the log says so; while deferred, the trigger's own
    ``timeout`` does the same, and so does Airflow's deferral timeout or a failed trigger (the
    resumed task cancels). On Airflow 3.3+ a user marking the deferred task failed or clearing it
    cancels too (earlier releases cannot tell the trigger; the scan then runs to its end). A scan
    that has ended is never sent a cancel. A worker killed with SIGKILL cancels nothing: the scan
    runs on, and a retry starts another (Soda's API cannot list a definition's running scans).

    ``resolve_incidents=True`` closes the loop: an incident linked to the checks this scan found
    passing is resolved when every check Soda links to it passes, with notes naming the scan, its
    link and the DAG run ("fix, verify, resolve"); the others stay as they are and the log says
    which check keeps each open. It needs ``wait_for_completion=True``.

    :param scan_definition: the scan definition's name, the smaller text under its label on the
        Scans page of Soda Cloud (templated).
    :param data_timestamp: the moment the scan is dated with: an aware datetime or ISO 8601 string
        (templated, e.g. ``"{{ data_interval_end }}"``); by default the time it runs.
    :param wait_for_completion: wait for the scan to end (default); otherwise return once it started.
    :param poll_interval: seconds between status polls when Soda Cloud suggests none.
    :param timeout: seconds to wait for the scan before cancelling it and failing (default 3 h).
    """

    template_fields: Sequence[str] = (
        "scan_definition",
        "data_timestamp",
        *SodaCloudScanTaskBase.template_fields,
    )

    def __init__(
        self,
        *,
        scan_definition: str,
        data_timestamp: datetime | str | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.scan_definition = scan_definition
        self.data_timestamp = data_timestamp
        self.wait_for_completion = wait_for_completion
        self.poll_interval = float(poll_interval)
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        if self.poll_interval <= 0 or self.timeout <= 0:
            raise ValueError("poll_interval and timeout must be positive numbers of seconds.")
        if self.resolve_incidents and not wait_for_completion:
            raise ValueError(
                "resolve_incidents=True needs wait_for_completion=True: incidents are resolved from the "
                "scan's results, which a task that does not wait never sees. Wait here, or resolve from "
                "a SodaCloudScanSensor(resolve_incidents=True) downstream."
            )
        self.scan_id: str | None = None
        self._cancelled = False
        self._ended = False

    def execute(self, context: Context) -> Any:
        with fail_fast():
            self.scan_id = self.hook.trigger_scan(self.scan_definition, data_timestamp=self._data_timestamp())
        context["ti"].xcom_push(key=SCAN_ID_XCOM_KEY, value=self.scan_id)
        deadline = time.time() + self.timeout
        try:
            scan = self._first_status()
            if scan is not None:
                self._note_scan(context, scan)
            if not self.wait_for_completion:
                self.log.info("Not waiting for Soda Cloud scan %s.", self.scan_id)
                return scan.to_xcom() if scan is not None else {"scan_id": self.scan_id, "state": None}
            if (scan is None or not scan.is_final) and self.deferrable:
                self._defer(deadline, first_poll_after=poll_delay(scan, self.poll_interval))
            scan = self._wait(scan, deadline)
        except (TaskDeferred, SodaCloudScanTimeoutError):
            raise
        except BaseException as err:  # killed, timed out by Airflow, or a poll that cannot pass
            self._cancel(f"the task stopped ({type(err).__name__})")
            raise
        return self._finish(context, scan)

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

    def _data_timestamp(self) -> datetime | str | None:
        """Return the rendered ``data_timestamp``; an empty one (or ``None`` as text) dates the scan now.

        ``"{{ data_interval_end }}"`` renders ``None`` for a run without a data interval (a manual
        run of an unscheduled DAG on Airflow 3); Soda then dates the scan with the time it runs.
        """
        value = self.data_timestamp
        if isinstance(value, str) and value.strip() in ("", "None"):
            if value.strip():
                self.log.info("data_timestamp rendered None (no data interval); Soda dates the scan now.")
            return None
        return value

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
            time.sleep(min(poll_delay(scan, self.poll_interval), remaining))
            try:
                with fail_fast():  # a 401, 403 or 404 fails the task at once, without retries
                    scan = self.hook.get_scan(self.scan_id)
            except SodaCloudError as err:  # what fail_fast lets through may pass: poll again
                self.log.warning("Could not read the scan's status (%s); trying again.", err)
                scan = None
        self._ended = True
        return scan

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: the scan ended, the timeout passed, or the wait failed."""
        self.scan_id = (event or {}).get("scan_id") or self._started_scan_id(context)
        if not self.scan_id:
            raise AirflowFailException(
                f"The trigger's event names no scan ({event!r}) and XCom {SCAN_ID_XCOM_KEY!r} is empty."
            )
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
                self._cancel(f"Airflow ended the task's wait ({type(err).__name__}: {err})")
            raise

    def _started_scan_id(self, context: Context) -> str | None:
        """Return the scan id this try pushed when it started the scan (XCom survives a deferral)."""
        ti = context["ti"]
        value = ti.xcom_pull(task_ids=ti.task_id, key=SCAN_ID_XCOM_KEY, map_indexes=ti.map_index)
        return str(value) if value else None

    def _on_timeout(self, scan_id: str) -> NoReturn:
        self.scan_id = scan_id
        self._cancel(f"it was still running after the task's timeout of {self.timeout:g} s")
        raise SodaCloudScanTimeoutError(
            f"Soda Cloud scan {scan_id} of {self.scan_definition!r} was still running after {self.timeout:g} s "
            "(the operator's timeout); it was cancelled. Raise timeout if the scan needs longer."
        )

    def _cancel(self, why: str) -> None:
        """Cancel the scan this task started (once, never after it ended; best effort: the task is failing)."""
        if self.scan_id is None or self._cancelled or self._ended:
            return
        self._cancelled = True
        try:
            if self.hook.cancel_scan(self.scan_id):
                self.log.warning("Cancelled Soda Cloud scan %s because %s.", self.scan_id, why)
        except Exception as err:
            self.log.error("Could not cancel Soda Cloud scan %s (%s): %s", self.scan_id, why, err)

    def on_kill(self) -> None:
        """Cancel the scan when Airflow kills the task in the worker (marked failed, SIGTERM)."""
        self._cancel("the task was killed")
