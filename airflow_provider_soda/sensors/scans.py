"""Sensor that waits for a Soda Cloud scan started elsewhere, in a worker or in the triggerer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.providers.common.compat.sdk import AirflowSensorTimeout, BaseSensorOperator, PokeReturnValue

from airflow_provider_soda import metrics
from airflow_provider_soda.links import reserve_link_urls
from airflow_provider_soda.links.scans import SodaCloudContractLink, SodaCloudScanLink
from airflow_provider_soda.models import normalise_id
from airflow_provider_soda.operators._base import fail_fast
from airflow_provider_soda.operators._scan_task import SodaCloudScanTaskBase

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_soda.models.scans import Scan


class SodaCloudScanSensor(SodaCloudScanTaskBase, BaseSensorOperator):
    """Wait for a Soda Cloud scan to end, then succeed or fail by the same rules as the scan operator.

    For a scan this task did not start: one that a ``SodaCloudScanOperator`` or a
    ``SodaCloudVerifyContractOperator`` with ``wait_for_completion=False`` started (``scan_id="{{
    ti.xcom_pull(task_ids='start_scan', key='soda_cloud_scan_id') }}"``), or one of a Soda
    schedule: a v3 scan or a v4 contract verification, which end in the same states. ``poke``, ``reschedule`` and
    ``deferrable=True`` all apply ``fail_on``, copy the scan's log and, with
    ``resolve_incidents=True``, resolve what it verified. The sensor never cancels the scan: it
    did not start it. ``timeout`` and ``poke_interval`` work as on every Airflow sensor (in the
    triggerer, Soda's ``X-Soda-Next-Poll-Time`` is honoured between polls).

    :param scan_id: the scan to wait for (templated).
    """

    template_fields: Sequence[str] = ("scan_id", *SodaCloudScanTaskBase.template_fields)
    operator_extra_links: tuple[SodaCloudScanLink, ...] = (SodaCloudScanLink(), SodaCloudContractLink())
    _retry_starts_scan = False

    def __init__(self, *, scan_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scan_id = scan_id

    def poke(self, context: Context) -> PokeReturnValue:
        return self._poke(context)[1]

    def _poke(self, context: Context) -> tuple[Scan, PokeReturnValue]:
        with fail_fast():
            scan_id = normalise_id(self.scan_id, "scan_id")
            scan = self.hook.get_scan(scan_id)
        self._note_scan(context, scan)
        if not scan.is_final:
            self.log.info("Soda Cloud scan %s is %s.", scan.id, scan.state_value)
            return scan, PokeReturnValue(is_done=False)
        return scan, PokeReturnValue(is_done=True, xcom_value=self._finish(context, scan))

    def execute(self, context: Context) -> Any:
        if self.mode != "reschedule":  # in reschedule mode execute() runs again, after a push
            reserve_link_urls(self, context)
        if not self.deferrable:
            return super().execute(context)
        scan, first = self._poke(context)  # no deferral when the scan has already ended
        if first.is_done:
            return first.xcom_value
        from airflow_provider_soda.scanning import DEFERRAL_MARGIN_SECONDS, poll_delay
        from airflow_provider_soda.triggers.scans import SodaCloudScanTrigger

        metrics.incr("deferrals.scan")
        self.defer(
            trigger=SodaCloudScanTrigger(
                scan_id=normalise_id(self.scan_id, "scan_id"),
                soda_cloud_conn_id=self.soda_cloud_conn_id,
                poll_interval=float(self.poke_interval),
                end_time=time.time() + self.timeout,
                # Soda's X-Soda-Next-Poll-Time on the first poke, as the scan operator honours it
                first_poll_after=poll_delay(scan, float(self.poke_interval)),
                cancel_on_kill=False,  # a scan this task did not start
                hook_params=self.hook_params,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + DEFERRAL_MARGIN_SECONDS),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: the scan ended, the sensor's timeout passed, or the wait failed."""
        scan = self._scan_from_event(event, str((event or {}).get("scan_id") or self.scan_id))
        return self._finish(context, scan)

    def _on_timeout(self, scan_id: str) -> NoReturn:
        # soft_fail turns it into a skip, as for every sensor
        raise AirflowSensorTimeout(f"Soda Cloud scan {scan_id} did not end within the sensor's timeout.")
