"""Failure storms on demand: many OS processes updating incidents at the same moment.

Used by the test suite (pytest puts bench/ on sys.path) and ``make bench`` to check that the
pacing store really is shared, and so not part of the package: the processes are forked from a
server that has already imported the provider (as LocalExecutor and Celery's prefork pool do),
wait on one event, and are released together.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_PRELOAD = [
    "airflow_provider_soda.hooks.soda_cloud",
    "airflow_provider_soda.operators.incidents",
    "airflow_provider_soda.pacing",
    "airflow_provider_soda.pacing.redis_store",
    "requests",
    "tenacity",
    "redis",  # a Celery worker with a Redis broker has it imported already; skipped if not installed
]


@dataclass
class StormResult:
    """What a storm did: per-incident outcomes and when each ended (``time.monotonic``)."""

    released_at: float
    outcomes: dict[str, tuple[bool, str, float]] = field(default_factory=dict)
    #: Seconds each process held a worker slot (deferrable: not while deferred).
    held: dict[str, float] = field(default_factory=dict)

    @property
    def landed(self) -> int:
        return sum(1 for ok, _, _ in self.outcomes.values() if ok)

    @property
    def errors(self) -> list[str]:
        return [error for ok, error, _ in self.outcomes.values() if not ok]

    @property
    def wall(self) -> float:
        ends = [end for _, _, end in self.outcomes.values()]
        return (max(ends) - self.released_at) if ends else 0.0


class _TaskInstance:
    """What the operators touch of a task instance (XCom), for running them outside Airflow."""

    task_id, map_index = "storm", -1

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, *, key: str, default: Any = None, **_: Any) -> Any:
        return self.xcom.get(key, default)


def run_deferrable(operator: Any, *, on_defer: Callable[[Any], None] | None = None) -> tuple[Any, float]:
    """Run a deferrable operator to the end, sleeping out its deferrals as a triggerer would.

    :param on_defer: called with each ``TaskDeferred`` (to inspect the trigger it carries).
    :return: what the operator returned, and the seconds a worker slot was held (time inside
        ``execute`` and the resume method).
    """
    from airflow.providers.common.compat.sdk import TaskDeferred

    context: Any = {"ti": _TaskInstance()}
    call, held = operator.execute, 0.0
    kwargs: dict[str, Any] = {}
    while True:
        entered = time.monotonic()
        try:
            result = call(context, **kwargs)
            return result, held + time.monotonic() - entered
        except TaskDeferred as deferred:
            held += time.monotonic() - entered
            if on_defer is not None:
                on_defer(deferred)
            trigger = deferred.trigger
            time.sleep(_trigger_wait(trigger))
            call = getattr(operator, deferred.method_name)
            kwargs = {"event": {"progress": trigger.progress}}  # type: ignore[attr-defined]


def _trigger_wait(trigger: Any) -> float:
    """Seconds the rate-limit trigger would wait in a triggerer (a duration; a moment before 0.5.0)."""
    if getattr(trigger, "delay", None) is not None:
        return float(trigger.delay)
    return max(0.0, float((trigger.moment - datetime.now(UTC)).total_seconds()))


def init_metrics() -> None:
    """Start Airflow's Stats from ``[metrics]`` as a task process does (Airflow 3.2+ needs it called).

    The storm's workers stand in for task processes, forked from a server that imported Airflow
    before their ``[metrics]`` settings were set: on Airflow 2.x and 3.0-3.1, whose Stats picks its
    backend when ``airflow.stats`` is imported, the choice is made again here.
    """
    try:
        from airflow import stats as legacy  # Airflow 2.x to 3.1
    except ImportError:
        legacy = None  # type: ignore[assignment]
    meta = getattr(legacy, "_Stats", None)
    if meta is not None:
        if "factory" in meta.__dict__:
            delattr(meta, "factory")
        meta.instance = None
        legacy.Stats.instance = None  # type: ignore[union-attr,attr-defined]
        meta.__init__(legacy.Stats)  # type: ignore[union-attr]
        return
    try:
        from airflow.sdk._shared.observability.metrics import stats
        from airflow.sdk.observability.metrics import stats_utils
    except ImportError:
        return
    from airflow.providers.common.compat.sdk import conf

    initialize = getattr(stats, "initialize", None)
    if initialize is not None:  # Airflow 3.3+, as its task runner does
        initialize(
            factory=stats_utils.get_stats_factory(),
            export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=True),
        )
    else:  # Airflow 3.2, as its task runner does
        stats.Stats.initialize(factory=stats_utils.get_stats_factory(stats.Stats))  # type: ignore[attr-defined,call-arg,unused-ignore]


def _update_one(
    env: Mapping[str, str], incident_id: str, status: str, deferrable: bool, ready: Any, go: Any, results: Any
) -> None:
    os.environ.update(env)
    try:
        init_metrics()
    except Exception as err:  # the harness's metrics must never keep a worker from its update
        results.put(
            (incident_id, False, f"metrics set-up failed: {type(err).__name__}: {err}", time.monotonic(), 0.0)
        )
        return
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
    from airflow_provider_soda.operators.incidents import UpdateIncidentOperator

    hook = SodaCloudHook()
    hook.get_conn()  # read the connection and open the session before the release, as a warm worker has
    operator = UpdateIncidentOperator(
        task_id="storm", incident_id=incident_id, status=status, deferrable=True, retries=0
    )
    ready.release()
    go.wait()
    started = time.monotonic()
    try:
        if deferrable:
            _, held = run_deferrable(operator)
        elif status == START_SCAN:
            hook.trigger_scan(incident_id)
            held = time.monotonic() - started
        else:
            hook.update_incident(incident_id, status=status)
            held = time.monotonic() - started
    except Exception as err:
        results.put((incident_id, False, f"{type(err).__name__}: {err}", time.monotonic(), 0.0))
    else:
        results.put((incident_id, True, "", time.monotonic(), held))


#: ``run_storm(status=START_SCAN)``: each process starts a scan of the definition named by its "id".
START_SCAN = "start-scan"


def context() -> Any:
    """Return a forkserver context that has imported the provider before forking any worker."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def run_storm(
    groups: Sequence[tuple[Mapping[str, str], Sequence[str]]],
    *,
    status: str = "investigating",
    deferrable: bool = False,
    kill: Mapping[str, float] | None = None,
    timeout: float = 300.0,
) -> StormResult:
    """Update every incident of every group, one process each, all released at once.

    :param groups: ``(environment, incident ids)`` pairs; each group's processes run with that
        environment (its connection, its ``[soda_cloud]`` settings), as if on one machine.
    :param status: the status each update sets; :data:`START_SCAN` starts a scan of the
        definition each id names instead (``trigger_scan``, as a scan task's first request).
    :param deferrable: run ``UpdateIncidentOperator(deferrable=True)`` (deferrals slept out in the
        process, as a triggerer would) instead of the hook's blocking ``update_incident``.
    :param kill: incident id -> seconds after the release at which that process gets SIGKILL.
    """
    ctx = context()
    ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    processes: dict[str, Any] = {}
    for env, ids in groups:
        for incident_id in ids:
            process = ctx.Process(
                target=_update_one, args=(dict(env), incident_id, status, deferrable, ready, go, results)
            )
            process.start()
            processes[incident_id] = process
    for _ in processes:
        if not ready.acquire(timeout=120):
            raise RuntimeError("storm workers did not start in time")
    result = StormResult(released_at=time.monotonic())
    go.set()
    for incident_id, delay in sorted((kill or {}).items(), key=lambda item: item[1]):
        time.sleep(max(0.0, result.released_at + delay - time.monotonic()))
        os.kill(processes[incident_id].pid, signal.SIGKILL)
        result.outcomes[incident_id] = (False, "killed", time.monotonic())
    expected = len(processes) - len(kill or {})
    deadline = time.monotonic() + timeout
    while sum(1 for i in result.outcomes if i not in (kill or {})) < expected:
        incident_id, ok, error, ended, held = results.get(timeout=max(0.1, deadline - time.monotonic()))
        result.outcomes[incident_id] = (ok, error, ended)
        result.held[incident_id] = held
    for process in processes.values():
        process.join(timeout=10)
    return result
