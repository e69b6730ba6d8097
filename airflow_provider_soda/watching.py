"""Waiting on incidents: what a wait watches and when it is over.

:class:`IncidentWatch` is the condition both the sensor (poke mode) and the triggers evaluate, so
the two cannot drift; :func:`read_snapshot` reads what several watches need in as few requests as
the API allows (the triggers' shared poll, :mod:`airflow_provider_soda.triggers.poller`, uses it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_soda.exceptions import SodaCloudError, SodaCloudPollError, SodaCloudValidationError
from airflow_provider_soda.models import Incident, IncidentStatus, normalise_incident_id
from airflow_provider_soda.selection import IncidentSelection

if TYPE_CHECKING:
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook


#: The part of a snapshot that holds the incidents read by id (selections are keyed by their own key).
IDS_PART = "incident_ids"
#: The most incidents a sensor returns (XCom) or a trigger event carries, in compact form: a
#: selection may match thousands, and an event is stored in Airflow's database.
MAX_RETURNED_INCIDENTS = 100
#: What a returned incident keeps: enough to name it and link to it, without its long texts.
COMPACT_FIELDS = ("id", "number", "name", "status", "severity", "cloud_url")


@dataclass(frozen=True)
class Snapshot:
    """One poll's answer: incidents by id, and each selection's incidents by selection key.

    ``errors`` holds the error of each part that could not be read, so that one selection's 403
    fails only the waits on that selection.
    """

    by_id: dict[str, Incident] = field(default_factory=dict)
    by_selection: dict[str, list[Incident]] = field(default_factory=dict)
    errors: dict[str, SodaCloudError] = field(default_factory=dict)

    def error_for(self, watch: IncidentWatch) -> SodaCloudError | None:
        """Return the error that kept this poll from reading what ``watch`` needs, or None."""
        return self.errors.get(watch.part)


@dataclass(frozen=True)
class Verdict:
    """Whether a wait is over; ``pending`` are the incidents not yet in a target status."""

    done: bool
    incidents: list[Incident]
    pending: list[Incident]
    missing: list[str]


@dataclass(frozen=True)
class IncidentWatch:
    """Incidents to watch (by id, or by selection) and the statuses that end the wait."""

    incident_ids: tuple[str, ...] = ()
    selection: IncidentSelection | None = None
    target_statuses: tuple[IncidentStatus, ...] = (IncidentStatus.RESOLVED,)

    @classmethod
    def build(
        cls,
        *,
        incident_ids: Sequence[str] = (),
        selection: IncidentSelection | dict[str, Any] | None = None,
        target_status: str | Iterable[str] | None = IncidentStatus.RESOLVED.value,
        allow_unfiltered_selection: bool = False,
    ) -> IncidentWatch:
        """Validate a watch; :class:`SodaCloudValidationError` names what is wrong."""
        if bool(incident_ids) == (selection is not None):
            raise SodaCloudValidationError("Watch either incident ids or a selection (exactly one of them).")
        if isinstance(selection, dict):
            selection = IncidentSelection.build(**selection)
        if selection is not None and selection.is_unfiltered() and not allow_unfiltered_selection:
            raise SodaCloudValidationError(
                "The selection has no filter: it would watch every incident of the organisation. Add a "
                "filter, or pass allow_unfiltered_selection=True if that is really meant."
            )
        targets = IncidentSelection.build(status=target_status).status if target_status else ()
        if not targets:
            raise SodaCloudValidationError("target_status is empty: name the status(es) that end the wait.")
        ids = tuple(dict.fromkeys(normalise_incident_id(i) for i in incident_ids))
        return cls(incident_ids=ids, selection=selection, target_statuses=targets)

    @property
    def part(self) -> str:
        """Which part of a :class:`Snapshot` this watch reads: the ids, or its selection."""
        return self.selection_key or IDS_PART

    @property
    def selection_key(self) -> str | None:
        """The selection as a canonical string: equal selections share one listing per poll."""
        return None if self.selection is None else json.dumps(self.selection.to_json(), sort_keys=True)

    def to_json(self) -> dict[str, Any]:
        """Return the watch as JSON-serialisable data (a trigger's kwargs)."""
        return {
            "incident_ids": list(self.incident_ids),
            "selection": None if self.selection is None else self.selection.to_json(),
            "target_status": [s.value for s in self.target_statuses],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IncidentWatch:
        return cls.build(
            incident_ids=data.get("incident_ids") or (),
            selection=data.get("selection"),
            target_status=data.get("target_status"),
            allow_unfiltered_selection=True,  # validated when the task deferred
        )

    def describe(self) -> str:
        targets = " or ".join(s.value for s in self.target_statuses)
        if self.selection is not None:
            return f"every incident matching ({self.selection.describe()}) is {targets}"
        shown = ", ".join(repr(i) for i in self.incident_ids[:5]) + (
            " ..." if len(self.incident_ids) > 5 else ""
        )
        return f"incident {shown} is {targets}"

    def check(self, snapshot: Snapshot) -> Verdict:
        """Tell whether the wait is over, from one poll's ``snapshot``."""
        if self.selection is not None:
            incidents = snapshot.by_selection.get(self.selection_key or "", [])
            missing: list[str] = []
        else:
            incidents = [snapshot.by_id[i] for i in self.incident_ids if i in snapshot.by_id]
            missing = [i for i in self.incident_ids if i not in snapshot.by_id]
        pending = [i for i in incidents if i.status not in self.target_statuses]
        return Verdict(
            done=not pending and not missing, incidents=incidents, pending=pending, missing=missing
        )


def read_snapshot(hook: SodaCloudHook, watches: Iterable[IncidentWatch]) -> Snapshot:
    """Read what ``watches`` need in as few requests as the API allows (blocking: call it in a thread).

    Each part (the ids, each distinct selection) is read on its own: a part that fails records
    its error in :attr:`Snapshot.errors` and the other parts are still read.
    """
    watches = list(watches)
    ids = list(dict.fromkeys(i for w in watches for i in w.incident_ids))
    selections = {w.part: w.selection for w in watches if w.selection is not None}
    by_id: dict[str, Incident] = {}
    by_selection: dict[str, list[Incident]] = {}
    errors: dict[str, SodaCloudError] = {}
    if ids:
        try:
            by_id = hook.get_incidents(ids)
        except Exception as err:
            errors[IDS_PART] = poll_error(err)
    for key, selection in selections.items():
        try:
            by_selection[key] = list(hook.select_incidents(selection))
        except Exception as err:
            errors[key] = poll_error(err)
    return Snapshot(by_id=by_id, by_selection=by_selection, errors=errors)


def poll_error(err: BaseException) -> SodaCloudError:
    """``err`` as this provider's error: an unforeseen one is retryable (the next poll tries again)."""
    if isinstance(err, SodaCloudError):
        return err
    error = SodaCloudPollError(f"Could not poll Soda Cloud: {type(err).__name__}: {err}")
    error.__cause__ = err
    return error


def compact(incidents: Iterable[Incident | dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Return at most :data:`MAX_RETURNED_INCIDENTS` incidents in compact form, and how many there were."""
    incidents = list(incidents)
    shown = [
        {k: v for k, v in (i if isinstance(i, dict) else i.to_xcom()).items() if k in COMPACT_FIELDS}
        for i in incidents[:MAX_RETURNED_INCIDENTS]
    ]
    return shown, len(incidents)
