"""Notifier that moves a Soda Cloud incident when a task or DAG run fails or succeeds.

The shortest way to tie a pipeline to an incident::

    on_failure_callback=SodaCloudIncidentNotifier(incident_id="{{ params.incident_id }}")
    on_success_callback=SodaCloudIncidentNotifier(incident_id="{{ params.incident_id }}")

Without an explicit ``status`` it moves the incident to ``investigating`` on a failure (or a
retry) and to ``resolved`` on a success, with resolution notes that name the DAG, run, task and
try. It leaves the incident's description alone unless asked (``describe_failure=True``) and
sends exception text only with ``include_error=True``. A notifier never raises a Soda Cloud error: the callback runs after the
task's own outcome is decided, and an outage at Soda must not hide (or replace) the task's
failure in the logs. The error is logged at ERROR level with the fix instead.

A notifier cannot defer, so it waits in line for Soda Cloud's rate limit within a budget that
fits where it runs. Task-level callbacks run in the worker after the task: ``[soda_cloud]
notifier_timeout`` (default 900 s, the queue of a 150-update storm at 10 per 60 s). DAG-level
callbacks run in a DAG-processor child that is killed at ``dag_file_processor_timeout``, taking
the whole callback batch with it: they wait at most a third of that timeout. An update that
cannot get a slot in time is not sent, and the ERROR line says which incident, its place in the
queue and the expected wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jinja2
from airflow.providers.common.compat.sdk import BaseNotifier

from airflow_provider_soda.exceptions import SodaCloudError, SodaCloudQueueTimeoutError
from airflow_provider_soda.hooks import DEFAULT_CONN_ID
from airflow_provider_soda.hooks.retry import RetryLimits
from airflow_provider_soda.models import UPDATE_FIELDS
from airflow_provider_soda.operators.incidents import UpdateIncidentOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import DAG, Context

    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

_FAILED_STATES = {"failed", "up_for_retry", "upstream_failed"}
_MAX_ERROR_TEXT = 300
#: Default budget of a task-level notifier (``[soda_cloud] notifier_timeout``), in seconds.
DEFAULT_NOTIFIER_TIMEOUT = 900.0
#: Share of ``dag_file_processor_timeout`` a DAG-level notifier may spend waiting.
_DAG_LEVEL_SHARE = 1 / 3


class SodaCloudIncidentNotifier(BaseNotifier):
    """Update a Soda Cloud incident from a task's or a DAG's callbacks.

    Use it as ``on_failure_callback``, ``on_success_callback`` or ``on_retry_callback``.

    All fields are templated, as on
    :class:`~airflow_provider_soda.operators.incidents.UpdateIncidentOperator`.

    :param incident_id: id of the incident (templated).
    :param status: the status to set (templated); by default ``investigating`` on a failure or a
        retry and ``resolved`` on a success.
    :param severity: ``minor``, ``major`` or ``critical`` (templated).
    :param title: new title (templated).
    :param description: new description (templated).
    :param resolution_notes: how the incident was resolved (templated); on a success without
        them, notes naming the DAG run.
    :param soda_cloud_conn_id: Airflow connection of type ``soda_cloud`` (templated).
    :param describe_failure: on a failure, replace the incident's description with one naming the
        DAG, run, task and try. Off by default: the description is often written by Soda or by
        the people working the incident, and an update replaces it.
    :param include_error: with ``describe_failure``, add the first line of the exception (secrets
        Airflow knows are masked; hostnames, addresses or tokens it does not know are not, which is
        why this is off by default: the text leaves for Soda Cloud).
    :param hook_params: the hook's retry limits to change, by
        :class:`~airflow_provider_soda.hooks.retry.RetryLimits` field (applied over the budget of
        where the notifier runs).
    :param context: set by Airflow where it builds the notifier to await it (a deadline alert's
        callback on 3.1+); not for DAG authors.
    """

    # The same fields, templated the same way, as the operator.
    template_fields: Sequence[str] = UpdateIncidentOperator.template_fields

    def __init__(
        self,
        *,
        incident_id: str,
        status: str | None = None,
        severity: str | None = None,
        title: str | None = None,
        description: str | None = None,
        resolution_notes: str | None = None,
        soda_cloud_conn_id: str = DEFAULT_CONN_ID,
        describe_failure: bool = False,
        include_error: bool = False,
        hook_params: dict[str, Any] | None = None,
        context: Context | None = None,
    ) -> None:
        if context is None:
            super().__init__()
        else:
            # Given only where Airflow builds the notifier to await it (3.1+: a deadline alert's
            # AsyncCallback in the triggerer); older BaseNotifiers take no context at all.
            super().__init__(context=context)  # type: ignore[call-arg,unused-ignore]
        self.hook_params = hook_params or {}
        RetryLimits().updated(self.hook_params)  # an unknown key fails at parse time
        self.describe_failure = describe_failure
        self.include_error = include_error
        self.incident_id = incident_id
        self.status = status
        self.severity = severity
        self.title = title
        self.description = description
        self.resolution_notes = resolution_notes
        self.soda_cloud_conn_id = soda_cloud_conn_id

    def __call__(self, *args: Any) -> None:
        # BaseNotifier renders template fields in place, for good, and the DAG processor runs every
        # queued DAG-level callback of a file against one parsed DAG, so one notifier object:
        # rendering self would send the first run's incident id for every later run. Render a copy.
        try:
            super(SodaCloudIncidentNotifier, copy.copy(self)).__call__(*args)
        except jinja2.UndefinedError as err:
            context = args[0] if len(args) == 1 and isinstance(args[0], dict) else None
            if context is None or not _lacks_run_context(context):
                raise
            # Airflow 3.0 gives DAG-level callbacks only dag, run_id and reason (3.1 restored the full
            # context): a template that reads the run cannot render, and guessing could move the
            # wrong incident. Say so, with the fix, instead of a template traceback.
            self.log.error(
                "Could not update a Soda Cloud incident from the DAG-level %s callback of %s: %s. This "
                "Airflow gives DAG-level callbacks no run context (no params, dag_run or conf), so the "
                "notifier's templates cannot read them. Give a literal incident_id, attach the notifier "
                "to the tasks instead (on_failure_callback in default_args), or use Airflow 3.1+.",
                context.get("reason") or "",
                _where(context),
                err,
            )

    def get_template_env(self, dag: DAG | None = None) -> jinja2.Environment:
        # Under dag.test() DAG-level callbacks receive the scheduler's SerializedDAG, which has no
        # get_template_env(); render with a plain sandboxed environment rather than fail.
        if dag is not None and not hasattr(dag, "get_template_env"):
            dag = None
        return super().get_template_env(dag=dag)

    async def async_notify(self, context: Context) -> None:
        """Update the incident from the triggerer (deadline alerts) without blocking its event loop.

        The request, its pacing and retries are the blocking hook's, run in a worker thread: one
        code path for both, with the same auth, limits and errors.
        """
        hook = self._hook(context)
        with contextlib.suppress(Exception):  # a missing connection is reported by the update itself
            await hook.aload_settings()  # in the loop: see SodaCloudHook.aload_settings
        await asyncio.to_thread(self._notify, context, hook)

    def _hook(self, context: Context) -> SodaCloudHook:
        from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook  # not at DAG-parse time

        budget = notifier_budget(dag_level=_is_dag_level(context)).updated(self.hook_params)
        return SodaCloudHook(soda_cloud_conn_id=self.soda_cloud_conn_id, retry_limits=budget)

    def notify(self, context: Context) -> None:
        self._notify(context, self._hook(context))

    def _update_for(self, context: Context, *, failed: bool) -> dict[str, Any]:
        """Return the fields to send: the given ones, and the status, description and notes of the outcome.

        An explicit ``status`` always wins; without one, a failure (or a retry) means
        ``investigating`` and a success ``resolved``, with notes naming the run.
        """
        fields = {name: getattr(self, name) for name in UPDATE_FIELDS}
        fields["status"] = self.status or ("investigating" if failed else "resolved")
        if failed and fields["description"] is None and self.describe_failure:
            fields["description"] = _failure_text(context, include_error=self.include_error)
        if not failed and fields["resolution_notes"] is None and fields["status"] == "resolved":
            fields["resolution_notes"] = _success_text(context)
        return fields

    def _notify(self, context: Context, hook: SodaCloudHook) -> None:
        failed = _is_failure(context)
        fields = self._update_for(context, failed=failed)
        budget = hook.retry_limits
        try:
            hook.update_incident(self.incident_id, **fields)
        except SodaCloudError as err:
            from airflow_provider_soda import metrics

            metrics.incr("notifier.given_up")
            where = "DAG-level " if _is_dag_level(context) else ""
            hint = ""
            if isinstance(err, SodaCloudQueueTimeoutError):
                hint = (
                    f" The update was NOT delivered: {err.position} requests were queued ahead and the "
                    f"slot was about {err.retry_after:.0f} s away, beyond this callback's budget of "
                    f"{budget.max_queue_wait:.0f} s ([soda_cloud] notifier_timeout for task-level "
                    "callbacks). Use UpdateIncidentOperator(deferrable=True) for such volumes."
                )
            self.log.error(
                "Could not update Soda Cloud incident %r from the %s%s callback (the task's own outcome "
                "is unchanged): %s%s",
                self.incident_id,
                where,
                "failure" if failed else "success",
                err,
                hint,
            )
        finally:
            hook.close()


send_soda_cloud_incident_notification = SodaCloudIncidentNotifier


def notifier_budget(*, dag_level: bool) -> RetryLimits:
    """How long a notifier may wait for Soda Cloud, by where it runs (see the module docstring)."""
    from airflow.providers.common.compat.sdk import conf

    if dag_level:
        processor_timeout = conf.getfloat("dag_processor", "dag_file_processor_timeout", fallback=50.0)
        seconds = max(1.0, processor_timeout * _DAG_LEVEL_SHARE)
        # One transient retry with short backoff: a request timeout must not outlast the child.
        return RetryLimits(max_queue_wait=seconds, max_wait=seconds, max_transient_retries=1, backoff_cap=1.0)
    seconds = conf.getfloat("soda_cloud", "notifier_timeout", fallback=DEFAULT_NOTIFIER_TIMEOUT)
    return RetryLimits(max_queue_wait=seconds, max_wait=seconds)


def _lacks_run_context(context: Any) -> bool:
    """Tell whether a DAG-level callback got no run (Airflow 3.0 passes only dag, run_id, reason)."""
    return context.get("reason") is not None and context.get("dag_run") is None and "params" not in context


def _is_dag_level(context: Any) -> bool:
    """DAG-level callbacks carry a ``reason`` and no task instance (deadline alerts run in the triggerer)."""
    if context.get("deadline") is not None:
        return False
    return context.get("ti") is None or context.get("reason") is not None


def _is_failure(context: Any) -> bool:
    """Whether the callback reports a failure: an exception, a failure reason, or a failed state."""
    if context.get("exception") is not None or context.get("deadline") is not None:
        return True  # a missed deadline is a failure to react to
    reason = context.get("reason")  # DAG-level callbacks
    if reason:
        return str(reason) != "success"
    for key in ("ti", "dag_run"):
        state = getattr(context.get(key), "state", None)
        if state is not None:
            return str(getattr(state, "value", state)) in _FAILED_STATES
    return False


def _field(obj: Any, name: str) -> Any:
    """Return an attribute, or a key of the plain dicts a deadline alert's context holds."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _where(context: Any) -> str:
    dag_run = context.get("dag_run")
    dag_id = _field(context.get("dag"), "dag_id") or _field(dag_run, "dag_id") or "?"
    run_id = context.get("run_id") or _field(dag_run, "run_id") or _field(dag_run, "dag_run_id") or "?"
    return f"DAG {dag_id}, run {run_id}"


