"""What the scan operator and the scan sensor share: the outcome of a scan, its log, verified resolution."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, conf

from airflow_provider_soda import metrics
from airflow_provider_soda.exceptions import SodaCloudError, SodaCloudScanTimeoutError
from airflow_provider_soda.links.scans import SCAN_URL_XCOM_KEY, SodaCloudScanLink
from airflow_provider_soda.models import IncidentStatus, IncidentUpdate, Scan
from airflow_provider_soda.operators._base import SodaCloudBaseOperator, fail_fast
from airflow_provider_soda.operators._bulk import (
    apply_plan,
    check_max_incidents,
    dry_run_report,
    outcome,
    plan_selection,
    settle,
)
from airflow_provider_soda.scanning import (
    DEFAULT_FAIL_ON,
    DEFAULT_LOG_LINES,
    copy_scan_log,
    normalise_fail_on,
    scan_failure,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_soda.models import Check, LinkedIncident

#: XCom key of the scan's outcome, pushed also when the task fails.
SCAN_XCOM_KEY = "soda_cloud_scan"
#: How many incidents verified resolution may resolve in one task unless told otherwise.
DEFAULT_MAX_INCIDENTS = 100


class SodaCloudScanTaskBase(SodaCloudBaseOperator):
    """A task whose result is a Soda Cloud scan's outcome (see the operator and the sensor).

    :param fail_on: which outcomes of a completed scan fail the task: any of ``"warnings"``,
        ``"failures"``, ``"errors"`` (default failures and errors); empty: only a scan that did
        not complete (``failed``, ``timedOut``, ``canceled``) fails, as it always does.
    :param log_lines: how many of the scan's last log lines go to the task log (0: none).
    :param resolve_incidents: after a completed scan, resolve the incidents linked to its checks
        that now pass (verified resolution).
    :param dry_run: with ``resolve_incidents``, report what would be resolved; send nothing.
    :param max_incidents: with ``resolve_incidents``, the most incidents one task may resolve.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    operator_extra_links = (SodaCloudScanLink(),)
    ui_color = "#fef7e0"

    def __init__(
        self,
        *,
        fail_on: Sequence[str] | str | None = DEFAULT_FAIL_ON,
        log_lines: int = DEFAULT_LOG_LINES,
        resolve_incidents: bool = False,
        dry_run: bool = False,
        max_incidents: int = DEFAULT_MAX_INCIDENTS,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fail_on = normalise_fail_on(fail_on)
        check_max_incidents(max_incidents)
        self.log_lines = log_lines
        self.resolve_incidents = resolve_incidents
        self.dry_run_only = dry_run
        self.max_incidents = max_incidents
        self.deferrable = deferrable

    # -- the scan's outcome ------------------------------------------------------------------------

    def _note_scan(self, context: Context, scan: Scan) -> None:
        """Push the scan's link for the "Soda Cloud scan" button as soon as it is known."""
        if scan.cloud_url:
            context["ti"].xcom_push(key=SCAN_URL_XCOM_KEY, value=scan.cloud_url)

    def _scan_from_event(self, context: Context, event: dict[str, Any] | None, scan_id: str) -> Scan:
        """Return the final scan a trigger event carries, or raise the error that ended the wait."""
        event = event or {}
        status = event.get("status")
        if status == "final":
            return Scan.model_validate(event["scan"])
        if status == "timeout":
            self._on_timeout(context, scan_id)
        message = event.get("message") or f"The wait for Soda Cloud scan {scan_id} ended: {event}."
        if event.get("retryable"):
            raise SodaCloudError(message)
        raise AirflowFailException(message)

    def _on_timeout(self, context: Context, scan_id: str) -> None:
        raise SodaCloudScanTimeoutError(f"Soda Cloud scan {scan_id} did not end in time.")

    def _finish(self, context: Context, scan: Scan) -> dict[str, Any]:
        """Copy the scan's log, resolve what it verified, and fail the task on what ``fail_on`` names."""
        self._note_scan(context, scan)
        self.log.info(
            "Soda Cloud scan %s ended %s: %s. %s",
            scan.id,
            scan.state_value,
            scan.counts(),
            scan.cloud_url or "",
        )
        metrics.incr(f"scan.outcome.{scan.state_value}")
        if scan.duration is not None:
            metrics.timing("scan.duration", scan.duration)
        if self.log_lines > 0:
            try:
                copy_scan_log(self.log, self.hook.scan_logs(scan.id), limit=self.log_lines, scan=scan)
            except SodaCloudError as err:  # the outcome is known; a missing log must not change it
                self.log.warning(
                    "Could not read the scan's log (%s); it is in Soda Cloud: %s", err, scan.cloud_url
                )
        result = scan.to_xcom()
        if self.resolve_incidents:
            result["incidents"] = self._resolve(context, scan)
        context["ti"].xcom_push(key=SCAN_XCOM_KEY, value=result)
        error = scan_failure(scan, self.fail_on)
        if error is not None:
            raise error
        return result

    # -- verified resolution -----------------------------------------------------------------------

    def _resolve(self, context: Context, scan: Scan) -> list[dict[str, Any]]:
        """Resolve the incidents linked to checks this scan found passing; list those of failing checks.

        An incident is resolved only when every check of the scan it is linked to passed in this
        scan and still passes in Soda Cloud (a later scan may have failed it again). Incidents
        already resolved are skipped without a request; ``max_incidents`` and ``dry_run`` work as
        in :class:`~airflow_provider_soda.operators.incidents.UpdateIncidentsOperator`.
        """
        from airflow_provider_soda.selection import IncidentSelection

        if not scan.completed:
            self.log.info("The scan did not complete: no incident is resolved.")
            return []
        results = {c.id: c.status_value for c in scan.checks}
        with fail_fast():
            checks = list(self.hook.list_checks(check_ids=list(results)))
        verified, still = _verified_incidents(checks, results)
        for check, incident in still:
            self.log.warning(
                "Still %s: check %r -> incident #%s %r (%s), left as it is. %s",
                results.get(check.id) or check.status_value, check.name or check.id, incident.number,
                incident.name or incident.id, incident.status_value, incident.cloud_url or "",
            )  # fmt: skip
        resolved = IncidentStatus.RESOLVED.value
        outcomes = [
            outcome(i.id, incident=i, skipped=True) for i in verified.values() if i.status_value == resolved
        ]
        to_resolve = [incident_id for incident_id, i in verified.items() if i.status_value != resolved]
        if not to_resolve:
            self.log.info("No open incident is linked to the checks this scan verified.")
            return outcomes
        update = IncidentUpdate.build(
            status="resolved", resolution_notes=self._resolution_notes(context, scan)
        )
        with fail_fast():
            plan, unchanged, current = plan_selection(
                self.hook,
                self.log,
                IncidentSelection(incident_ids=tuple(to_resolve)),
                update,
                max_incidents=self.max_incidents,
                dry_run=self.dry_run_only,
                verify_datasets=False,
            )
        if self.dry_run_only:
            return outcomes + dry_run_report(self.hook, self.log, plan, unchanged, current)
        done = outcomes + [outcome(str(i.id), incident=i, skipped=True) for i in unchanged]
        apply_plan(
            plan, lambda _, incident_id, asked: self.hook.apply_update(incident_id, asked), self.log, done
        )
        settle(self.log, done, context["ti"])
        return done

    def _resolution_notes(self, context: Context, scan: Scan) -> str:
        ti = context["ti"]
        run_id = getattr(ti, "run_id", None) or context.get("run_id")
        return (
            f"Verified by Soda Cloud scan {scan.id}"
            + (f" of {scan.definition_name}" if scan.definition_name else "")
            + f": every check linked to this incident passes again ({scan.cloud_url or 'no link'}). "
            f"Resolved by Airflow DAG {ti.dag_id!r}, run {run_id!r}, task {ti.task_id!r}."
        )


def _verified_incidents(
    checks: Sequence[Check], results: dict[str, str | None]
) -> tuple[dict[str, Any], list[Any]]:
    """(incidents whose every linked check passed, by id; (check, incident) pairs still not passing)."""
    passing: dict[str, LinkedIncident] = {}
    blocked: set[str] = set()
    still: list[tuple[Check, LinkedIncident]] = []
    for check in checks:
        ok = results.get(check.id) == "pass" and check.status_value in (None, "pass")
        for incident in check.incidents:
            if ok:
                passing.setdefault(incident.id, incident)
            else:
                blocked.add(incident.id)
                if incident.status_value != IncidentStatus.RESOLVED.value:
                    still.append((check, incident))
    return {i: incident for i, incident in passing.items() if i not in blocked}, still
