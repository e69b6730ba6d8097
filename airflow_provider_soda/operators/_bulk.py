"""The bulk-update path: plan updates for a selection, dry-run them, send them, report the outcomes.

:class:`~airflow_provider_soda.operators.incidents.UpdateIncidentsOperator` and the verified
resolution of :class:`~airflow_provider_soda.operators.scans.SodaCloudScanOperator` both go
through these functions, so that ``max_incidents``, ``dry_run``, skipping what is already as
asked and the per-incident outcomes mean the same in both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_soda.exceptions import SodaCloudBulkUpdateError, SodaCloudError
from airflow_provider_soda.operators._base import verify_dataset_ids

if TYPE_CHECKING:
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
    from airflow_provider_soda.models import Incident, IncidentUpdate, LinkedIncident
    from airflow_provider_soda.selection import IncidentSelection

Plan = list[tuple[str, "IncidentUpdate"]]


def check_max_incidents(max_incidents: object) -> None:
    """Refuse a ``max_incidents`` that is not a positive integer (when the DAG is parsed)."""
    if isinstance(max_incidents, bool) or not isinstance(max_incidents, int) or max_incidents < 1:
        raise ValueError(f"max_incidents must be a positive integer, got {max_incidents!r}.")


def plan_selection(
    hook: SodaCloudHook,
    log: Any,
    selection: IncidentSelection,
    update: IncidentUpdate,
    *,
    max_incidents: int,
    dry_run: bool,
    verify_datasets: bool,
) -> tuple[Plan, list[Incident], dict[str, Incident]]:
    """Resolve a selection: (updates to send, incidents already as asked, every match by id).

    More than ``max_incidents`` incidents to change refuses the run before any update, naming
    the number; a dry run only warns that a real run would refuse.
    """
    matched = {str(incident.id): incident for incident in hook.select_incidents(selection)}
    if verify_datasets:
        verify_dataset_ids(hook, selection.dataset_id, matched=len(matched))
    unchanged = [i for i in matched.values() if i.satisfies(update)]
    plan = [(incident_id, update) for incident_id, i in matched.items() if not i.satisfies(update)]
    log.info(
        "The selection (%s) matches %d incidents; %d need a change, %d are already as asked.",
        selection.describe(), len(matched), len(plan), len(unchanged),
    )  # fmt: skip
    if len(plan) > max_incidents:
        message = (
            f"The selection ({selection.describe()}) would change {len(plan)} Soda Cloud incidents "
            f"({len(matched)} match), more than max_incidents={max_incidents}"
        )
        if not dry_run:
            raise AirflowFailException(
                f"{message}; nothing was sent. Narrow the selection, or raise max_incidents to at "
                f"least {len(plan)} if that many is intended."
            )
        log.warning("Dry run: %s; a real run would refuse and send nothing.", message)
    return plan, unchanged, matched


def dry_run_report(
    hook: SodaCloudHook, log: Any, plan: Plan, unchanged: Sequence[Incident], current: Mapping[str, Incident]
) -> list[dict[str, Any]]:
    """Log and return what the run would change, from the incidents' ``current`` state; sends nothing."""
    results = [outcome(str(i.id), incident=i, skipped=True, dry_run=True) for i in unchanged]
    for incident_id, update in plan:
        incident = current.get(incident_id)
        if incident is None:
            results.append(outcome(incident_id, error=hook.not_found([incident_id]), dry_run=True))
            continue
        changes = incident.changes(update)
        results.append(
            outcome(incident_id, incident=incident, skipped=not changes, dry_run=True, changes=changes)
        )
        if changes:
            log.info(
                "Dry run: would update incident #%s %r: %s  %s",
                incident.number,
                incident_id,
                ", ".join(f"{field} {now!r} -> {asked!r}" for field, (now, asked) in changes.items()),
                incident.cloud_url or "",
            )
    would = sum(1 for r in results if r["changes"])
    log.info("Dry run: %d of %d incidents would change; nothing was sent.", would, len(results))
    return results


def apply_plan(
    plan: Plan,
    apply_one: Callable[[int, str, IncidentUpdate], Incident],
    log: Any,
    results: list[dict[str, Any]],
    *,
    start: int = 0,
    already: Mapping[str, Incident] | None = None,
) -> None:
    """Send each update of ``plan`` from ``start`` on, appending one outcome per incident to ``results``.

    One failing incident does not stop the others. ``already`` holds incidents known to be as
    asked (skipped, not sent). A deferral raised by ``apply_one`` goes through, with ``results``
    holding the outcomes up to it.
    """
    for index in range(start, len(plan)):
        incident_id, update = plan[index]
        if already and incident_id in already:
            results.append(outcome(incident_id, incident=already[incident_id], skipped=True))
            continue
        try:
            incident = apply_one(index, incident_id, update)
        except SodaCloudError as err:
            log.error("Incident %r was not updated: %s", incident_id, err)
            results.append(outcome(incident_id, error=err))
        else:
            results.append(outcome(incident_id, incident=incident))


def settle(log: Any, results: list[dict[str, Any]], ti: Any) -> None:
    """Log the summary of a bulk run; fail the task when an update failed (at once if no retry can help)."""
    failed = [r for r in results if not r["ok"]]
    skipped = sum(1 for r in results if r.get("skipped"))
    log.info(
        "Updated %d of %d Soda Cloud incidents (%d already as asked, not sent again).",
        len(results) - len(failed) - skipped, len(results), skipped,
    )  # fmt: skip
    if not failed:
        return
    ti.xcom_push(key="incident_results", value=results)
    summary = f"{len(failed)} of {len(results)} Soda Cloud incident updates failed: " + "; ".join(
        f"{r['incident_id']!r}: {r['error']}" for r in failed[:10]
    )
    if not any(r["retryable"] for r in failed):
        raise AirflowFailException(summary)
    retry_after = max((r["retry_after"] or 0 for r in failed), default=0) or None
    raise SodaCloudBulkUpdateError(summary, retry_after=retry_after)


def outcome(
    incident_id: str,
    *,
    incident: Incident | LinkedIncident | None = None,
    error: SodaCloudError | None = None,
    skipped: bool = False,
    dry_run: bool = False,
    changes: dict[str, list[Any]] | None = None,
) -> dict[str, Any]:
    """One incident's outcome, as bulk runs return it (XCom)."""
    return {
        "incident_id": incident_id,
        "ok": error is None,
        "skipped": skipped,
        "dry_run": dry_run,
        "changes": changes or {},
        "status": incident.status_value if incident else None,
        "cloud_url": incident.cloud_url if incident else None,
        "error": str(error) if error else None,
        "status_code": getattr(error, "status_code", None),
        "retryable": bool(error and error.retryable),
        "retry_after": getattr(error, "retry_after", None),
    }
