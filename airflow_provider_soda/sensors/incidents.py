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

from airflow_provider_soda import metrics
from airflow_provider_soda.exceptions import SodaCloudPollError
from airflow_provider_soda.links import reserve_link_urls
from airflow_provider_soda.links.incidents import INCIDENT_URL_XCOM_KEY, SodaCloudIncidentLink
from airflow_provider_soda.operators._base import SodaCloudBaseOperator, fail_fast, verify_dataset_ids

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
    at once, as do a bad API key, a typo in a status, a filter that rendered empty, and a
    ``dataset_id`` that Soda Cloud does not list (checked when the wait would end;
    ``verify_dataset_ids=False`` skips that check). ``soft_fail=True`` or ``never_fail=True``
    skip the task instead, in every mode.

    ``deferrable=True`` frees the worker slot: the wait happens in the triggerer, where every
    waiting sensor of one connection shares one poll loop (waits due together share requests,
    up to 1,000 incident ids each), so hundreds of them cost what one costs, and each is still
    polled on its own ``poke_interval``. ``timeout``, ``poke_interval``, ``mode="reschedule"``
    and ``soft_fail`` work as on every Airflow sensor.

    The incidents are returned (XCom ``return_value``) in compact form (``id``, ``number``,
    ``name``, ``status``, ``severity``, ``cloud_url``), at most
    :data:`~airflow_provider_soda.watching.MAX_RETURNED_INCIDENTS` of them (the log says when
    more matched). When the task concerns one incident, its "Soda Cloud incident" link opens it.
    ``soda_cloud_conn_id``, ``hook_params`` and ``retry_policy`` are as on the operators.

    :param incident_id: the incident to wait for (templated).
    :param selection: filters selecting the incidents to wait for (templated).
    :param target_status: the status, or statuses, that end the wait (default ``resolved``; templated).
    :param allow_unfiltered_selection: let an empty selection watch every incident.
    :param verify_dataset_ids: fail when a ``dataset_id`` of the selection is not a dataset Soda
        Cloud lists (default); ``False`` lets an unknown id end the wait with a warning.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = (
        "incident_id",
        "selection",
        "target_status",
        *SodaCloudBaseOperator.template_fields,
    )
    template_fields_renderers = {"selection": "json"}
    operator_extra_links = (SodaCloudIncidentLink(),)
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        incident_id: str | None = None,
        selection: dict[str, Any] | None = None,
        target_status: str | list[str] = "resolved",
        allow_unfiltered_selection: bool = False,
        verify_dataset_ids: bool = True,
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
        self.verify_dataset_ids = verify_dataset_ids
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
        snapshot = read_snapshot(self.hook, [watch])
        error = snapshot.error_for(watch)
        if isinstance(error, SodaCloudPollError) and error.__cause__ is not None:
            # In a worker an unforeseen error (no such connection) fails the try, as it always did;
            # only the triggerer's shared loop must outlive it.
            raise error.__cause__
        if error is not None and error.retryable:  # an outage, a long rate-limit queue: poke again
            self.log.warning("Could not read the incidents this time, poking again later: %s", error)
            return PokeReturnValue(is_done=False)
        if error is not None:
            raise AirflowFailException(str(error)) from error
        verdict = watch.check(snapshot)
        if verdict.missing:
            raise AirflowFailException(str(self.hook.not_found(verdict.missing)))
        return self._report(
            context, watch, verdict.done, verdict.incidents, len(verdict.incidents), len(verdict.pending)
        )

    def _report(
        self,
        context: Context,
        watch: IncidentWatch,
        done: bool,
        incidents: list[Any],
        matched: int,
        pending: int,
    ) -> PokeReturnValue:
        from airflow_provider_soda.watching import compact

        found, _ = compact(incidents)
        if not done:
            self.log.info("Waiting until %s: %d of %d not yet.", watch.describe(), pending, matched)
            return PokeReturnValue(is_done=False)
        if watch.selection is not None and watch.selection.dataset_id:
            self._verify_datasets(watch.selection.dataset_id, matched)
        if not found:
            self.log.warning("No incident matches the selection; nothing to wait for (%s).", watch.describe())
        else:
            self.log.info("Done: %s.", watch.describe())
        if matched > len(found):
            self.log.info(
                "%d incidents matched; the first %d are returned (XCom), in compact form.",
                matched,
                len(found),
            )
        if matched == 1 and found[0].get("cloud_url"):
            context["ti"].xcom_push(key=INCIDENT_URL_XCOM_KEY, value=found[0]["cloud_url"])
        return PokeReturnValue(is_done=True, xcom_value=found)

    def _verify_datasets(self, dataset_ids: Sequence[str], matched: int) -> None:
        """Fail when a dataset id is unknown to Soda Cloud, unless the incidents found prove it."""
        if self.verify_dataset_ids:
            with fail_fast():
                verify_dataset_ids(self.hook, dataset_ids, matched=matched)

    def execute(self, context: Context) -> Any:
        if self.mode != "reschedule":  # in reschedule mode execute() runs again, after a push
            reserve_link_urls(self, context)
        if not self.deferrable:
            return super().execute(context)
        try:
            first = self.poke(context)  # no deferral (and no wait) when it is already over
        except AirflowFailException as err:
            self._skip_if_allowed(err)
            raise
        if first.is_done:
            return first.xcom_value
        from airflow_provider_soda.triggers.incidents import SodaCloudIncidentTrigger

        metrics.incr("deferrals.incident_wait")
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
        try:
            if event.get("status") != "success":
                raise AirflowFailException(
                    event.get("message") or f"The Soda Cloud incident wait ended: {event}."
                )
            incidents: list[dict[str, Any]] = event.get("incidents", [])
            matched = event.get("matched", len(incidents))
            result = self._report(context, self._watch(), True, incidents, matched, 0)
        except AirflowFailException as err:
            self._skip_if_allowed(err)
            raise
        return list(result.xcom_value or [])

    def _skip_if_allowed(self, err: AirflowFailException) -> None:
        """Skip instead of failing with ``soft_fail`` or ``never_fail``, as poke mode does."""
        if self.soft_fail or getattr(self, "never_fail", False):  # never_fail: Airflow 2.10+
            flag = "soft_fail" if self.soft_fail else "never_fail"
            raise AirflowSkipException(f"Skipping due to {flag}: {err}") from err
