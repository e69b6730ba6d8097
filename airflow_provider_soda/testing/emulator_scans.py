"""The emulator's scans and checks: scan definitions that run on a pretend Soda Agent.

A scan goes ``queuing`` -> (``started``) -> ``executing`` -> a final state on the emulator's
clock, as long as its definition says; a definition with a ``time_limit`` goes through
``timeOutRequested`` to ``timedOut``, and a cancel through ``cancelationRequested``. What it
finds is chosen by the test (:meth:`ScanBook.next_outcome`): each check of the definition then
gets a result, and the checks listing returns that result with the incidents linked to the check.

Strict where it matters: fields the contract makes optional and that must never decide an
outcome (the counts, ``agentId``, ``submitted``, ``scanTime``) are left out of some runs' status, chosen by a seeded random
generator (``SODA_EMULATOR_SEED``, reproducible), so that code relying on them fails in tests
and not at Soda. Kept apart from :mod:`.emulator`, which routes requests here.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

RUNNING = ("queuing", "executing", "started", "cancelationRequested", "timeOutRequested")
COMPLETED = ("completed", "completedWithWarnings", "completedWithFailures", "completedWithErrors")
FINAL = ("canceled", "timedOut", "failed", *COMPLETED)
#: The check result each completed state gives every check of the definition, unless told otherwise.
_DEFAULT_RESULT = {
    "completed": "pass",
    "completedWithWarnings": "warn",
    "completedWithFailures": "fail",
    "completedWithErrors": "notEvaluated",
}
#: Seconds a cancellation asked of an executing scan takes to be confirmed by the "agent".
CANCEL_DELAY = 0.3
#: Seconds between the agent's time limit and the scan's ``timedOut`` (it is ``timeOutRequested`` meanwhile).
TIME_OUT_DELAY = 0.3
#: Status fields the contract makes optional, left out of some runs (see the module's docstring).
OPTIONAL_STATUS_FIELDS = ("errors", "failures", "warnings", "agentId", "submitted", "scanTime")
#: The default seed of the generator that chooses which optional fields a run leaves out.
DEFAULT_SEED = 20261206


@dataclass
class ScanDefinition:
    """A scan definition: its checks, how long a run takes and how the next run ends."""

    name: str
    checks: list[str] = field(default_factory=list)
    duration: float = 2.0
    queuing: float = 0.5
    outcome: str = "completed"
    check_results: dict[str, str] = field(default_factory=dict)
    log_lines: int = 5
    on_agent: bool = True
    #: Seconds a run stays ``started`` after it leaves the queue, before ``executing``.
    started: float = 0.0
    #: The agent's time limit: a run still executing then is ``timeOutRequested``, then ``timedOut``.
    time_limit: float | None = None


@dataclass
class EmulatedCheck:
    id: str
    name: str
    dataset_id: str
    dataset_name: str
    evaluation_status: str = "pass"
    incidents: list[str] = field(default_factory=list)
    #: The check's path in its dataset's contract (Soda v4), e.g. ``checks.row_count``.
    path: str | None = None
    #: The column the check is about (None: the whole dataset).
    column: str | None = None
    #: The data source of its dataset: the first part of the dataset's qualified name.
    datasource: str = "warehouse"


@dataclass
class _Run:
    id: str
    definition: ScanDefinition
    outcome: str
    results: dict[str, str]
    started: float
    created: datetime
    data_timestamp: str | None
    cancel_at: float | None = None
    canceled_early: bool = False
    applied: bool = False
    omitted: frozenset[str] = frozenset()
    #: A contract verification's: the contract page's link, and whether a Runner is online to run it.
    contract_url: str | None = None
    runner_online: Callable[[], bool] | None = None
    picked_up: bool = False


def default_checks() -> list[EmulatedCheck]:
    """Return the checks a new emulator starts with, linked to the seeded incidents they opened."""
    from airflow_provider_soda.testing.emulator import DATASETS, DEMO_INCIDENT_ID

    def check(check_id: str, name: str, dataset: str, status: str, *incidents: str) -> EmulatedCheck:
        return EmulatedCheck(check_id, name, DATASETS[dataset], dataset, status, list(incidents))

    return [
        check("chk-orders-row-count", "Row count anomaly on orders", "orders", "fail", DEMO_INCIDENT_ID),
        replace(
            check("chk-orders-duplicates", "No duplicate order ids", "orders", "fail", "inc-orders-dup"),
            column="order_id",
        ),
        check("chk-orders-freshness", "Orders fresher than 1d", "orders", "pass", "inc-orders-late"),
        check(
            "chk-customers-email",
            "No missing customer emails",
            "customers",
            "fail",
            "c0a8e4b1-93f2-4d57-8e6a-5b1d7f2c9e02",
        ),
        check("chk-payments-amount", "No negative amounts", "payments", "pass", "inc-payments-negative"),
        check("chk-inventory-stock", "Stock never below zero", "inventory", "warn", "inc-inventory-stock"),
    ]


def default_definitions() -> list[ScanDefinition]:
    return [
        ScanDefinition(
            "orders_daily", ["chk-orders-row-count", "chk-orders-duplicates", "chk-orders-freshness"]
        ),
        ScanDefinition("customers_daily", ["chk-customers-email"]),
        ScanDefinition("payments_daily", ["chk-payments-amount"]),
        ScanDefinition("inventory_hourly", ["chk-inventory-stock"]),
        ScanDefinition("local_library_scan", ["chk-orders-freshness"], on_agent=False),
    ]


class ScanBook:
    """Scan definitions, their runs and the checks they evaluate, behind one lock."""

    def __init__(self, url: Callable[[], str], incident: Callable[[str], dict[str, Any] | None]) -> None:
        self._url = url
        self._incident = incident
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self.definitions: dict[str, ScanDefinition] = {d.name: d for d in default_definitions()}
        self.checks: dict[str, EmulatedCheck] = {c.id: c for c in default_checks()}
        self.runs: dict[str, _Run] = {}
        #: Seconds ahead that ``X-Soda-Next-Poll-Time`` points on a running scan (None: no header).
        self.next_poll_hint: float | None = 1.0
        #: Leave optional status fields out of some runs (False: always send every field).
        self.strict = True
        self._hidden: set[str] = set()
        self._random = random.Random(int(os.environ.get("SODA_EMULATOR_SEED", DEFAULT_SEED)))

    # -- test hooks -----------------------------------------------------------------------------

    def add_definition(self, definition: ScanDefinition, *, hidden: bool = False) -> None:
        """Add a scan definition; a ``hidden`` one (a contract's verifications) cannot be triggered by name."""
        with self._lock:
            self.definitions[definition.name] = definition
            if hidden:
                self._hidden.add(definition.name)

    def add_check(self, check: EmulatedCheck) -> None:
        with self._lock:
            self.checks[check.id] = check

    def next_outcome(
        self,
        definition: str,
        state: str,
        *,
        check_results: Mapping[str, str] | None = None,
        duration: float | None = None,
    ) -> None:
        """Make the definition's next runs end in ``state`` (a final state), each check with its result."""
        if state not in FINAL:
            raise ValueError(f"state must be a final scan state, one of {', '.join(FINAL)}")
        with self._lock:
            chosen = self.definitions[definition]
            chosen.outcome = state
            chosen.check_results = dict(check_results or {})
            if duration is not None:
                chosen.duration = duration

    def scan(self, scan_id: str) -> dict[str, Any]:
        with self._lock:
            return self._status(self.runs[scan_id])

    # -- endpoints ------------------------------------------------------------------------------

    def trigger(self, form: Mapping[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        name = (form.get("scanDefinition") or [""])[-1]
        stamps = form.get("dataTimestamp")
        stamp = stamps[-1] if stamps else None
        if stamp is not None:
            try:
                moment = datetime.fromisoformat(stamp)
            except ValueError:
                moment = None
            if moment is None or moment.tzinfo is None:
                return (
                    400,
                    {"code": "bad_request", "message": "dataTimestamp must be ISO 8601 with offset"},
                    {},
                )
        with self._lock:
            definition = self.definitions.get(name)
            if definition is None or name in self._hidden:
                return 404, {"code": "not_found", "message": f"Scan definition {name} not found"}, {}
            if not definition.on_agent:
                message = f"Scan definition {name} is not connected to a Soda Agent"
                return 400, {"code": "bad_request", "message": message}, {}
            scan_id = self.start(definition, stamp)
        headers = {"X-Soda-Scan-Id": scan_id, "Location": f"{self._url()}/api/v1/scans/{scan_id}"}
        return 201, None, headers

    def start(
        self,
        definition: ScanDefinition,
        stamp: str | None,
        *,
        check_ids: list[str] | None = None,
        contract_url: str | None = None,
        runner_online: Callable[[], bool] | None = None,
    ) -> str:
        """Start a run of ``definition`` (of some of its checks, or of ``check_ids``); return its id."""
        with self._lock:
            scan_id = f"scan-{next(self._ids):05d}"
            checks = definition.checks if check_ids is None else check_ids
            results = {
                c: definition.check_results.get(c, _DEFAULT_RESULT.get(definition.outcome, ""))
                for c in checks
            }
            omitted = (
                frozenset(f for f in OPTIONAL_STATUS_FIELDS if self._random.random() < 0.5)
                if self.strict
                else frozenset()
            )
            self.runs[scan_id] = _Run(
                scan_id,
                definition,
                definition.outcome,
                results,
                time.monotonic(),
                datetime.now(UTC),
                stamp,
                omitted=omitted,
                contract_url=contract_url,
                runner_online=runner_online,
            )
        return scan_id

    def status(self, scan_id: str) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            run = self.runs.get(scan_id)
            if run is None:
                return 404, {"code": "not_found", "message": f"Scan {scan_id} not found"}, {}
            body = self._status(run)
        headers: dict[str, str] = {}
        if body["state"] in RUNNING and self.next_poll_hint is not None:
            when = datetime.now(UTC) + timedelta(seconds=self.next_poll_hint)
            headers["X-Soda-Next-Poll-Time"] = when.isoformat()
        return 200, body, headers

    def cancel(self, scan_id: str) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            run = self.runs.get(scan_id)
            if run is None:
                return 404, {"code": "not_found", "message": f"Scan {scan_id} not found"}, {}
            state = self._state(run)
            if state == "queuing":
                run.cancel_at, run.canceled_early = time.monotonic(), True
            elif state in ("executing", "started") and run.cancel_at is None:
                run.cancel_at = time.monotonic() + CANCEL_DELAY
            else:
                return (
                    400,
                    {"code": "bad_request", "message": f"Scan {scan_id} is {state}; it cannot be canceled"},
                    {},
                )
        return 200, None, {"Location": f"{self._url()}/api/v1/scans/{scan_id}"}

    def logs(self, scan_id: str, query: Mapping[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        try:
            page, size = _paging(query, smallest=100, default=1000)
        except ValueError as err:
            return 400, {"code": "bad_request", "message": str(err)}, {}
        with self._lock:
            run = self.runs.get(scan_id)
            if run is None:
                return 404, {"code": "not_found", "message": f"Scan {scan_id} not found"}, {}
            lines = self._log_lines(run)
        return 200, _page(lines[page * size : (page + 1) * size], page, size, len(lines)), {}

    def list_checks(self, query: Mapping[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        one = {name: values[-1] for name, values in query.items()}
        if "checkIds" in one:
            if set(one) - {"checkIds"}:
                return (
                    400,
                    {"code": "bad_request", "message": "checkIds cannot be combined with other parameters"},
                    {},
                )
            ids = [i for i in one["checkIds"].split(",") if i]
            if len(ids) > 1000:
                return 400, {"code": "bad_request", "message": "checkIds takes at most 1000 ids"}, {}
            with self._lock:
                self._settle()
                found = [self._check(self.checks[i]) for i in dict.fromkeys(ids) if i in self.checks]
            return 200, _page(found, 0, max(len(found), 1), len(found)), {}
        try:
            page, size = _paging(query, smallest=10, default=10)
        except ValueError as err:
            return 400, {"code": "bad_request", "message": str(err)}, {}
        with self._lock:
            self._settle()
            matching = sorted(
                (c for c in self.checks.values() if one.get("datasetId") in (None, c.dataset_id)),
                key=lambda c: (c.name, c.id),
            )
            chunk = [self._check(c) for c in matching[page * size : (page + 1) * size]]
        return 200, _page(chunk, page, size, len(matching)), {}

    # -- state ----------------------------------------------------------------------------------

    def _state(self, run: _Run) -> str:
        now = time.monotonic()
        if run.cancel_at is not None:
            return "canceled" if now >= run.cancel_at else "cancelationRequested"
        if run.runner_online is not None and not run.picked_up:
            if not run.runner_online():  # no Runner to pick it up: its time in the queue starts again
                run.started = now
                return "queuing"
            if now - run.started >= run.definition.queuing:
                run.picked_up = True
        elapsed = now - run.started
        definition = run.definition
        limit = definition.time_limit
        if limit is not None and limit < definition.duration and elapsed >= limit:
            return "timedOut" if elapsed >= limit + TIME_OUT_DELAY else "timeOutRequested"
        if elapsed < min(definition.queuing, definition.duration):
            return "queuing"
        if elapsed < min(definition.queuing + definition.started, definition.duration):
            return "started"
        if elapsed < definition.duration:
            return "executing"
        return run.outcome

    def _settle(self) -> None:
        """Give checks the results of every run that has completed since the last look."""
        for run in sorted(self.runs.values(), key=lambda r: r.started):
            if not run.applied and self._state(run) in COMPLETED:
                run.applied = True
                for check_id, result in run.results.items():
                    if result and check_id in self.checks:
                        self.checks[check_id].evaluation_status = result

    def _status(self, run: _Run) -> dict[str, Any]:
        self._settle()
        state = self._state(run)
        final = state in FINAL
        evaluated = final and state in COMPLETED
        results = run.results if evaluated else {}
        failures = sum(r == "fail" for r in results.values())
        warnings = sum(r == "warn" for r in results.values())
        errors = sum(r == "notEvaluated" for r in results.values())
        if state == "completedWithErrors":
            errors = max(errors, 1)
        created = run.created.isoformat()
        body: dict[str, Any] = {
            "id": run.id,
            "state": state,
            "cloudUrl": f"{self._url()}/scans/{quote(run.id, safe='')}",
            "created": created,
            "submitted": created,
            "errors": errors,
            "failures": failures,
            "warnings": warnings,
            "checks": [{"id": c, "evaluationStatus": r or "notEvaluated"} for c, r in results.items()],
        }
        if state != "queuing" and not run.canceled_early:
            body["started"] = (run.created + timedelta(seconds=run.definition.queuing)).isoformat()
        if final:
            body["ended"] = (run.created + timedelta(seconds=run.definition.duration)).isoformat()
        if run.contract_url is None:
            body["scanDefinition"] = {"id": f"def-{run.definition.name}", "name": run.definition.name}
            body["agentId"] = "emulated-agent"
        else:  # a Soda v4 contract verification
            body["contractDatasetCloudUrl"] = run.contract_url
            body["runnerId"] = "runner-1"
            if final:
                body["postProcessingStages"] = [{"name": "diagnosticWarehouse", "state": "completed"}]
        if run.data_timestamp:
            body["scanTime"] = run.data_timestamp
        for name in run.omitted:
            body.pop(name, None)
        return body

    def _log_lines(self, run: _Run) -> list[dict[str, Any]]:
        state = self._state(run)
        stamp = run.created.isoformat()
        lines = [("info", f"Scan {run.id} of {run.definition.name} queued")]
        if state != "queuing":
            lines.append(("info", "Soda Agent picked up the scan"))
            lines += [("debug", f"Query {n} executed") for n in range(1, run.definition.log_lines - 1)]
        if state in COMPLETED:
            for check_id, result in run.results.items():
                level = {"pass": "info", "warn": "warning", "fail": "warning"}.get(result, "error")
                lines.append((level, f"Check {check_id}: {result}"))
            lines.append(("info", f"Scan ended: {state}"))
        elif state in FINAL:
            lines.append(("error", f"Scan ended: {state}"))
        return [
            {"index": i, "level": level, "message": message, "timestamp": stamp}
            for i, (level, message) in enumerate(lines)
        ]

    def _check(self, check: EmulatedCheck) -> dict[str, Any]:
        url = self._url()
        incidents = []
        for incident_id in check.incidents:
            incident = self._incident(incident_id)
            if incident is not None:
                incidents.append(
                    {k: incident[k] for k in ("id", "number", "name", "status", "cloudUrl") if k in incident}
                )
        optional = {"column": check.column} if check.column else {}
        return {
            **optional,
            "id": check.id,
            "name": check.name,
            "evaluationStatus": check.evaluation_status,
            "cloudUrl": f"{url}/checks/{quote(check.id, safe='')}",
            "createdAt": "2026-11-01T00:00:00+00:00",
            "datasets": [
                {
                    "id": check.dataset_id,
                    "name": check.dataset_name,
                    "qualifiedName": f"{check.datasource}/analytics/public/{check.dataset_name}",
                    "cloudUrl": f"{url}/datasets/{quote(check.dataset_id, safe='')}",
                }
            ],
            "incidents": incidents,
        }


def _paging(query: Mapping[str, list[str]], *, smallest: int, default: int) -> tuple[int, int]:
    one = {name: values[-1] for name, values in query.items()}
    try:
        page, size = int(one.get("page", "0")), int(one.get("size", str(default)))
    except ValueError:
        raise ValueError("page and size must be integers") from None
    if not 0 <= page <= 2**31 - 1 or not smallest <= size <= 1000:  # page is an int32
        raise ValueError(f"page must be >= 0 and size {smallest}..1000")
    return page, size


def _page(content: list[dict[str, Any]], page: int, size: int, total: int) -> dict[str, Any]:
    """Return a page of a paginated listing, as Soda's ``PublicApi...Response`` schemas have it."""
    pages = -(-total // size)
    return {
        "content": content,
        "first": page == 0,
        "last": page >= pages - 1,
        "number": page,
        "size": size,
        "totalElements": total,
        "totalPages": pages,
    }
