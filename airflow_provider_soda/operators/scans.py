"""Operator that runs a Soda Cloud scan on a Soda Agent and waits for its outcome."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_soda.operators._base import fail_fast
from airflow_provider_soda.operators._scan_run import SCAN_ID_XCOM_KEY, SodaCloudScanRunBase

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

__all__ = ["SCAN_ID_XCOM_KEY", "SodaCloudScanOperator"]


class SodaCloudScanOperator(SodaCloudScanRunBase):
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
        *SodaCloudScanRunBase.template_fields,
    )

    def __init__(
        self,
        *,
        scan_definition: str,
        data_timestamp: datetime | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.scan_definition = scan_definition
        self.data_timestamp = data_timestamp

    def _start(self, context: Context) -> str:
        with fail_fast():
            return self.hook.trigger_scan(self.scan_definition, data_timestamp=self._data_timestamp())

    def _what(self) -> str:
        return f"scan definition {self.scan_definition!r}"

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
