"""Triggers that watch Soda Cloud incidents from the triggerer, sharing one poll per connection.

- :class:`SodaCloudIncidentTrigger` ends a deferred
  :class:`~airflow_provider_soda.sensors.incidents.SodaCloudIncidentSensor` when its incidents
  reach a target status.
- :class:`SodaCloudIncidentEventTrigger` drives event-driven scheduling (Airflow 3
  ``AssetWatcher``): it fires once for each incident of a selection that appears or changes status.

Both subscribe to the event loop's :class:`~airflow_provider_soda.triggers.poller.IncidentPoller` of
their connection, so many waiting triggers cost one request per poll interval, and none blocks
the event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_soda.exceptions import SodaCloudError, SodaCloudValidationError
from airflow_provider_soda.models import Incident
from airflow_provider_soda.watching import IncidentWatch, Snapshot, compact

try:  # Airflow 3: triggers that may schedule DAGs through an AssetWatcher
    from airflow.triggers.base import BaseEventTrigger
except ImportError:  # Airflow 2: no event-driven scheduling
    BaseEventTrigger = BaseTrigger  # type: ignore[assignment,misc]

DEFAULT_POLL_INTERVAL = 60.0


class SodaCloudIncidentTrigger(BaseTrigger):
    """Fire once the watched incidents reach a target status (or the wait cannot succeed).

    The event is ``{"status": "success", "incidents": [...], "matched": n}`` (at most
    :data:`~airflow_provider_soda.watching.MAX_RETURNED_INCIDENTS` incidents in compact form, of
    ``matched``) or ``{"status": "error", "message": ...}`` (an incident that does not exist, a
    401...). Errors that may pass (rate limits, outages) are logged and the next poll tries again.

    The trigger also keeps the sensor's deadline (``{"status": "timeout"}`` after ``deadline``):
    the triggerer's own deferral timeout does the same, but ``dag.test()`` does not enforce it.

    :param watch: what to watch, as :meth:`IncidentWatch.to_json` returns it.
    :param soda_cloud_conn_id: the connection whose poller to share.
    :param poll_interval: seconds between polls.
    :param deadline: when to give up (timezone-aware), or None.
    """

    def __init__(
        self,
        *,
        watch: dict[str, Any],
        soda_cloud_conn_id: str,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        deadline: datetime | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.watch = watch
        self.soda_cloud_conn_id = soda_cloud_conn_id
        self.poll_interval = float(poll_interval)  # 60 and 60.0 must serialise alike
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "watch": self.watch,
            "soda_cloud_conn_id": self.soda_cloud_conn_id,
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_soda.triggers.poller import IncidentPoller

        watch = IncidentWatch.from_json(self.watch)
        poller = IncidentPoller.for_connection(self.soda_cloud_conn_id)
        async with poller.subscribe(watch, self.poll_interval) as answers:
            while True:
                try:
                    answer = await asyncio.wait_for(answers.get(), timeout=self._seconds_left())
                except TimeoutError:
                    message = f"Gave up at the sensor's timeout, waiting until {watch.describe()}."
                    yield TriggerEvent({"status": "timeout", "message": message})  # type: ignore[no-untyped-call]
                    return
                error = answer if isinstance(answer, SodaCloudError) else answer.error_for(watch)
                if error is not None:
                    if error.retryable:
                        self.log.warning("Soda Cloud poll failed, trying again next interval: %s", error)
                        continue
                    yield TriggerEvent({"status": "error", "message": str(error)})  # type: ignore[no-untyped-call]
                    return
                assert isinstance(answer, Snapshot)
                verdict = watch.check(answer)
                if verdict.missing:
                    message = _missing_message(verdict.missing, self.soda_cloud_conn_id)
                    yield TriggerEvent({"status": "error", "message": message})  # type: ignore[no-untyped-call]
                    return
                if verdict.done:
                    incidents, matched = compact(verdict.incidents)
                    event = {"status": "success", "incidents": incidents, "matched": matched}
                    yield TriggerEvent(event)  # type: ignore[no-untyped-call]
                    return
                self.log.info("Waiting until %s: %d not yet.", watch.describe(), len(verdict.pending))

    def _seconds_left(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, (self.deadline - datetime.now(UTC)).total_seconds())


class SodaCloudIncidentEventTrigger(BaseEventTrigger):
    """Fire once per incident of ``selection`` that appears, or whose status changes.

    Made for ``Asset(..., watchers=[AssetWatcher(name=..., trigger=SodaCloudIncidentEventTrigger(...))])``:
    each event becomes an asset event (its ``extra`` is the event payload below) and schedules the
    DAGs that consume the asset.

    The first poll is the baseline: incidents that already exist then do not fire. After that,
    an incident the selection did not list before fires ``"change": "appeared"``, and a listed
    incident whose status differs from the last poll fires ``"change": "status_changed"``, with
    ``previous_status``. Each change fires once while the trigger runs. When the triggerer
    restarts (or the trigger moves to another triggerer), the new instance takes a new baseline:
    nothing fires twice, and a change made while no triggerer watched does not fire (the
    docs' triggers page says how to cover that window).

    Payload: ``change``, ``previous_status`` and the incident's ``id``, ``number``, ``name``,
    ``status``, ``severity`` and ``cloud_url``.

    :param selection: the filters (:class:`~airflow_provider_soda.selection.IncidentSelection`); a
        selection on ``status`` hides status changes that leave it (a resolved incident drops
        out of ``status="open"``): to see resolutions, select on dataset or severity instead.
    :param soda_cloud_conn_id: the connection to poll with.
    :param poll_interval: seconds between polls (the list endpoint allows 60 requests per minute
        per connection, shared with every other use).
    """

    def __init__(
        self,
        *,
        selection: dict[str, Any] | str,
        soda_cloud_conn_id: str = "soda_cloud_default",
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.problem: str | None = None
        try:
            # Validated now, so that a typo fails when the DAG file is parsed.
            self.watch = IncidentWatch.build(selection=_selection_from(selection), target_status="resolved")
        except (SodaCloudValidationError, ValueError) as err:
            if not isinstance(selection, str):
                raise
            # Rebuilt from stored kwargs in the triggerer, where an exception here would take the
            # whole trigger runner down: run() reports it instead.
            self.watch, self.problem = IncidentWatch(), f"{type(err).__name__}: {err}"
        self.selection = self.watch.selection.to_json() if self.watch.selection else {}
        if self.problem is not None and isinstance(selection, str):
            self.selection = {"unreadable": selection}
        self.soda_cloud_conn_id = soda_cloud_conn_id
        self.poll_interval = float(poll_interval)  # 60 and 60.0 must give the same trigger hash

    def serialize(self) -> tuple[str, dict[str, Any]]:
        # The selection travels as JSON text: Airflow 3.2 hands an asset watcher's dict kwargs back
        # to the triggerer still in its serialisation envelope ({"__type": ..., "__var": ...}).
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "selection": json.dumps(self.selection, sort_keys=True),
            "soda_cloud_conn_id": self.soda_cloud_conn_id,
            "poll_interval": self.poll_interval,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_soda.triggers.poller import IncidentPoller

        if self.problem is not None:
            # Ending without an event would make the triggerer start it again, and log this again,
            # forever: say it once and stay idle until the DAG's watcher is changed.
            self.log.error(
                "This watcher's stored selection is not valid, so it watches nothing until the DAG's "
                "AssetWatcher is fixed: %s",
                self.problem,
            )
            await asyncio.Event().wait()
        poller = IncidentPoller.for_connection(self.soda_cloud_conn_id)
        seen: dict[str, str | None] | None = None
        async with poller.subscribe(self.watch, self.poll_interval) as answers:
            while True:
                answer = await answers.get()
                error = answer if isinstance(answer, SodaCloudError) else answer.error_for(self.watch)
                if error is not None:
                    # An event trigger has no task to fail: it keeps watching and says why it could not.
                    self.log.error("Soda Cloud poll failed, trying again next interval: %s", error)
                    continue
                assert isinstance(answer, Snapshot)
                incidents = self.watch.check(answer).incidents
                if seen is not None:
                    for payload in changes(seen, incidents):
                        self.log.info("Incident %s %s: firing.", payload["id"], payload["change"])
                        yield TriggerEvent(payload)  # type: ignore[no-untyped-call]
                seen = {str(i.id): i.status_value for i in incidents}


def _selection_from(selection: dict[str, Any] | str) -> dict[str, Any]:
    """Return the selection a DAG gave (a dict) or that :meth:`~SodaCloudIncidentEventTrigger.serialize` stored."""
    value = json.loads(selection) if isinstance(selection, str) else selection
    if isinstance(value, dict) and set(value) == {"__type", "__var"}:  # a serialisation envelope
        value = value["__var"]
    return value  # type: ignore[no-any-return]


def changes(seen: dict[str, str | None], incidents: list[Incident]) -> list[dict[str, Any]]:
    """Return an event payload per incident that is new or whose status differs from ``seen``."""
    payloads = []
    for incident in incidents:
        previous = seen.get(str(incident.id), _UNSEEN)
        if previous == incident.status_value:
            continue
        payload: dict[str, Any] = compact([incident])[0][0]
        payload["change"] = "appeared" if previous is _UNSEEN else "status_changed"
        payload["previous_status"] = None if previous is _UNSEEN else previous
        payloads.append(payload)
    return payloads


_UNSEEN = "\0unseen"


def _missing_message(missing: list[str], conn_id: str) -> str:
    shown = ", ".join(repr(i) for i in missing[:10])
    return (
        f"Soda Cloud has no incident {shown} (connection {conn_id!r}). Check the incident id, the "
        "connection's region, and that the API key's user may view the incident's dataset."
    )