def _failure_text(context: Any, *, include_error: bool) -> str:
    ti = context.get("ti")
    error = context.get("exception")
    deadline = context.get("deadline")
    if deadline is not None:
        text = f"Airflow: {_where(context)} missed its deadline ({_field(deadline, 'deadline_time')})"
    elif ti is not None and context.get("reason") is None:
        text = f"Airflow: task {ti.task_id} failed in {_where(context)}, try {ti.try_number}"
        state = str(getattr(ti.state, "value", ti.state))
        if state == "up_for_retry":
            text += " (it will be retried)"
    else:
        text = f"Airflow: {_where(context)} failed ({context.get('reason') or 'failed'})"
    if error is not None and include_error:
        text += f": {_short_error(error)}"
    return text + "."


def _success_text(context: Any) -> str:
    ti = context.get("ti")
    if ti is not None and context.get("reason") is None:
        return f"Airflow: task {ti.task_id} succeeded in {_where(context)}, try {ti.try_number}."
    return f"Airflow: {_where(context)} succeeded."


def _short_error(error: Any) -> str:
    """First line of the exception, shortened and passed through Airflow's secrets masker."""
    if isinstance(error, BaseException):
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    else:
        text = str(error).strip().splitlines()[0] if str(error).strip() else "unknown error"
    if len(text) > _MAX_ERROR_TEXT:
        text = text[: _MAX_ERROR_TEXT - 3] + "..."
    from airflow.providers.common.compat.sdk import redact

    return str(redact(text))
