"""What the scan operator and the scan sensor share: the outcome of a scan, its log, verified resolution."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.providers.common.compat.sdk import AirflowFailException, conf

from airflow_provider_soda import metrics
from airflow_provider_soda.exceptions import (
    SodaCloudError,
    SodaCloudNotFoundError,
    SodaCloudPermissionError,
    SodaCloudPollError,
    SodaCloudScanTimeoutError,
)
from airflow_provider_soda.links.scans import CONTRACT_URL_XCOM_KEY, SCAN_URL_XCOM_KEY, SodaCloudScanLink
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
    MAX_REPORTED_CHECKS,
    copy_scan_log,
    normalise_fail_on,
    scan_failure,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_soda.models import Check, LinkedIncident

#: XCom key of the scan's outcome, pushed as soon as the scan's end is known, also when the task fails.
SCAN_XCOM_KEY = "soda_cloud_scan"
#: How many incidents verified resolution may resolve in one task unless told otherwise.
DEFAULT_MAX_INCIDENTS = 100


class SodaCloudScanTaskBase(SodaCloudBaseOperator):
    """A task whose result is a Soda Cloud scan's outcome (see the operator and the sensor).

    :param fail_on: which outcomes of a completed scan fail the task: any of ``"warnings"``,
        ``"failures"``, ``"errors"`` (default failures and errors); empty: only a scan that did
        not complete (``failed``, ``timedOut``, ``canceled``) fails, as it always does.
    :param log_lines: how many of the scan's last log lines go to the task log (0: none).
    :param resolve_incidents: after a completed scan, resolve the incidents whose every linked
        check passes (verified resolution).
    :param dry_run: with ``resolve_incidents``, report what would be resolved; send nothing
        (kept as ``dry_run_only``: ``BaseOperator.dry_run()`` is Airflow's own method).
    :param max_incidents: with ``resolve_incidents``, the most incidents one task may resolve.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    operator_extra_links: tuple[SodaCloudScanLink, ...] = (SodaCloudScanLink(),)
    ui_color = "#fef7e0"
    #: Whether a retry of this task runs the scan again (the operator) or only reads it (the sensor).
    _retry_starts_scan = True

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
        if isinstance(log_lines, bool) or not isinstance(log_lines, int) or log_lines < 0:
            raise ValueError(f"log_lines must be a whole number of lines >= 0 (0: none), got {log_lines!r}.")
        self.log_lines = log_lines
        self.resolve_incidents = resolve_incidents
        self.dry_run_only = dry_run
        self.max_incidents = max_incidents
        self.deferrable = deferrable

    # -- the scan's outcome ------------------------------------------------------------------------

    def _note_scan(self, context: Context, scan: Scan) -> None:
        """Push the scan's links (the scan; a verification's contract) for their buttons, once known."""
        if scan.cloud_url:
            context["ti"].xcom_push(key=SCAN_URL_XCOM_KEY, value=scan.cloud_url)
        if scan.contract_dataset_cloud_url:
            context["ti"].xcom_push(key=CONTRACT_URL_XCOM_KEY, value=scan.contract_dataset_cloud_url)

    def _outcome_extra(self) -> dict[str, Any]:
        """Keys a subclass adds to the outcome in XCom (the contract operator: ``contract_id``, ``dataset``)."""
        return {}

    def _scan_from_event(self, event: dict[str, Any] | None, scan_id: str) -> Scan:
        """Return the final scan a trigger event carries, or raise the error that ended the wait.

        An event keeps at most ``MAX_REPORTED_CHECKS`` checks; when verified resolution needs
        them all, the scan is read again.
        """
        event = event or {}
        status = event.get("status")
        if status == "final":
            scan = Scan.model_validate(event["scan"])
            if scan.checks_total is not None and self.resolve_incidents:
                try:
                    with fail_fast():
                        scan = self.hook.get_scan(scan.id)
                except SodaCloudError as err:
                    if not self._retry_starts_scan:
                        raise
                    raise AirflowFailException(
                        f"Soda Cloud scan {scan.id} ended {scan.state_value} ({scan.counts()}), but reading all "
                        f"its {scan.checks_total} checks for the resolution failed: {err} Not retried: a retry "
                        "would run the scan again."
                    ) from err
            return scan
        if status == "timeout":
            self._on_timeout(scan_id)
        message = event.get("message") or f"The wait for Soda Cloud scan {scan_id} ended: {event}."
        if event.get("retryable"):
            raise SodaCloudPollError(message)
        raise AirflowFailException(message)

    def _on_timeout(self, scan_id: str) -> NoReturn:
        raise SodaCloudScanTimeoutError(f"Soda Cloud scan {scan_id} did not end in time.")

    def _finish(self, context: Context, scan: Scan) -> dict[str, Any]:
        """Copy the scan's log, resolve what it verified, and fail the task on what ``fail_on`` names.

        The outcome goes to XCom (``soda_cloud_scan``) before anything that may fail. A failure
        after the scan ended (resolution, ``max_incidents``) fails the operator without retries:
        a retry would run the scan again.
        """
        self._note_scan(context, scan)
        self._lineage_scan = scan  # for OpenLineage's listener, which asks after the task ends
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
            self._copy_log(scan)
        result = {**scan.to_xcom(max_checks=MAX_REPORTED_CHECKS), **self._outcome_extra()}
        ti = context["ti"]
        ti.xcom_push(key=SCAN_XCOM_KEY, value=result)
        if self.resolve_incidents:
            try:
                result["incidents"] = self._resolve(context, scan)
            except BaseException as err:
                if not self._retry_starts_scan or not isinstance(err, SodaCloudError):
                    raise
                raise AirflowFailException(
                    f"Soda Cloud scan {scan.id} ended {scan.state_value} ({scan.counts()}), but resolving "
                    f"its incidents failed: {err} This task is not retried: a retry would run the scan "
                    "again. Resolve the remaining incidents in Soda Cloud, or with "
                    "UpdateIncidentsOperator(incident_ids=...)."
                ) from err
            ti.xcom_push(key=SCAN_XCOM_KEY, value=result)
        error = scan_failure(scan, self.fail_on)
        if error is None:
            return result
        if not self._retry_starts_scan:
            raise AirflowFailException(
                f"{error} Not retried: the scan has ended and its outcome cannot change."
            ) from error
        if scan.state_value == "canceled":
            # Someone (or something) stopped the scan on purpose: running it again is their call.
            raise AirflowFailException(
                f"{error} Not retried: a cancelled scan is not started again."
            ) from error
        raise error

    def _copy_log(self, scan: Scan) -> None:
        """Copy the scan's last ``log_lines`` lines, read from the pages that hold them only."""
        try:
            total, lines = self.hook.scan_log_tail(scan.id, self.log_lines)
            copy_scan_log(self.log, lines, limit=self.log_lines, scan=scan, total=total)
        except SodaCloudError as err:  # the outcome is known; a missing log must not change it
            self.log.warning(
                "Could not read the scan's log (%s); it is in Soda Cloud: %s", err, scan.cloud_url
            )

    # -- verified resolution -----------------------------------------------------------------------

    def _resolve(self, context: Context, scan: Scan) -> list[dict[str, Any]]:
        """Resolve the incidents whose every linked check passes; leave the others, saying why.

        An incident is a candidate when a check of this scan that passed links to it. It is
        resolved only when every check linked to it *on the datasets of those checks* passes:
        each check of this scan passed in it and has not failed since, and each other check's
        latest result is ``pass``. A check without a result, or one on a dataset whose checks
        cannot be read (403, 404), leaves the incident open. A check on another dataset linked
        to the same incident is not seen: Soda's API lists checks by dataset, not by incident. Incidents already resolved
        are skipped without a request; ``max_incidents`` and ``dry_run`` work as in
        :class:`~airflow_provider_soda.operators.incidents.UpdateIncidentsOperator`.
        """
        from airflow_provider_soda.selection import IncidentSelection

        if not scan.completed:
            self.log.info("The scan did not complete: no incident is resolved.")
            return []
        results = {c.id: c.status_value for c in scan.checks}
        with fail_fast():
            scanned = list(self.hook.list_checks(check_ids=list(results)))
            self._lineage_checks = scanned
            datasets = sorted(
                {
                    d.id
                    for c in scanned
                    if results.get(c.id) == "pass" and c.incidents
                    for d in c.datasets
                    if d.id
                }
            )
        linked: dict[str, Check] = {}
        unreadable: dict[str, str] = {}
        for dataset_id in datasets:
            with fail_fast():  # a 401 or 400 still fails the task; a 403 or 404 only keeps its incidents open
                try:
                    linked.update({c.id: c for c in self.hook.list_checks(dataset_id=dataset_id)})
                except (SodaCloudPermissionError, SodaCloudNotFoundError) as err:
                    unreadable[dataset_id] = f"HTTP {err.status_code}"
        linked.update({c.id: c for c in scanned})
        names = {d.id: d.qualified_name or d.name or d.id for c in scanned for d in c.datasets if d.id}
        verified, blocked = _verified_incidents(list(linked.values()), results, unreadable)
        for check, incident, why in blocked:
            self.log.warning(
                "Incident #%s %r (%s) stays as it is: check %r %s. %s",
                incident.number, incident.name or incident.id, incident.status_value,
                check.name or check.id, why, incident.cloud_url or "",
            )  # fmt: skip
        resolved = IncidentStatus.RESOLVED.value
        outcomes = [
            outcome(i.id, incident=i, skipped=True) for i in verified.values() if i.status_value == resolved
        ]
        to_resolve = [incident_id for incident_id, i in verified.items() if i.status_value != resolved]
        if not to_resolve:
            self.log.info("No open incident has all its checks passing after this scan.")
            return outcomes
        update = IncidentUpdate.build(
            status="resolved",
            resolution_notes=self._resolution_notes(context, scan, [names.get(d, d) for d in datasets]),
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

    def _resolution_notes(self, context: Context, scan: Scan, datasets: Sequence[str]) -> str:
        ti = context["ti"]
        run_id = getattr(ti, "run_id", None) or context.get("run_id")
        return (
            f"Verified by Soda Cloud scan {scan.id}"
            + (f" of {scan.definition_name}" if scan.definition_name else "")
            + f" ({scan.cloud_url or 'no link'}): the checks of this scan linked to this incident passed, "
            f"and every check linked to it on dataset(s) {', '.join(datasets)} passes in Soda Cloud. "
            f"Resolved by Airflow DAG {ti.dag_id!r}, run {run_id!r}, task {ti.task_id!r}."
        )


def _verified_incidents(
    checks: Sequence[Check], results: dict[str, str | None], unreadable: dict[str, str] | None = None
) -> tuple[dict[str, LinkedIncident], list[tuple[Check, LinkedIncident, str]]]:
    """(incidents whose every linked check passes, by id; (check, incident, why) for those that stay).

    ``checks`` are every check read (the scan's and the others of their datasets); ``results``
    are the scan's own results. Candidates are the incidents of checks that passed in the scan;
    the incidents of the scan's checks that did not pass are reported as staying too.
    """
    candidates: dict[str, LinkedIncident] = {}
    for check in checks:
        if results.get(check.id) == "pass":
            for incident in check.incidents:
                candidates.setdefault(incident.id, incident)
    blocked: list[tuple[Check, LinkedIncident, str]] = []
    stays: set[str] = set()
    for check in checks:
        why = _not_passing(check, results)
        if why is None and results.get(check.id) == "pass" and not any(d.id for d in check.datasets):
            why = "passed in this scan, but Soda names no dataset for it: its incident's other checks could not be read"
        closed = [
            f"{d.id} ({(unreadable or {})[d.id]})" for d in check.datasets if d.id in (unreadable or {})
        ]
        if why is None and results.get(check.id) == "pass" and closed:
            why = f"passed in this scan, but the other checks of its dataset {', '.join(closed)} could not be read"
        if why is None:
            continue
        for incident in check.incidents:
            if (incident.id in candidates or check.id in results) and incident.id not in stays:
                stays.add(incident.id)
                if incident.status_value != IncidentStatus.RESOLVED.value:
                    blocked.append((check, incident, why))
    return {i: incident for i, incident in candidates.items() if i not in stays}, blocked


def _not_passing(check: Check, results: dict[str, str | None]) -> str | None:
    """Why ``check`` keeps its incidents open, or None when it passes (in this scan and since)."""
    latest = check.status_value
    if check.id in results:
        ran = results[check.id]
        if ran != "pass":
            return f"is {ran or 'without a result'} in this scan"
        if latest not in (None, "pass"):
            return f"passed in this scan but its latest result in Soda Cloud is {latest}"
        return None
    if latest != "pass":
        return f"(not part of this scan) has the latest result {latest or 'none'} in Soda Cloud"
    return None
