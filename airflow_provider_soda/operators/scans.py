"""Operator that runs a Soda Cloud scan on a Soda Agent and waits for its outcome."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_soda import metrics
from airflow_provider_soda.exceptions import SodaCloudError, SodaCloudScanTimeoutError
from airflow_provider_soda.operators._base import fail_fast
from airflow_provider_soda.operators._scan_task import SodaCloudScanTaskBase
from airflow_provider_soda.scanning import DEFAULT_POLL_INTERVAL, DEFAULT_TIMEOUT, poll_delay

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_soda.models import Scan

#: XCom key of the scan id, pushed as soon as the scan is started.
SCAN_ID_XCOM_KEY = "soda_cloud_scan_id"
#: Seconds the triggerer's own deferral timeout runs past the trigger's ``end_time`` (a safety net).
DEFERRAL_MARGIN_SECONDS = 300.0


class SodaCloudScanOperator(SodaCloudScanTaskBase):
    """Run a scan definition of Soda Cloud on its Soda Agent, wait for it, and fail on what it finds.

    Soda's checks then run as a step of the pipeline without soda-core in the Airflow image. The
    scan id is pushed to XCom (``soda_cloud_scan_id``) as soon as the scan starts, and the "Soda
    Cloud scan" link opens it. When the scan ends, its log (the last ``log_lines`` lines, at
    Soda's levels) goes to the task log, and the task returns (XCom ``return_value``) the scan's
    id, state, counts of failures, warnings and errors, link and checks.

    Outcomes: a scan ``failed``, ``timedOut`` or ``canceled`` fails the task; a completed scan
    fails it when it counts what ``fail_on`` names (default failures and errors). Either is an
    ordinary failure, so the task's retries run the scan again; a bad API key, a missing
    permission or an unknown scan definition fails at once, without retries.

    Cancellation: when the task times out (``timeout``), is killed, or is marked failed in the
    worker, the scan is cancelled and the log says so; while deferred, the trigger's own
    ``timeout`` does the same, and on Airflow 3.3+ so does a user marking the task failed or
    clearing it (earlier releases cannot tell the trigger; the scan then runs to its end).

    ``resolve_incidents=True`` closes the loop: the incidents linked to the checks this scan found
    passing are resolved, with notes naming the scan, its link and the DAG run ("fix, verify,
    resolve"); those of checks that still warn or fail are left as they are and listed in the log.

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
        self.scan_id: str | None = None
        self._cancelled = False

    def execute(self, context: Context) -> Any:
        with fail_fast():
            self.scan_id = self.hook.trigger_scan(self.scan_definition, data_timestamp=self._data_timestamp())
        context["ti"].xcom_push(key=SCAN_ID_XCOM_KEY, value=self.scan_id)
        deadline = time.time() + self.timeout
        try:
            with fail_fast():
                scan = self.hook.get_scan(self.scan_id)
            self._note_scan(context, scan)
            if not self.wait_for_completion:
                self.log.info(
                    "Not waiting for Soda Cloud scan %s (%s).", scan.id, scan.cloud_url or "no link"
                )
                return scan.to_xcom()
            if not scan.is_final and self.deferrable:
                self._defer(deadline, first_poll_after=poll_delay(scan, self.poll_interval))
            scan = self._wait(scan, deadline)
        except (TaskDeferred, SodaCloudScanTimeoutError):
            raise
        except BaseException as err:  # killed, timed out by Airflow, or a poll that cannot pass
            self._cancel(f"the task stopped ({type(err).__name__})")
            raise
        return self._finish(context, scan)

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
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=max(deadline - time.time(), 0) + DEFERRAL_MARGIN_SECONDS),
        )

    def _wait(self, scan: Scan, deadline: float) -> Scan:
        """Poll in the worker until the scan ends; cancel it and fail at the deadline."""
        while not scan.is_final:
            remaining = deadline - time.time()
            if remaining <= 0:
                self._on_timeout({}, scan.id)
            self.log.info("Soda Cloud scan %s is %s.", scan.id, scan.state_value)
            time.sleep(min(poll_delay(scan, self.poll_interval), remaining))
            try:
                with fail_fast():  # a 401, 403 or 404 fails the task at once, without retries
                    scan = self.hook.get_scan(scan.id)
            except SodaCloudError as err:  # what fail_fast lets through may pass: poll again
                self.log.warning("Could not read the scan's status (%s); trying again.", err)
        return scan

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: the scan ended, the timeout passed, or the wait failed."""
        self.scan_id = str((event or {}).get("scan_id"))  # every event of the trigger carries it
        scan = self._scan_from_event(context, event, self.scan_id)
        return self._finish(context, scan)

    def _on_timeout(self, context: Any, scan_id: str) -> None:
        self.scan_id = scan_id
        self._cancel(f"it was still running after the task's timeout of {self.timeout:g} s")
        raise SodaCloudScanTimeoutError(
            f"Soda Cloud scan {scan_id} of {self.scan_definition!r} was still running after {self.timeout:g} s "
            "(the operator's timeout); it was cancelled. Raise timeout if the scan needs longer."
        )

    def _cancel(self, why: str) -> None:
        """Cancel the scan this task started (once; best effort: the task is failing anyway)."""
        if self.scan_id is None or self._cancelled:
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
