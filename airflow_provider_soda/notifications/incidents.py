"""Notifier that moves a Soda Cloud incident when a task or DAG run fails or succeeds.

The shortest way to tie a pipeline to an incident::

    on_failure_callback=SodaCloudIncidentNotifier(incident_id="{{ params.incident_id }}")
    on_success_callback=SodaCloudIncidentNotifier(incident_id="{{ params.incident_id }}")

Without an explicit ``status`` it moves the incident to ``investigating`` on a failure (or a
retry) and to ``resolved`` on a success, with a description or resolution notes that name the
DAG, run, task and try. A notifier never raises a Soda Cloud error: the callback runs after the
task's own outcome is decided, and an outage at Soda must not hide (or replace) the task's
failure in the logs. The error is logged at ERROR level with the fix instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from airflow_provider_soda.exceptions import SodaCloudError
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
from airflow_provider_soda.models import UPDATE_FIELDS
from airflow_provider_soda.operators.incidents import UpdateIncidentOperator

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import DAG, Context

_FAILED_STATES = {"failed", "up_for_retry", "upstream_failed"}
_MAX_ERROR_TEXT = 300


class SodaCloudIncidentNotifier(BaseNotifier):
    """Update a Soda Cloud incident from ``on_failure_callback``, ``on_success_callback`` or
    ``on_retry_callback``, at task or DAG level.

    All arguments are templated; every field left as ``None`` gets a default from the callback's
    context (see the module docstring). Arguments are those of
    :class:`~airflow_provider_soda.operators.incidents.UpdateIncidentOperator`.
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
        soda_cloud_conn_id: str = SodaCloudHook.default_conn_name,
    ) -> None:
        super().__init__()
        self.incident_id = incident_id
        self.status = status
        self.severity = severity
        self.title = title
        self.description = description
        self.resolution_notes = resolution_notes
        self.soda_cloud_conn_id = soda_cloud_conn_id

    def get_template_env(self, dag: DAG | None = None) -> jinja2.Environment:
        # Under dag.test() DAG-level callbacks receive the scheduler's SerializedDAG, which has no
        # get_template_env(); render with a plain sandboxed environment rather than fail.
        if dag is not None and not hasattr(dag, "get_template_env"):
            dag = None
        return super().get_template_env(dag=dag)

    def notify(self, context: Context) -> None:
        failed = _is_failure(context)
        fields = {name: getattr(self, name) for name in UPDATE_FIELDS}
        fields["status"] = self.status or ("investigating" if failed else "resolved")
        if failed and fields["description"] is None:
            fields["description"] = _failure_text(context)
        if not failed and fields["resolution_notes"] is None and fields["status"] == "resolved":
            fields["resolution_notes"] = _success_text(context)
        hook = SodaCloudHook(soda_cloud_conn_id=self.soda_cloud_conn_id)
        try:
            hook.update_incident(self.incident_id, **fields)
        except SodaCloudError as err:
            self.log.error(
                "Could not update Soda Cloud incident %r from the %s callback (the task's own outcome "
                "is unchanged): %s",
                self.incident_id,
                "failure" if failed else "success",
                err,
            )
        finally:
            hook.close()


send_soda_cloud_incident_notification = SodaCloudIncidentNotifier


def _is_failure(context: Any) -> bool:
    """Whether the callback reports a failure: an exception, a failure reason, or a failed state."""
    if context.get("exception") is not None:
        return True
    reason = context.get("reason")  # DAG-level callbacks
    if reason:
        return str(reason) != "success"
    for key in ("ti", "dag_run"):
        state = getattr(context.get(key), "state", None)
        if state is not None:
            return str(getattr(state, "value", state)) in _FAILED_STATES
    return False


def _where(context: Any) -> str:
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or getattr(context.get("dag_run"), "dag_id", "?")
    run_id = context.get("run_id") or getattr(context.get("dag_run"), "run_id", "?")
    return f"DAG {dag_id}, run {run_id}"


def _failure_text(context: Any) -> str:
    ti = context.get("ti")
    error = context.get("exception")
    if ti is not None and context.get("reason") is None:
        text = f"Airflow: task {ti.task_id} failed in {_where(context)}, try {ti.try_number}"
        state = str(getattr(ti.state, "value", ti.state))
        if state == "up_for_retry":
            text += " (it will be retried)"
    else:
        text = f"Airflow: {_where(context)} failed ({context.get('reason') or 'failed'})"
    if error is not None:
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
    try:
        from airflow.sdk.log import redact  # type: ignore[attr-defined]

        return str(redact(text))
    except ImportError:  # pragma: no cover - older task SDKs
        return text
