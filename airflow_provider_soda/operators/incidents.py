"""Operators that change Soda Cloud incidents.

Both operators queue their requests in the hook's shared pacing schedule. With
``deferrable=True`` an operator books its slot first and, when the slot is further away than
``defer_after_seconds``, waits for it in the triggerer: no worker slot is held, and the task
resumes exactly at its booked slot (no polling, no race with other processes).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred, conf

from airflow_provider_soda import metrics
from airflow_provider_soda.exceptions import (
    SodaCloudError,
    SodaCloudQueueTimeoutError,
    SodaCloudRateLimitError,
)
from airflow_provider_soda.hooks.retry import RetryLimits
from airflow_provider_soda.links import reserve_link_urls
from airflow_provider_soda.links.incidents import INCIDENT_URL_XCOM_KEY, SodaCloudIncidentLink
from airflow_provider_soda.models import UPDATE_FIELDS, Incident, IncidentUpdate
from airflow_provider_soda.operators._base import SodaCloudBaseOperator, fail_fast
from airflow_provider_soda.operators._bulk import (
    apply_plan,
    check_max_incidents,
    dry_run_report,
    outcome,
    plan_selection,
    settle,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_soda.pacing import Ticket
    from airflow_provider_soda.selection import IncidentSelection

#: Slots further away than this are waited for in the triggerer when ``deferrable=True``.
DEFAULT_DEFER_AFTER_SECONDS = 5.0
#: The longest one deferral may wait for a slot; a later slot (a huge ``Retry-After``, a queue
#: hours long) fails the try with ``SodaCloudQueueTimeoutError``, whose ``retry_after`` the task's
#: retry policy turns into its retry delay.
MAX_DEFER_SECONDS = 3600.0
#: A booked slot is kept this long past its time for the resumed task to claim it (a resume takes
#: a few seconds under a real scheduler); later, the task queues again.
SLOT_HOLD_SECONDS = 120.0
#: XCom key prefix of the outcomes of each stretch of a bulk run between two deferrals.
_SEGMENT_KEY = "incident_results_segment_"
#: XCom key of the ids a selection resolved to (and that need a change), read again on resume.
SELECTED_IDS_XCOM_KEY = "selected_incident_ids"
#: How many incidents a selection may match before the task refuses to touch any of them.
DEFAULT_MAX_INCIDENTS = 100


class _IncidentOperatorBase(SodaCloudBaseOperator):
    """What both update operators share: the update fields and waiting for the rate limit.

    :param status: ``reported``, ``investigating``, ``fixing`` or ``resolved`` (templated).
    :param severity: ``minor``, ``major`` or ``critical`` (templated).
    :param title: new title (templated).
    :param description: new description (templated).
    :param resolution_notes: how the incident was resolved (templated).
    :param deferrable: spend long rate-limit waits in the triggerer; defaults to Airflow's
        ``[operators] default_deferrable``.
    :param defer_after_seconds: only waits longer than this are deferred (default 5 s).
    """

    template_fields: Sequence[str] = (*UPDATE_FIELDS, *SodaCloudBaseOperator.template_fields)
    ui_color = "#e6f4ea"

    def __init__(
        self,
        *,
        status: str | None = None,
        severity: str | None = None,
        title: str | None = None,
        description: str | None = None,
        resolution_notes: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        defer_after_seconds: float = DEFAULT_DEFER_AFTER_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.status = status
        self.severity = severity
        self.title = title
        self.description = description
        self.resolution_notes = resolution_notes
        self.deferrable = deferrable
        self.defer_after_seconds = defer_after_seconds

    def retry_limits(self) -> RetryLimits:
        # When deferrable, the worker only sleeps through short waits; a longer one comes back as
        # an error with retry_after, and the operator books a slot and defers instead.
        limits = super().retry_limits()
        if self.deferrable:
            limits = limits.updated(
                {"max_wait": self.defer_after_seconds, "max_queue_wait": self.defer_after_seconds}
            )
        return limits

    def _common_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in UPDATE_FIELDS}

    def _apply(
        self, incident_id: str, update: IncidentUpdate, *, token: str | None, progress: dict[str, Any]
    ) -> Incident:
        """Apply one update; when deferrable and its slot is far away, defer until the slot.

        ``token`` is the slot booked before the last deferral; ``progress`` is what the task needs
        to resume here (it travels with the deferral and must stay small).
        """
        from airflow_provider_soda.pacing import Ticket

        # The position is the one the booking reported: what the logs and errors can truly say.
        ticket = Ticket(token, 0.0, int(progress.pop("position", 0))) if token else None
        if self.deferrable and ticket is None:
            ticket = self.hook.reserve_slot(hold=SLOT_HOLD_SECONDS)
            if ticket.delay > self.defer_after_seconds:
                self._defer(ticket, progress)
        try:
            return self.hook.apply_update(incident_id, update, ticket=ticket)
        except (SodaCloudQueueTimeoutError, SodaCloudRateLimitError):
            if not self.deferrable:
                raise
            # The schedule is paused (a 429) or long: book the next slot and wait for it.
            self._defer(self.hook.reserve_slot(hold=SLOT_HOLD_SECONDS), progress)
            raise  # not reached: defer() raises

    def _defer(self, ticket: Ticket, progress: dict[str, Any]) -> None:
        from airflow_provider_soda.triggers.rate_limit import SodaCloudRateLimitTrigger

        if ticket.delay > MAX_DEFER_SECONDS:
            self.hook.cancel_slot(ticket)
            raise SodaCloudQueueTimeoutError(
                f"The next Soda Cloud rate-limit slot of connection {self.soda_cloud_conn_id!r} is "
                f"{ticket.delay:.0f} s away ({ticket.position} requests queued ahead), more than one "
                f"deferral waits ({MAX_DEFER_SECONDS:.0f} s); the task's retry will try again then.",
                retry_after=ticket.delay,
                position=ticket.position,
            )
        deferrals = progress.get("deferrals", 0) + 1
        self.log.info(
            "Soda Cloud rate limit: slot booked in %.1f s (%d requests queued ahead); waiting in the "
            "triggerer (deferral %d), the worker slot is free meanwhile.",
            ticket.delay,
            ticket.position,
            deferrals,
        )
        metrics.incr("deferrals.rate_limit")
        self.defer(
            trigger=SodaCloudRateLimitTrigger(
                delay=ticket.delay,  # a duration on the triggerer's clock: see the trigger
                progress={
                    **progress,
                    "deferrals": deferrals,
                    "token": ticket.token,
                    "position": ticket.position,
                },
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=ticket.delay + SLOT_HOLD_SECONDS),
        )

    def execute(self, context: Context) -> Any:
        reserve_link_urls(self, context)
        return self._run(context, {})

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after a deferral, at the booked slot, with the progress the trigger carried."""
        return self._run(context, dict((event or {}).get("progress", {})))

    def execute_after_wait(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume a task deferred by 0.1.0, whose resume method had this name (deprecated)."""
        import warnings

        from airflow.exceptions import AirflowProviderDeprecationWarning

        warnings.warn(
            f"{type(self).__name__}.execute_after_wait is deprecated since 0.2.0 and will be removed in "
            "1.0.0; a task deferred by 0.1.0 resumes through it, anything else uses execute_complete.",
            AirflowProviderDeprecationWarning,
            stacklevel=2,
        )
        return self.execute_complete(context, event)

    def _run(self, context: Context, progress: dict[str, Any]) -> Any:
        raise NotImplementedError


class UpdateIncidentOperator(_IncidentOperatorBase):
    """Update the status, severity, title, description or resolution notes of one Soda Cloud incident.

    Only the fields given are changed. Values are validated after templates are rendered, so
    ``status="{{ params.status }}"`` works and a typo fails the task with the list of valid values.
    Errors that retrying cannot fix (bad input, 400/401/403/404) fail the task at once
    without using its Airflow retries; rate limits and outages are retried by the hook first.

    The updated incident is returned (and so pushed to XCom) as a dict with snake_case keys,
    including ``cloud_url``, the incident's page in Soda Cloud, which the task's
    "Soda Cloud incident" extra link opens. To update many incidents, map this operator
    (``.partial(...).expand(incident_id=[...])``) or use :class:`UpdateIncidentsOperator`.

    :param incident_id: id of the incident (templated).
    :param status: ``reported``, ``investigating``, ``fixing`` or ``resolved`` (templated).
    :param severity: ``minor``, ``major`` or ``critical`` (templated).
    :param title: new title (templated).
    :param description: new description (templated).
    :param resolution_notes: how the incident was resolved (templated).
    :param soda_cloud_conn_id: Airflow connection of type ``soda_cloud`` (templated).
    :param deferrable: spend long rate-limit waits in the triggerer; defaults to Airflow's
        ``[operators] default_deferrable``.
    :param defer_after_seconds: only waits longer than this are deferred (default 5 s).
    :param hook_params: the hook's retry limits to change, by
        :class:`~airflow_provider_soda.hooks.retry.RetryLimits` field, e.g.
        ``{"max_transient_retries": 5, "backoff_cap": 60}``.
    """

    template_fields: Sequence[str] = ("incident_id", *_IncidentOperatorBase.template_fields)
    template_fields_renderers = {"description": "md", "resolution_notes": "md"}
    operator_extra_links = (SodaCloudIncidentLink(),)

    def __init__(self, *, incident_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.incident_id = incident_id

    def _run(self, context: Context, progress: dict[str, Any]) -> dict[str, Any]:
        try:
            with fail_fast():
                update = IncidentUpdate.build(**self._common_fields())
                token = progress.pop("token", None)
                incident = self._apply(self.incident_id, update, token=token, progress=progress)
        finally:
            self.hook.close()
        if incident.cloud_url:
            context["ti"].xcom_push(key=INCIDENT_URL_XCOM_KEY, value=incident.cloud_url)
        return incident.to_xcom()


class UpdateIncidentsOperator(_IncidentOperatorBase):
    """Apply updates to many Soda Cloud incidents in one task, at the full rate Soda Cloud allows.

    Give either ``incident_ids`` (every incident gets the same fields) or ``updates``, a list of
    dicts with an ``incident_id`` and the fields for that incident (the operator-level fields
    are their defaults). Every update is validated before the first request.

    Incidents are updated in order. With ``deferrable=True`` the task books each slot it cannot
    use at once and waits for it in the triggerer, resuming at the next incident: none is sent
    twice or skipped. A deferral carries only where to resume (an index, the booked slot,
    counters); the outcomes of each stretch between deferrals go to XCom as it ends.
    A retried task first reads the incidents' current state and sends only the updates whose
    incident is not already as asked (``skipped`` in their outcome); it never skips one that is not.

    One failing incident (e.g. a 404) does not stop the others; the task fails at the end with a
    summary, at once if no failure can pass by retrying, otherwise through its Airflow retries.
    The per-incident outcomes (``incident_id``, ``ok``, ``skipped``, ``status``, ``cloud_url``,
    ``error``, ``status_code``) are returned (XCom ``return_value``) on success, and pushed to XCom
    ``incident_results`` when the task fails.

    When to use which: map :class:`UpdateIncidentOperator` when each incident deserves its own
    task (own log, retries and link); use this operator for tens to thousands of incidents, where
    one task paces all requests through one limiter and frees its worker slot between windows.

    **By selection.** Instead of ids, ``selection`` names the incidents by the list endpoint's
    filters (:class:`~airflow_provider_soda.selection.IncidentSelection`), e.g.
    ``{"dataset_id": "ds-orders", "status": "open"}`` -> ``status="resolved"`` after a backfill.
    The selection is resolved once, when the task starts: incidents already as asked are skipped
    without a request, the others are updated (a deferral resumes on that same list, kept in XCom
    ``selected_incident_ids``). Safety: a selection without any filter is refused unless
    ``allow_unfiltered_selection=True``, and one with a filter that rendered empty (``[]``) always
    is; when more than
    ``max_incidents`` incidents would change (those already as asked do not count) the task fails
    before the first update, saying how many; and a ``dataset_id`` Soda Cloud does not list fails
    the task (``verify_dataset_ids=False`` allows it).

    ``dry_run=True`` (any mode) reads the incidents, logs what would change and returns the
    outcomes with ``dry_run`` and ``changes`` (``{field: [now, asked]}``), sending no update. A dry
    run never refuses for ``max_incidents``: it says that a real run would.

    :param incident_ids: the incidents to update, all with the operator's fields (templated).
    :param updates: per-incident dicts with an ``incident_id`` and its fields (templated).
    :param selection: filters that select the incidents to update (templated).
    :param allow_unfiltered_selection: let an empty selection select every incident.
    :param max_incidents: most incidents a selection may change (default 100).
    :param dry_run: report what would change; send nothing.
    :param verify_dataset_ids: fail when a selection's ``dataset_id`` is not one Soda Cloud lists.
    """

    template_fields: Sequence[str] = (
        "incident_ids",
        "updates",
        "selection",
        *_IncidentOperatorBase.template_fields,
    )
    template_fields_renderers = {"selection": "json", "updates": "json", "incident_ids": "json"}

    def __init__(
        self,
        *,
        incident_ids: list[str] | None = None,
        updates: list[dict[str, Any]] | None = None,
        selection: dict[str, Any] | None = None,
        allow_unfiltered_selection: bool = False,
        max_incidents: int = DEFAULT_MAX_INCIDENTS,
        dry_run: bool = False,
        verify_dataset_ids: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if sum(value is not None for value in (incident_ids, updates, selection)) != 1:
            raise ValueError(
                "UpdateIncidentsOperator needs exactly one of incident_ids, updates or selection."
            )
        if selection == {} and not allow_unfiltered_selection:
            raise ValueError(_unfiltered_message(self.task_id))
        check_max_incidents(max_incidents)
        self.incident_ids = incident_ids
        self.updates = updates
        self.selection = selection
        self.allow_unfiltered_selection = allow_unfiltered_selection
        self.max_incidents = max_incidents
        self.dry_run_only = dry_run  # BaseOperator.dry_run() is Airflow's own check
        self.verify_dataset_ids = verify_dataset_ids

    def _plan(self) -> list[tuple[str, IncidentUpdate]]:
        """Every (incident id, validated update), or AirflowFailException listing all problems."""
        common = self._common_fields()
        entries = (
            [{"incident_id": i} for i in _id_list(self.incident_ids)]
            if self.updates is None
            else self.updates
        )
        if not isinstance(entries, list):
            raise AirflowFailException(f"updates must be a list of dicts, got {type(entries).__name__}.")
        plan, problems = [], []
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict) or "incident_id" not in entry:
                problems.append(f"#{position}: needs a dict with an 'incident_id', got {entry!r}")
                continue
            fields = {**common, **{k: v for k, v in entry.items() if k != "incident_id"}}
            try:
                plan.append((entry["incident_id"], IncidentUpdate.build(**fields)))
            except SodaCloudError as err:
                problems.append(f"#{position} ({entry['incident_id']!r}): {err}")
        if problems:
            raise AirflowFailException("Nothing was sent; invalid updates: " + "; ".join(problems))
        return plan

    def _already_applied(
        self, context: Context, plan: list[tuple[str, IncidentUpdate]]
    ) -> dict[str, Incident]:
        """On a retry, the incidents of ``plan`` that already hold their update (not sent again).

        A retry must not overwrite what people changed since the first try, and should not spend
        rate-limit slots on updates that landed: one list request per 1,000 incidents tells.
        If the lookup fails, everything is sent again (updates are idempotent).
        """
        if getattr(context["ti"], "try_number", 1) <= 1 or not plan:
            return {}
        try:
            current = self.hook.get_incidents([incident_id for incident_id, _ in plan])
        except SodaCloudError as err:
            self.log.warning("Could not read the incidents' current state (%s); sending every update.", err)
            return {}
        return {i: current[i] for i, update in plan if i in current and current[i].satisfies(update)}

    def _selection(self) -> IncidentSelection:
        """Validate the rendered ``selection``; refuse one without any filter unless that is allowed."""
        from airflow_provider_soda.selection import IncidentSelection

        if isinstance(self.selection, IncidentSelection):
            selection = self.selection
        elif isinstance(self.selection, dict):
            try:
                selection = IncidentSelection.build(**self.selection)
            except SodaCloudError as err:
                raise AirflowFailException(f"{err} Nothing was sent.") from err
        else:
            raise AirflowFailException(
                f"selection must be a dict of filters, got {type(self.selection).__name__}. Nothing was sent."
            )
        if selection.is_unfiltered() and not self.allow_unfiltered_selection:
            raise AirflowFailException(_unfiltered_message(self.task_id))
        return selection

    def _select(
        self, context: Context, resumed: bool
    ) -> tuple[list[tuple[str, IncidentUpdate]], list[Incident], dict[str, Incident]]:
        """Resolve the selection: (updates to send, incidents already as asked, every match by id).

        On resume after a deferral the list resolved at the start is read back from XCom: listing
        again would miss the incidents this task has updated since (they no longer match).
        """
        ti = context["ti"]
        update = self._plan_update()
        if resumed:
            ids = ti.xcom_pull(
                task_ids=ti.task_id, key=SELECTED_IDS_XCOM_KEY, map_indexes=ti.map_index, default=[]
            )
            return [(incident_id, update) for incident_id in ids or []], [], {}
        plan, unchanged, matched = plan_selection(
            self.hook,
            self.log,
            self._selection(),
            update,
            max_incidents=self.max_incidents,
            dry_run=self.dry_run_only,
            verify_datasets=self.verify_dataset_ids,
        )
        if not self.dry_run_only:
            ti.xcom_push(key=SELECTED_IDS_XCOM_KEY, value=[incident_id for incident_id, _ in plan])
        return plan, unchanged, matched

    def _plan_update(self) -> IncidentUpdate:
        try:
            return IncidentUpdate.build(**self._common_fields())
        except SodaCloudError as err:
            raise AirflowFailException(f"Nothing was sent; invalid update: {err}") from err

    def _run(self, context: Context, progress: dict[str, Any]) -> list[dict[str, Any]]:
        ti = context["ti"]
        index: int = progress.get("index", 0)
        segment: int = progress.get("segment", 0)
        token: str | None = progress.pop("token", None)
        results: list[dict[str, Any]] = []  # this stretch's; earlier ones are in XCom
        try:
            with fail_fast():  # a 401 or a bad selection while planning: nothing was sent, no retry helps
                if self.selection is not None:
                    plan, unchanged, matched = self._select(context, resumed="index" in progress)
                    if self.dry_run_only:
                        return dry_run_report(self.hook, self.log, plan, unchanged, matched)
                    results = [outcome(str(i.id), incident=i, skipped=True) for i in unchanged]
                    already: dict[str, Incident] = {}  # the listing was the current state
                else:
                    plan = self._plan()
                    if self.dry_run_only:
                        return dry_run_report(
                            self.hook, self.log, plan, [], self.hook.get_incidents([i for i, _ in plan])
                        )
                    already = self._already_applied(context, plan[index:])

            def apply_one(position: int, incident_id: str, update: IncidentUpdate) -> Incident:
                nonlocal token
                resume = {**progress, "index": position, "segment": segment + 1}
                booked, token = token, None  # the booked slot serves the first update after a resume
                return self._apply(incident_id, update, token=booked, progress=resume)

            try:
                apply_plan(plan, apply_one, self.log, results, start=index, already=already)
            except TaskDeferred:  # keep this stretch's outcomes: the task resumes after them
                ti.xcom_push(key=f"{_SEGMENT_KEY}{segment}", value=results)
                raise
        finally:
            self.hook.close()
        earlier_results = [
            earlier
            for number in range(segment)
            for earlier in ti.xcom_pull(
                task_ids=ti.task_id, key=f"{_SEGMENT_KEY}{number}", map_indexes=ti.map_index, default=[]
            )
            or []
        ]
        results = earlier_results + results
        settle(self.log, results, context["ti"])
        return results


def _id_list(value: Any) -> list[Any]:
    """Return ``incident_ids`` as a list.

    A template renders to a string unless the DAG renders native objects, so a string holding a
    JSON or Python list (``{{ ti.xcom_pull(...) }}``) is read as that list on purpose; any other
    string is refused: iterating it would send one request per character.
    """
    if value is None:
        return []
    if isinstance(value, str):
        import ast

        text = value.strip()
        try:
            parsed = ast.literal_eval(text) if text.startswith(("[", "(")) else None
        except (ValueError, SyntaxError):
            parsed = None
        if not isinstance(parsed, (list, tuple)):
            raise AirflowFailException(
                f"incident_ids must be a list of incident ids, got the string {value[:200]!r}. Pass a list, "
                "an XComArg (incident_ids=find_incidents()), or a template that renders a JSON/Python list "
                "(e.g. \"{{ ti.xcom_pull(task_ids='find_incidents') }}\"). Nothing was sent."
            )
        return list(parsed)
    if not isinstance(value, (list, tuple)):
        raise AirflowFailException(
            f"incident_ids must be a list of incident ids, got {type(value).__name__}. Nothing was sent."
        )
    return list(value)


def _unfiltered_message(task_id: str) -> str:
    return (
        f"Task {task_id!r}: the selection has no filter, so it would select every incident of the "
        "organisation. Add a filter (dataset_id, status, severity, incident_ids, lead_id, created_from, "
        "created_to), or pass allow_unfiltered_selection=True if that is really meant. Nothing was sent."
    )
