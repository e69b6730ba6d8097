"""A data-quality gate: stop a DAG from publishing while its datasets have open Soda Cloud incidents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowSkipException

from airflow_provider_soda.exceptions import SodaCloudIncidentsOpenError, SodaCloudValidationError
from airflow_provider_soda.links import reserve_link_urls
from airflow_provider_soda.links.incidents import INCIDENT_URL_XCOM_KEY, SodaCloudIncidentLink
from airflow_provider_soda.models import Incident, IncidentSeverity
from airflow_provider_soda.operators._base import SodaCloudBaseOperator, fail_fast, verify_dataset_ids

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: XCom key of the open incidents a gate found (also its return value).
OPEN_INCIDENTS_XCOM_KEY = "open_incidents"
ON_OPEN_CHOICES = ("fail", "skip")


class SodaCloudIncidentGateOperator(SodaCloudBaseOperator):
    """Pass only when none of ``dataset_ids`` has an open incident at or above ``min_severity``.

    Put it before the task that publishes: "do not publish while a critical incident is open on
    orders". Open means any status but ``resolved``. Each blocking incident is logged with its
    link, pushed to XCom ``open_incidents`` and returned (an empty list when the gate passes).

    A dataset id that Soda Cloud does not list would find no incident and open the gate, so
    before it opens, the ids are checked against Soda's datasets listing (cached; one request of
    that listing's 10 per 60 s at most every ten minutes per process); ``verify_dataset_ids=False``
    skips the check. When exactly one incident blocks, the "Soda Cloud incident" link opens it.

    With ``on_open="fail"`` (default) the task fails with
    :class:`~airflow_provider_soda.exceptions.SodaCloudIncidentsOpenError`; the task's own
    retries apply, so ``retries``/``retry_delay`` make it check again later (to wait for the
    resolution instead, use :class:`~airflow_provider_soda.sensors.incidents.SodaCloudIncidentSensor`).
    With ``on_open="skip"`` the gate is skipped, and with it every downstream task that uses the
    default trigger rule: the run succeeds without publishing.

    :param dataset_ids: one Soda Cloud dataset id or several (templated).
    :param min_severity: ``minor``, ``major`` or ``critical`` (default; templated).
    :param on_open: ``fail`` or ``skip``.
    :param verify_dataset_ids: fail when a dataset id is not one Soda Cloud lists (default).
    """

    template_fields: Sequence[str] = ("dataset_ids", "min_severity", *SodaCloudBaseOperator.template_fields)
    ui_color = "#fce8e6"
    operator_extra_links = (SodaCloudIncidentLink(),)

    def __init__(
        self,
        *,
        dataset_ids: str | list[str],
        min_severity: str = IncidentSeverity.CRITICAL.value,
        on_open: str = "fail",
        verify_dataset_ids: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_open not in ON_OPEN_CHOICES:
            raise ValueError(f"on_open must be one of {', '.join(ON_OPEN_CHOICES)}, got {on_open!r}.")
        self.dataset_ids = dataset_ids
        self.min_severity = min_severity
        self.on_open = on_open
        self.verify_dataset_ids = verify_dataset_ids

    def _severities(self) -> tuple[IncidentSeverity, ...]:
        from airflow_provider_soda.selection import SEVERITY_ORDER, IncidentSelection

        chosen = IncidentSelection.build(severity=self.min_severity).severity
        if len(chosen) != 1:
            raise SodaCloudValidationError(f"min_severity must be one severity, got {self.min_severity!r}.")
        return SEVERITY_ORDER[SEVERITY_ORDER.index(chosen[0]) :]

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow_provider_soda.selection import IncidentSelection

        reserve_link_urls(self, context)
        with fail_fast():
            severities = self._severities()
            if not self.dataset_ids:
                raise SodaCloudValidationError("dataset_ids is empty: name the datasets this gate guards.")
            # Open incidents are few and the history of resolved ones is long: filter the status on
            # the server and, when more than one severity counts, the severity here (fewer requests).
            selection = IncidentSelection.build(
                dataset_id=self.dataset_ids,
                status="open",
                severity=severities if len(severities) == 1 else None,
            )
            try:
                blocking = [i for i in self.hook.select_incidents(selection) if _at_least(i, severities)]
                if not blocking and self.verify_dataset_ids:  # about to open: a typo must not open it
                    verify_dataset_ids(self.hook, selection.dataset_id)
            finally:
                self.hook.close()
        found = [incident.to_xcom() for incident in blocking]
        context["ti"].xcom_push(key=OPEN_INCIDENTS_XCOM_KEY, value=found)
        guarded = ", ".join(selection.dataset_id)
        if not blocking:
            self.log.info("Gate open: no %s+ incident is open on %s.", severities[0].value, guarded)
            return found
        if len(blocking) == 1 and blocking[0].cloud_url:
            context["ti"].xcom_push(key=INCIDENT_URL_XCOM_KEY, value=blocking[0].cloud_url)
        for incident in blocking:
            self.log.warning(
                "Open Soda Cloud incident #%s %r (%s, %s): %s",
                incident.number,
                incident.name,
                incident.severity_value,
                incident.status_value,
                incident.cloud_url or "(no link)",
            )
        message = (
            f"Gate closed: {len(blocking)} open Soda Cloud incident(s) at or above {severities[0].value} on "
            f"{guarded}: " + ", ".join(f"#{i.number} {i.name!r} ({i.status_value})" for i in blocking[:10])
        )
        if self.on_open == "skip":
            raise AirflowSkipException(message + ". Skipping the downstream tasks.")
        raise SodaCloudIncidentsOpenError(
            message + ". Resolve them in Soda Cloud, or let the task's retries check again.", incidents=found
        )


def _at_least(incident: Incident, severities: tuple[IncidentSeverity, ...]) -> bool:
    # An unknown (newer) severity blocks: a gate must not wave through what it cannot rank.
    return incident.severity in severities or not isinstance(incident.severity, IncidentSeverity)
