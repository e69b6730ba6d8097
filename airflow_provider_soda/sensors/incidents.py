"""Sensor that waits for Soda Cloud incidents to reach a status, in a worker or in the triggerer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_soda.exceptions import SodaCloudError
from airflow_provider_soda.operators._base import SodaCloudBaseOperator, fail_fast

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_soda.watching import IncidentWatch


class SodaCloudIncidentSensor(SodaCloudBaseOperator, BaseSensorOperator):
    """Wait until one incident, or every incident of a selection, reaches ``target_status``.

    "Do not start the downstream job before the incident on orders is resolved." Give either
    ``incident_id`` or ``selection`` (the list endpoint's filters, e.g.
    ``{"dataset_id": "ds-orders", "severity": "critical"}``). A selection is evaluated at every
    poke, and the wait is over when every incident it matches is in a target status (also when it
    matches none, which is logged). An incident id that Soda Cloud does not know fails the task
    at once (``soft_fail=True`` skips it instead), as do a bad API key or a typo in a status.

    ``deferrable=True`` frees the worker slot: the wait happens in the triggerer, where every
    waiting sensor of one connection shares one poll per ``poke_interval`` (one request for up to
    1,000 incident ids), so hundreds of them cost what one costs. ``timeout``, ``poke_interval``,
    ``mode="reschedule"`` and ``soft_fail`` work as on every Airflow sensor.

    The incidents are returned (XCom ``return_value``) as dicts with snake_case keys.
    ``soda_cloud_conn_id``, ``hook_params`` and ``retry_policy`` are as on the operators.

    :param incident_id: the incident to wait for (templated).
    :param selection: filters selecting the incidents to wait for (templated).
    :param target_status: the status, or statuses, that end the wait (default ``resolved``; templated).
    :param allow_unfiltered_selection: let an empty selection watch every incident.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = (
        "incident_id",
        "selection",
        "target_status",
        *SodaCloudBaseOperator.template_fields,
    )
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        incident_id: str | None = None,
        selection: dict[str, Any] | None = None,
        target_status: str | list[str] = "resolved",
        allow_unfiltered_selection: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (incident_id is None) == (selection is None):
            raise ValueError("SodaCloudIncidentSensor needs exactly one of incident_id or selection.")
        self.incident_id = incident_id
        self.selection = selection
        self.target_status = target_status
        self.allow_unfiltered_selection = allow_unfiltered_selection
        self.deferrable = deferrable

    def _watch(self) -> IncidentWatch:
        from airflow_provider_soda.watching import IncidentWatch

        with fail_fast():
            return IncidentWatch.build(
                incident_ids=[self.incident_id] if self.incident_id is not None else (),
                selection=self.selection,
                target_status=self.target_status,
                allow_unfiltered_selection=self.allow_unfiltered_selection,
            )

    def poke(self, context: Context) -> PokeReturnValue:
        from airflow_provider_soda.watching import read_snapshot

        watch = self._watch()
        try:
            with fail_fast():
                verdict = watch.check(read_snapshot(self.hook, [watch]))
        except SodaCloudError as err:  # retryable (an outage, a long rate-limit queue): poke again
            self.log.warning("Could not read the incidents this time, poking again later: %s", err)
            return PokeReturnValue(is_done=False)
        if verdict.missing:
            raise AirflowFailException(str(self.hook.not_found(verdict.missing)))
        return self._report(watch, verdict.done, verdict.incidents, len(verdict.pending))

    def _report(
        self, watch: IncidentWatch, done: bool, incidents: list[Any], pending: int
    ) -> PokeReturnValue:
        found = [i if isinstance(i, dict) else i.to_xcom() for i in incidents]
        if done and not found:
            self.log.warning("No incident matches the selection; nothing to wait for (%s).", watch.describe())
        elif done:
            self.log.info("Done: %s.", watch.describe())
        else:
            self.log.info("Waiting until %s: %d of %d not yet.", watch.describe(), pending, len(found))
        return PokeReturnValue(is_done=done, xcom_value=found)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        try:
            first = self.poke(context)  # no deferral (and no wait) when it is already over
        except AirflowFailException as err:
            if self.soft_fail:  # as BaseSensorOperator.execute does in poke mode
                raise AirflowSkipException(f"Skipping due to soft_fail: {err}") from err
            raise
        if first.is_done:
            return first.xcom_value
        from airflow_provider_soda.triggers.incidents import SodaCloudIncidentTrigger

        self.defer(
            trigger=SodaCloudIncidentTrigger(
                watch=self._watch().to_json(),
                soda_cloud_conn_id=self.soda_cloud_conn_id,
                poll_interval=float(self.poke_interval),
                deadline=datetime.now(UTC) + timedelta(seconds=self.timeout),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Resume after the trigger fired: the incidents, or the error that ended the wait."""
        event = event or {}
        if event.get("status") == "timeout":
            raise AirflowSensorTimeout(event.get("message"))  # soft_fail turns it into a skip
        if event.get("status") != "success":
            raise AirflowFailException(
                event.get("message") or f"The Soda Cloud incident wait ended: {event}."
            )
        incidents: list[dict[str, Any]] = event.get("incidents", [])
        self._report(self._watch(), True, incidents, 0)
        return incidents
