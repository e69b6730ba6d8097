"""From a Soda webhook delivery to the asset events it makes: pure, so that it is tested alone.

What each event becomes (docs: webhooks):

- ``incidentCreated`` / ``incidentUpdated``: one event on ``soda-cloud://incidents/<dataset id>``
  for each dataset of the incident's check results, and one on ``.../<severity>`` when Soda's
  severity maps to minor, major or critical. The payload has the polling watcher's shape
  (``id``, ``number``, ``name``, ``status``, ``severity``, ``cloud_url``, ``change``), so one
  DAG can be fed by either.
- ``checkEvaluation``: one event on ``soda-cloud://checks/<dataset id>`` per dataset, with that
  dataset's check results.
- ``contractPublished``: one event on ``soda-cloud://contracts/<dataset qualified name>``, so that
  a DAG can verify a contract as soon as it is published.
- Anything else: nothing (answered 2xx, so that Soda does not send it again).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_soda.assets import checks_uri, contracts_uri, incidents_uri
from airflow_provider_soda.models.webhooks import (
    CHECK_EVALUATION,
    CONTRACT_PUBLISHED,
    EVENTS,
    INCIDENT_CREATED,
    INCIDENT_UPDATED,
    WebhookCheckResult,
    WebhookDelivery,
    WebhookIncident,
)

#: Soda's webhook severities (and the REST API's) -> the REST API's: the webhook documentation
#: uses four levels, the API three; the top two both read as critical, so a DAG watching critical
#: incidents misses none. Anything else emits no severity event (the raw value is in the payload).
SEVERITY = {
    "minor": "minor",
    "low": "minor",
    "major": "major",
    "medium": "major",
    "high": "critical",
    "critical": "critical",
}
#: Soda's webhook statuses -> the REST API's; the raw value is kept in ``soda_status``.
STATUS = {
    "reported": "reported",
    "open": "reported",
    "investigating": "investigating",
    "in_progress": "investigating",
    "fixing": "fixing",
    "resolved": "resolved",
    "closed": "resolved",
}
#: The most check results one asset event carries (non-passing first), plus counts of all.
MAX_EVENT_CHECKS = 100
#: The most datasets one delivery emits for: a payload naming thousands is not a real incident.
MAX_DATASETS = 50
#: A dataset id that can stand in an asset URI as one path segment.
_DATASET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~:-]{0,199}")


@dataclass(frozen=True)
class Emission:
    """One asset event to create: on ``uri``, with ``payload`` (the event's ``extra["payload"]``)."""

    uri: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """What a delivery asks for: emissions, or why there are none; and a link-back URL if offered."""

    event: str | None
    emissions: list[Emission] = field(default_factory=list)
    ignored: str | None = None
    link_callback_url: str | None = None


def fingerprint(receiver: str, body: dict[str, Any]) -> str:
    """Identify a delivery: the same receiver (connection) and the same JSON (key order and spacing ignored).

    Soda sends no delivery id, and retries send the same body, so two deliveries with equal
    bodies are one delivery (within the receiver's duplicate window, docs: webhooks).
    """
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{receiver}\n{canonical}".encode()).hexdigest()[:32]


def plan(delivery: WebhookDelivery) -> Plan:
    """Map a parsed delivery to the asset events it makes."""
    event = delivery.event
    if event in (INCIDENT_CREATED, INCIDENT_UPDATED):
        if delivery.incident is None:
            return Plan(event, ignored=f"{event} without an incident object")
        return _incident(event, delivery.incident)
    if event == CHECK_EVALUATION:
        return _check_evaluation(delivery.check_results)
    if event == CONTRACT_PUBLISHED:
        return _contract(delivery)
    known = ", ".join(EVENTS)
    return Plan(event, ignored=f"event {event!r} is not one this receiver emits for ({known})")


def dataset_ids(results: Iterable[WebhookCheckResult]) -> list[str]:
    """Return the distinct usable dataset ids of ``results``, in order (ids unfit for a URI are dropped)."""
    ids = [d.id for r in results for d in r.datasets if d.id and _DATASET_ID.fullmatch(d.id)]
    return list(dict.fromkeys(ids))[:MAX_DATASETS]


def _incident(event: str, incident: WebhookIncident) -> Plan:
    datasets = dataset_ids(incident.check_results)
    if not datasets:
        return Plan(event, ignored=f"{event} names no dataset in its check results")
    raw_status = incident.status.lower() if incident.status else None
    raw_severity = incident.severity.lower() if incident.severity else None
    severity = SEVERITY.get(raw_severity or "")
    payload = {
        "id": incident.id,
        "number": incident.number,
        "name": incident.title,
        "status": STATUS.get(raw_status or ""),
        "severity": severity,
        "cloud_url": incident.cloud_url,
        "change": "appeared" if event == INCIDENT_CREATED else "updated",
        # Soda's deliveries do not say what the status was; kept for the watcher's shape.
        "previous_status": None,
        "event": event,
        "soda_status": incident.status,
        "soda_severity": incident.severity,
        "dataset_ids": datasets,
    }
    emissions = []
    for dataset_id in datasets:
        emissions.append(Emission(incidents_uri(dataset_id), payload))
        if severity:
            emissions.append(Emission(incidents_uri(dataset_id, severity), payload))
    return Plan(event, emissions, link_callback_url=incident.link_callback_url)


def _check_summary(result: WebhookCheckResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "name": result.name,
        "outcome": result.result,
        "column": result.column,
        "cloud_url": result.cloud_url,
    }


def _check_evaluation(results: list[WebhookCheckResult]) -> Plan:
    emissions = []
    by_dataset: dict[str, list[WebhookCheckResult]] = {}
    for result in results:  # one pass: a big delivery costs its size, not datasets x results
        for dataset_id in dict.fromkeys(d.id for d in result.datasets if d.id):
            by_dataset.setdefault(dataset_id, []).append(result)
    for dataset_id in dataset_ids(results):
        mine = by_dataset.get(dataset_id, [])
        # Non-passing first: when a dataset has more results than an event carries, the ones a
        # DAG acts on are kept.
        ordered = sorted(mine, key=lambda r: r.result == "pass")
        outcomes: dict[str, int] = {}
        for result in mine:
            outcomes[result.result or "unknown"] = outcomes.get(result.result or "unknown", 0) + 1
        payload = {
            "event": CHECK_EVALUATION,
            "dataset_id": dataset_id,
            "checks": [_check_summary(r) for r in ordered[:MAX_EVENT_CHECKS]],
            "checks_total": len(mine),
            "outcomes": outcomes,
        }
        emissions.append(Emission(checks_uri(dataset_id), payload))
    if not emissions:
        return Plan(CHECK_EVALUATION, ignored="checkEvaluation names no dataset in its check results")
    return Plan(CHECK_EVALUATION, emissions)


def _usable_name(name: str | None) -> bool:
    return (
        bool(name)
        and not any(unicodedata.category(c) == "Cc" for c in name or "")
        and bool([p for p in (name or "").split("/") if p.strip(". ")])
    )


def _contract(delivery: WebhookDelivery) -> Plan:
    contract = delivery.contract
    if contract is None or not _usable_name(contract.dataset):
        return Plan(CONTRACT_PUBLISHED, ignored="contractPublished without a dataset qualified name")
    dataset = contract.dataset or ""
    payload = {
        "event": CONTRACT_PUBLISHED,
        "dataset": dataset,
        "datasource": contract.datasource,
        "author": contract.author,
    }
    return Plan(CONTRACT_PUBLISHED, [Emission(contracts_uri(dataset), payload)])
