"""An offline Soda Cloud: a real HTTP server on loopback that speaks the incident API.

It lets anyone run and test DAGs that use this provider without a Soda Cloud account, and it
misbehaves on request (rate limits with a compressed window, injected faults) so that the
provider's retry and pacing logic is tested against real sockets. Only the standard library
is used. Run it in-process (:class:`SodaCloudEmulator` is a context manager) or as a command::

    python -m airflow_provider_soda.testing.emulator --port 8765
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from airflow_provider_soda.endpoints import (
    CANCEL_SCAN,
    CREATE_CONTRACT,
    EMULATOR_INCIDENT_LINK_PREFIX,
    ENDPOINTS,
    GET_CONTRACT,
    GET_DATASET,
    GET_DATASET_BY_NAME,
    GET_RUNNER,
    GET_SCAN,
    INCIDENT_LINK,
    LIST_CHECKS,
    LIST_CONTRACTS,
    LIST_DATASETS,
    LIST_INCIDENTS,
    LIST_RUNNERS,
    PUBLISH_CONTRACT,
    SCAN_LOGS,
    TEST_LOGIN,
    TRACE_ID_HEADER,
    TRIGGER_SCAN,
    UPDATE_INCIDENT,
    VERIFY_CONTRACT,
    RateLimit,
)
from airflow_provider_soda.testing.emulator_contracts import ContractBook, qualified_name
from airflow_provider_soda.testing.emulator_scans import ScanBook, _page

DEFAULT_API_KEY_ID = "emulator-key-id"
DEFAULT_API_KEY_SECRET = "emulator-key-secret"
DEFAULT_TOKEN = "emulator-token"
DEFAULT_ORGANISATION = "Emulated Soda Org"
DEMO_INCIDENT_ID = "7d3f9a52-41c6-4b8e-9a0d-2c5e6f1b8a01"

STATUSES = ("reported", "investigating", "fixing", "resolved")
SEVERITIES = ("minor", "major", "critical")
_UPDATE_FIELDS = {"title": str, "description": str, "resolutionNotes": str, "status": str, "severity": str}
_INCIDENTS_PREFIX = "/api/v1/incidents/"
#: Not part of Soda's API: the emulator's own state, for tests in other processes.
ADMIN_PATH = "/_emulator/state"


#: Seeded datasets, by name: the emulator knows each incident's dataset (Soda Cloud does too; its
#: list endpoint filters on it but does not return it).
DATASETS: dict[str, str] = {
    name: f"ds-{name}" for name in ("orders", "customers", "payments", "shipments", "refunds", "inventory")
}
#: Fields the emulator keeps about an incident but, like Soda Cloud, never returns.
_HIDDEN_FIELDS = ("datasetId", "leadId", "createdAt")


def default_incidents() -> list[dict[str, Any]]:
    """Return the incidents a new emulator starts with (camelCase, as Soda Cloud returns them).

    Numbers 1-5 are open incidents the demo and examples act on; 6-12 spread over datasets,
    severities, statuses, leads and creation times so that every list filter has something to find.
    """

    def created(day: int) -> str:
        return f"2026-11-{day:02d}T08:00:00+00:00"

    def seeded(number: int, incident_id: str, dataset: str, day: int, **fields: Any) -> dict[str, Any]:
        return {
            "id": incident_id,
            "number": number,
            "datasetId": DATASETS[dataset],
            "createdAt": created(day),
            "hasRcaReport": None,
            **fields,
        }

    return [
        seeded(
            1,
            DEMO_INCIDENT_ID,
            "orders",
            20,
            name="Row count anomaly on orders",
            status="reported",
            severity="major",
            description="Anomaly detection flagged a drop in daily order rows.",
        ),
        seeded(
            2,
            "c0a8e4b1-93f2-4d57-8e6a-5b1d7f2c9e02",
            "customers",
            21,
            name="Missing values in customers.email",
            status="reported",
            severity="minor",
            description="missing_count(email) > 0 on customers.",
        ),
        *(
            seeded(
                number,
                f"5e1b0c7a-0d4f-4c2e-b6a1-9f8e7d6c5b{number:02d}",
                table,
                22,
                name=f"Freshness of {table} exceeded 1d",
                status="reported",
                severity="major",
                description=f"freshness(updated_at) > 1d on {table}.",
            )
            for number, table in ((3, "payments"), (4, "shipments"), (5, "refunds"))
        ),
        seeded(
            6,
            "inc-orders-dup",
            "orders",
            23,
            name="Duplicate order ids",
            status="investigating",
            severity="critical",
            description="duplicate_count(order_id) > 0 on orders.",
            leadId="user-alice",
        ),
        seeded(
            7,
            "inc-orders-late",
            "orders",
            2,
            name="Late orders partition",
            status="resolved",
            severity="minor",
            description="Partition arrived 3 h late.",
            resolutionNotes="Upstream delay.",
            hasRcaReport=True,
        ),
        seeded(
            8,
            "inc-customers-schema",
            "customers",
            12,
            name="Schema change on customers",
            status="fixing",
            severity="major",
            description="Column segment dropped.",
            leadId="user-bob",
            hasRcaReport=False,
        ),
        seeded(
            9,
            "inc-payments-negative",
            "payments",
            5,
            name="Negative payment amounts",
            status="resolved",
            severity="critical",
            description="min(amount) < 0.",
            resolutionNotes="Refund sign fixed.",
            leadId="user-alice",
            hasRcaReport=True,
        ),
        seeded(
            10,
            "inc-inventory-stock",
            "inventory",
            15,
            name="Stock below zero",
            status="reported",
            severity="minor",
            description="min(stock) < 0 on inventory.",
        ),
        seeded(
            11,
            "inc-inventory-stale",
            "inventory",
            25,
            name="Inventory snapshot stale",
            status="fixing",
            severity="critical",
            description="freshness(snapshot_at) > 6h.",
            leadId="user-bob",
        ),
        seeded(
            12,
            "inc-shipments-carrier",
            "shipments",
            9,
            name="Unknown carrier codes",
            status="resolved",
            severity="major",
            description="invalid_count(carrier) > 0.",
            resolutionNotes="Mapping updated.",
        ),
    ]


@dataclass
class Fault:
    """What to do instead of (or before) answering the next ``times`` matching requests.

    ``status`` answers with that status (body: an ``ErrorResponse`` unless ``body`` is given),
    ``delay`` waits that many seconds first, ``drop`` closes the connection without an answer,
    ``truncate`` sends the headers and half the body, then closes the connection.
    ``endpoint`` limits the fault to one bucket (``update_incident``, ``test_login``, ...),
    ``incident_id`` to the updates of one incident, and ``query`` to the requests whose query
    holds these values (``{"datasetId": "ds-orders"}``: the listings of one selection).
    """

    status: int | None = None
    delay: float = 0.0
    drop: bool = False
    truncate: bool = False
    body: str | bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    times: int = 1
    endpoint: str | None = None
    incident_id: str | None = None
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator saw it; secrets are reduced to who was authenticated."""

    method: str
    raw_path: str
    path: str
    query: dict[str, list[str]]
    endpoint: str | None
    #: The id in the path: an incident's (updates) or a scan's (status, logs, cancel).
    resource_id: str | None
    auth: str | None
    body: Any
    status: int | None
    at: float
    user_agent: str | None = None

    @property
    def incident_id(self) -> str | None:
        """The incident an update is about (None for any other request)."""
        return self.resource_id if self.endpoint == UPDATE_INCIDENT.bucket else None

    @property
    def scan_id(self) -> str | None:
        """The scan a status, logs or cancel request is about (None for any other request)."""
        return self.resource_id if self.endpoint in _SCAN_BUCKETS else None


class SodaCloudEmulator:
    """Soda Cloud's incident API on ``http://127.0.0.1:<port>``.

    :param rate_limits: per-endpoint limits (``{"update_incident": RateLimit(10, 1.0)}``), merged
        over the documented defaults; pass ``enforce_rate_limits=False`` to switch them off.
    :param retry_after: ``None`` (as Soda documents: no ``Retry-After`` on 429), a number of
        seconds, ``"auto"`` (the exact time until the window frees) or ``"http-date"`` (the same
        as an HTTP-date).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key_id: str = DEFAULT_API_KEY_ID,
        api_key_secret: str = DEFAULT_API_KEY_SECRET,
        token: str | None = DEFAULT_TOKEN,
        organisation_name: str = DEFAULT_ORGANISATION,
        incidents: list[dict[str, Any]] | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        enforce_rate_limits: bool = True,
        retry_after: float | str | None = None,
    ) -> None:
        self.host, self._port = host, port
        self.api_key_id, self.api_key_secret, self.token = api_key_id, api_key_secret, token
        self.organisation_name = organisation_name
        self.rate_limits: dict[str, RateLimit] = {b: e.rate_limit for b, e in ENDPOINTS.items()}
        self.rate_limits.update(rate_limits or {})
        self.enforce_rate_limits = enforce_rate_limits
        self.retry_after = retry_after
        self.requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._incidents: dict[str, dict[str, Any]] = {}
        self._history: dict[str, list[dict[str, Any]]] = {}
        self._links: dict[str, list[dict[str, str]]] = {}
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._faults: list[Fault] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._trace_counter = 0
        self._before: dict[str, Callable[[dict[str, list[str]]], None]] = {}
        #: Dataset ids the datasets listing returns, by name (every seeded one by default).
        self.datasets: dict[str, str] = dict(DATASETS)
        #: Scan definitions, their runs and the checks they evaluate (see :mod:`.emulator_scans`).
        self.scans = ScanBook(lambda: self.url, self._incident_or_none)
        #: Soda v4: contracts, their verifications and the Soda Runners (see :mod:`.emulator_contracts`).
        self.contracts = ContractBook(lambda: self.url, self.scans, lambda: self.datasets)
        for incident in default_incidents() if incidents is None else incidents:
            self.add_incident(incident)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> SodaCloudEmulator:
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._server = ThreadingHTTPServer((self.host, self._port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so that stop() returns promptly
            name="soda-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SodaCloudEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("The emulator is not running; call start() or use it as a context manager.")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def airflow_connection(self, **extra: Any) -> str:
        """Return a JSON connection for ``AIRFLOW_CONN_<ID>`` that points at this emulator."""
        return json.dumps(
            {
                "conn_type": "soda_cloud",
                "host": self.url,
                "login": self.api_key_id,
                "password": self.api_key_secret,
                "extra": extra,
            }
        )

    # -- state ----------------------------------------------------------------------------------

    def add_incident(self, incident: Mapping[str, Any]) -> None:
        with self._lock:
            record = {"status": "reported", "severity": "minor", "description": "", **incident}
            record.setdefault("name", f"Incident {record['id']}")
            record.setdefault(
                "number", max((r.get("number") or 0 for r in self._incidents.values()), default=0) + 1
            )
            record.setdefault("createdAt", datetime.now(UTC).isoformat())
            self._incidents[record["id"]] = record
            self._history[record["id"]] = []

    def incident(self, incident_id: str) -> dict[str, Any]:
        """Return the incident as the API would return it."""
        with self._lock:
            return self._content(self._incidents[incident_id])

    def _incident_or_none(self, incident_id: str) -> dict[str, Any] | None:
        with self._lock:
            record = self._incidents.get(incident_id)
            return None if record is None else self._content(record)

    def links(self, incident_id: str) -> list[dict[str, Any]]:
        """Return the links added to an incident through its webhook link callback, in order."""
        with self._lock:
            return [dict(link) for link in self._links.get(incident_id, [])]

    def webhook_delivery(self, incident_id: str, event: str = "incidentUpdated") -> dict[str, Any]:
        """Return a webhook delivery about one incident, as Soda Cloud POSTs it.

        ``event`` is ``incidentCreated`` or ``incidentUpdated``; the link callback is on this emulator.
        """
        with self._lock:
            record = dict(self._incidents[incident_id])
        dataset_id = record.get("datasetId")
        datasets = [{"id": dataset_id, "name": dataset_id}] if dataset_id else []
        return {
            "event": event,
            "incident": {
                "id": record["id"],
                "number": record.get("number"),
                "title": record.get("name"),
                "severity": record.get("severity"),
                "status": record.get("status"),
                "sodaCloudUrl": f"{self.url}/incidents/{quote(record['id'], safe='')}",
                "incidentLinkCallbackUrl": f"{self.url}{EMULATOR_INCIDENT_LINK_PREFIX}{quote(record['id'], safe='')}",
                "checkResults": [
                    {
                        "id": f"check-{record['id'][:8]}",
                        "name": f"Check behind incident #{record.get('number')}",
                        "sodaCloudUrl": f"{self.url}/checks/check-{record['id'][:8]}",
                        "datasets": datasets,
                        "outcome": "fail",
                    }
                ],
            },
        }

    def _add_link(self, incident_id: str, body: Any) -> tuple[int, Any]:
        """Answer the link callback of a webhook delivery: ``{"url", "text"}`` added to the incident."""
        with self._lock:
            if incident_id not in self._incidents:
                return 404, {"code": "not_found", "message": "No such incident"}
            if not (
                isinstance(body, dict)
                and isinstance(body.get("url"), str)
                and isinstance(body.get("text"), str)
            ):
                return 400, {"code": "bad_request", "message": 'Expected {"url": ..., "text": ...}'}
            self._links.setdefault(incident_id, []).append({"url": body["url"], "text": body["text"]})
            return 200, {}

    def incident_ids(self) -> list[str]:
        with self._lock:
            return list(self._incidents)

    def history(self, incident_id: str) -> list[dict[str, Any]]:
        """Every update applied to the incident: ``{"at", "changes", "status"}`` in order."""
        with self._lock:
            return [dict(entry) for entry in self._history[incident_id]]

    def before(self, endpoint: str, action: Callable[[dict[str, list[str]]], None] | None) -> None:
        """Call ``action(query)`` before answering each request to ``endpoint`` (None: stop).

        For tests that change the state between two requests of one listing.
        """
        with self._lock:
            if action is None:
                self._before.pop(endpoint, None)
            else:
                self._before[endpoint] = action

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each matching request consumes the first one that applies."""
        with self._lock:
            self._faults.extend(faults)

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.endpoint == endpoint]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def snapshot(self) -> dict[str, Any]:
        """Return the requests (without bodies) and incidents as JSON.

        Served at ``/_emulator/state`` for tests that run the emulator in another process.
        """
        with self._lock:
            return {
                "requests": [
                    {
                        "endpoint": r.endpoint,
                        "incident_id": r.incident_id,
                        "scan_id": r.scan_id,
                        "status": r.status,
                        "at": r.at,
                    }
                    for r in self.requests
                ],
                "incidents": {i: self._content(r) for i, r in self._incidents.items()},
            }

    def _content(self, record: Mapping[str, Any]) -> dict[str, Any]:
        content = {
            k: v
            for k, v in record.items()
            if k not in _HIDDEN_FIELDS and (v is not None or k == "hasRcaReport")  # that one may be null
        }
        content["cloudUrl"] = f"{self.url}/incidents/{quote(record['id'], safe='')}"
        return content

    # -- request handling (called from server threads) -------------------------------------------

    def _take_fault(
        self, endpoint: str | None, incident_id: str | None, query: Mapping[str, list[str]]
    ) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.endpoint not in (None, endpoint) or fault.incident_id not in (None, incident_id):
                    continue
                if any(query.get(name, [None])[-1] != value for name, value in fault.query.items()):
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _authenticate(self, headers: Any) -> str | None:
        """Who sent the request (``basic:<key id>`` or ``cookie``), or None; ``headers`` is an email Message."""
        authorization = headers.get("Authorization", "")
        if authorization.startswith("Basic "):
            try:
                key_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
            except ValueError:
                return None
            ok = key_id == self.api_key_id and secret == self.api_key_secret
            return f"basic:{key_id}" if ok else None
        for part in headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "token" and self.token and value == self.token:
                return "cookie"
        return None

    def _rate_limited(self, bucket: str, who: str) -> float | None:
        """Count the request in its window; return seconds until a slot frees if the window is full."""
        if not self.enforce_rate_limits:
            return None
        limit = self.rate_limits[bucket]
        with self._lock:
            window = self._windows.setdefault((bucket, who), deque())
            now = time.monotonic()
            while window and window[0] <= now - limit.period:
                window.popleft()
            if len(window) >= limit.requests:
                return window[0] + limit.period - now
            window.append(now)
            return None

    def _retry_after_header(self, wait: float) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        if self.retry_after == "auto":
            return {"Retry-After": str(max(1, round(wait + 0.5)))}
        if self.retry_after == "http-date":
            when = datetime.now(UTC).timestamp() + wait + 1
            return {"Retry-After": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(when))}
        return {"Retry-After": str(self.retry_after)}

    def _update(self, incident_id: str, body: Any) -> tuple[int, Any]:
        problem = _update_problem(body)
        if problem:
            return 400, {"code": "bad_request", "message": problem}
        with self._lock:
            record = self._incidents.get(incident_id)
            if record is None:
                return 404, {"code": "not_found", "message": f"Incident {incident_id} not found"}
            changes = {k: v for k, v in body.items() if k in _UPDATE_FIELDS}
            if "title" in changes:
                record["name"] = changes["title"]
            for key in ("description", "resolutionNotes", "status", "severity"):
                if key in changes:
                    record[key] = changes[key]
            self._history[incident_id].append(
                {"at": datetime.now(UTC).isoformat(), "changes": changes, "status": record["status"]}
            )
            return 200, self._content(record)

    def _list(self, query: Mapping[str, list[str]]) -> tuple[int, Any]:
        """``GET /api/v1/incidents``: every filter AND-combined, sorted by number, one page."""
        try:
            params = _list_params(query)
        except ValueError as err:
            return 400, {"code": "bad_request", "message": str(err)}
        page, size = params.pop("page"), params.pop("size")
        with self._lock:
            found = sorted(
                (r for r in self._incidents.values() if _matches(r, params)),
                key=lambda r: (r.get("number") or 0, r["id"]),
            )
            chunk = [self._content(r) for r in found[page * size : (page + 1) * size]]
        return 200, _page(chunk, page, size, len(found))

    def _datasets(self, query: Mapping[str, list[str]]) -> tuple[int, Any]:
        """``GET /api/v1/datasets``: sorted by name, ``search`` on the name, one page."""
        one = {name: values[-1] for name, values in query.items()}
        try:
            page, size = int(one.get("page", "0")), int(one.get("size", "10"))
        except ValueError:
            return 400, {"code": "bad_request", "message": "page and size must be integers"}
        if page < 0 or not 10 <= size <= 1000:
            return 400, {"code": "bad_request", "message": "page must be >= 0 and size 10..1000"}
        try:
            updated_after = _instant(one["from"], "from") if "from" in one else None
        except ValueError as err:
            return 400, {"code": "bad_request", "message": str(err)}
        if updated_after is not None and updated_after >= _DATASETS_UPDATED:
            return 200, _page([], page, size, 0)
        search = one.get("search", "").lower()
        with self._lock:
            found = sorted((n, i) for n, i in self.datasets.items() if search in n.lower())
            counts = {i: 0 for _, i in found}
            for record in self._incidents.values():
                if record.get("datasetId") in counts and record["status"] != "resolved":
                    counts[record["datasetId"]] += 1
        chunk = [
            {
                "id": dataset_id,
                "name": name,
                "qualifiedName": qualified_name(name),
                "cloudUrl": f"{self.url}/datasets/{quote(dataset_id, safe='')}",
                "datasource": {"name": "warehouse", "type": "postgres"},
                "healthStatus": 0 if counts[dataset_id] else 1,
                "dataQualityStatus": "fail" if counts[dataset_id] else "pass",
                "checks": 1,
                "incidents": counts[dataset_id],
                "lastUpdated": _DATASETS_UPDATED.isoformat(),
            }
            for name, dataset_id in found[page * size : (page + 1) * size]
        ]
        return 200, _page(chunk, page, size, len(found))

    def _v4(
        self, endpoint: str, resource_id: str, query: Mapping[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        """Answer a Soda v4 request: contracts, Runners, one-dataset reads."""
        book = self.contracts
        if endpoint == LIST_CONTRACTS.bucket:
            return book.list_contracts(query)
        if endpoint == CREATE_CONTRACT.bucket:
            return book.create(body)
        if endpoint == GET_CONTRACT.bucket:
            return book.get(resource_id)
        if endpoint == PUBLISH_CONTRACT.bucket:
            return book.publish(resource_id, body)
        if endpoint == VERIFY_CONTRACT.bucket:
            return book.verify(resource_id, body)
        if endpoint == LIST_RUNNERS.bucket:
            return book.list_runners(query)
        if endpoint == GET_RUNNER.bucket:
            return book.get_runner(resource_id)
        return book.get_dataset(resource_id, by_name=endpoint == GET_DATASET_BY_NAME.bucket)

    def _next_trace_id(self) -> str:
        with self._lock:
            self._trace_counter += 1
            return f"emulator-trace-{self._trace_counter:06d}"


#: When the emulator's datasets were last updated (the datasets listing's ``from`` filters on it).
_DATASETS_UPDATED = datetime(2026, 11, 1, tzinfo=UTC)


def _list_params(query: Mapping[str, list[str]]) -> dict[str, Any]:
    """Check the list endpoint's query as the contract does; a ValueError names the problem."""
    for name, values in query.items():
        if len(values) > 1:
            raise ValueError(f"{name} may be given once")
    one = {name: values[0] for name, values in query.items()}
    params: dict[str, Any] = {}
    try:
        params["page"] = int(one.get("page", "0"))
        params["size"] = int(one.get("size", "10"))
    except ValueError:
        raise ValueError("page and size must be integers") from None
    if params["page"] < 0 or not 1 <= params["size"] <= 1000:
        raise ValueError("page must be >= 0 and size 1..1000")
    for name, allowed in (("status", STATUSES), ("severity", SEVERITIES)):
        if name in one and one[name] not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}")
        params[name] = one.get(name)
    ids = [i for i in one.get("incidentIds", "").split(",") if i]
    if len(ids) > 1000:
        raise ValueError("incidentIds takes at most 1000 ids")
    params["incidentIds"] = set(ids) if "incidentIds" in one else None
    params["datasetId"], params["leadId"] = one.get("datasetId"), one.get("leadId")
    for name in ("from", "to"):
        params[name] = _instant(one[name], name) if name in one else None
    return params


def _instant(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date-time, got {text!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{name} must carry a UTC offset, got {text!r}")
    return moment


def _matches(record: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    created = datetime.fromisoformat(record["createdAt"])
    return (
        (params["incidentIds"] is None or record["id"] in params["incidentIds"])
        and params["status"] in (None, record["status"])
        and params["severity"] in (None, record["severity"])
        and params["datasetId"] in (None, record.get("datasetId"))
        and params["leadId"] in (None, record.get("leadId"))
        and (params["from"] is None or created >= params["from"])
        and (params["to"] is None or created <= params["to"])
    )


def _update_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    for key, value in body.items():
        if key not in _UPDATE_FIELDS:
            continue  # the contract allows additional properties; like Soda's JSON binding, ignore them
        if not isinstance(value, str):
            return f"Field {key} must be a string"
    if "status" in body and body["status"] not in STATUSES:
        return f"Invalid status {body['status']}"
    if "severity" in body and body["severity"] not in SEVERITIES:
        return f"Invalid severity {body['severity']}"
    return None


_SCANS_PREFIX = TRIGGER_SCAN.path + "/"
_LISTINGS = {e.path: e.bucket for e in (TEST_LOGIN, LIST_INCIDENTS, LIST_DATASETS, LIST_CHECKS)}


def _scan_route(method: str, raw_path: str) -> tuple[str | None, str | None]:
    """(bucket, scan id) of a path under /api/v1/scans/; (None, None) for anything else."""
    rest = raw_path[len(_SCANS_PREFIX) :] if raw_path.startswith(_SCANS_PREFIX) else ""
    scan_id, _, tail = rest.partition("/")
    if not scan_id:
        return None, None
    if tail == "" and method in ("GET", "DELETE"):
        return (GET_SCAN if method == "GET" else CANCEL_SCAN).bucket, unquote(scan_id)
    if tail == "logs" and method == "GET":
        return SCAN_LOGS.bucket, unquote(scan_id)
    return None, None


_SCAN_BUCKETS = frozenset({GET_SCAN.bucket, SCAN_LOGS.bucket, CANCEL_SCAN.bucket})


#: (method, path prefix, what follows the prefix: "" none, "id" one segment, "id/verify"): bucket.
_V4_ROUTES: dict[tuple[str, str, str], str] = {
    ("GET", "/api/v1/contracts", ""): LIST_CONTRACTS.bucket,
    ("POST", "/api/v1/contracts", ""): CREATE_CONTRACT.bucket,
    ("GET", "/api/v1/contracts/", "id"): GET_CONTRACT.bucket,
    ("POST", "/api/v1/contracts/", "id"): PUBLISH_CONTRACT.bucket,
    ("POST", "/api/v1/contracts/", "id/verify"): VERIFY_CONTRACT.bucket,
    ("GET", "/api/v1/runners", ""): LIST_RUNNERS.bucket,
    ("GET", "/api/v1/runners/", "id"): GET_RUNNER.bucket,
    ("GET", "/api/v1/datasets/byDatasetQualifiedName/", "id"): GET_DATASET_BY_NAME.bucket,
    ("GET", "/api/v1/datasets/", "id"): GET_DATASET.bucket,
}
_V4_BUCKETS = frozenset(_V4_ROUTES.values())


def _v4_shape(raw_path: str) -> list[tuple[str, str, str | None]]:
    """Return the (prefix, shape, id) forms a path can take among the v4 routes, most specific first."""
    forms: list[tuple[str, str, str | None]] = []
    for prefix in sorted({p for _, p, _ in _V4_ROUTES}, key=len, reverse=True):
        if raw_path == prefix and not prefix.endswith("/"):
            forms.append((prefix, "", None))
        elif prefix.endswith("/") and raw_path.startswith(prefix):
            rest = raw_path[len(prefix) :]
            segment, _, tail = rest.partition("/")
            if (
                segment
                and tail in ("", "verify")
                and not (prefix == "/api/v1/datasets/" and segment == "byDatasetQualifiedName")
            ):
                forms.append((prefix, "id" if not tail else "id/verify", unquote(segment)))
    return forms


def _v4_route(method: str, raw_path: str) -> tuple[str | None, str | None]:
    for prefix, shape, resource_id in _v4_shape(raw_path):
        bucket = _V4_ROUTES.get((method, prefix, shape))
        if bucket is not None:
            return bucket, resource_id
    return None, None


def _route(method: str, raw_path: str) -> tuple[str | None, str | None]:
    """(endpoint bucket, incident or scan id) for an API path; bucket None for anything else."""
    if raw_path in _LISTINGS and method == "GET":
        return _LISTINGS[raw_path], None
    bucket, resource_id = _v4_route(method, raw_path)
    if bucket is not None:
        return bucket, resource_id
    if raw_path == TRIGGER_SCAN.path and method == "POST":
        return TRIGGER_SCAN.bucket, None
    if raw_path.startswith(_SCANS_PREFIX):
        return _scan_route(method, raw_path)
    if raw_path.startswith(EMULATOR_INCIDENT_LINK_PREFIX) and method == "POST":
        segment = raw_path[len(EMULATOR_INCIDENT_LINK_PREFIX) :]
        if segment and "/" not in segment:
            return INCIDENT_LINK.bucket, unquote(segment)
    if raw_path.startswith(_INCIDENTS_PREFIX) and method == "POST":
        segment = raw_path[len(_INCIDENTS_PREFIX) :]
        if segment and "/" not in segment:
            return UPDATE_INCIDENT.bucket, unquote(segment)
    return None, None


def _allowed_methods(raw_path: str) -> list[str]:
    if raw_path in _LISTINGS and raw_path != LIST_DATASETS.path:
        return ["GET"]
    v4 = sorted(
        {
            m
            for prefix, shape, _ in _v4_shape(raw_path)
            for (m, p, sh) in _V4_ROUTES
            if (p, sh) == (prefix, shape)
        }
    )
    if v4 or raw_path == LIST_DATASETS.path:
        return v4 or ["GET"]
    if raw_path == TRIGGER_SCAN.path:
        return ["POST"]
    if raw_path.startswith(_SCANS_PREFIX):
        rest = raw_path[len(_SCANS_PREFIX) :]
        if rest and "/" not in rest:
            return ["DELETE", "GET"]
        if rest.endswith("/logs") and rest.count("/") == 1 and rest != "/logs":
            return ["GET"]
        return []
    if raw_path.startswith(_INCIDENTS_PREFIX) and "/" not in raw_path[len(_INCIDENTS_PREFIX) :]:
        return ["POST"]
    return []


class _Handler(BaseHTTPRequestHandler):
    emulator: SodaCloudEmulator
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the second waits ~40 ms for the
    # client's delayed ACK on every kept-alive request.
    disable_nagle_algorithm = True
    server_version = "SodaCloudEmulator"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is the record."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _not_allowed(self) -> None:
        """Any other method: 405 on our paths (with Allow), 404 elsewhere, as the contract expects."""
        if self.command not in ("GET", "POST", "DELETE") and self.headers.get("Content-Length"):
            self.rfile.read(int(self.headers["Content-Length"]))  # _handle already read GET/POST bodies
        raw_path = self.path.partition("?")[0]
        allowed = _allowed_methods(raw_path)
        if allowed:
            message = f"Method {self.command} not allowed; use {', '.join(allowed)}"
            self._send(405, {"code": "method_not_allowed", "message": message}, {"Allow": ", ".join(allowed)})
        else:
            self._send(404, {"code": "not_found", "message": f"No route for {self.command} {raw_path}"})

    def __getattr__(self, name: str) -> Any:
        # http.server answers 501 to a method without a do_<METHOD>; every method is handled here.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _handle(self, method: str) -> None:
        em = self.emulator
        raw_path, _, raw_query = self.path.partition("?")
        query = parse_qs(raw_query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        body: Any
        if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            body = parse_qs(raw_body.decode(errors="replace"), keep_blank_values=True)
        else:
            try:
                body = json.loads(raw_body) if raw_body else None
            except ValueError:
                body = raw_body.decode(errors="replace")
        endpoint, resource_id = _route(method, raw_path)
        who = em._authenticate(self.headers) if endpoint else None

        def record(status: int | None) -> None:
            with em._lock:
                em.requests.append(
                    RecordedRequest(
                        method=method,
                        raw_path=raw_path,
                        path=unquote(raw_path),
                        query=query,
                        endpoint=endpoint,
                        resource_id=resource_id,
                        auth=who,
                        body=body,
                        status=status,
                        at=time.monotonic(),
                        user_agent=self.headers.get("User-Agent"),
                    )
                )

        fault = em._take_fault(endpoint, resource_id, query)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                record(None)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault.status is not None:
                record(fault.status)
                payload = fault.body if fault.body is not None else {"code": "injected", "message": "fault"}
                self._send(fault.status, payload, dict(fault.headers), truncate=fault.truncate)
                return

        before = em._before.get(endpoint) if endpoint else None
        if before is not None:
            before(query)
        if endpoint is None:
            if method == "GET" and raw_path == ADMIN_PATH:
                return self._send(200, em.snapshot())
            if method == "GET" and raw_path.startswith("/incidents/"):
                record(200)
                return self._incident_page(unquote(raw_path[len("/incidents/") :]))
            record(405 if _allowed_methods(raw_path) else 404)
            return self._not_allowed()
        if who is None:
            record(401)
            return self._send(401, {"code": "unauthorized", "message": "Authentication failed"})
        wait = em._rate_limited(endpoint, who)
        if wait is not None:
            record(429)
            return self._send(
                429,
                {"code": "too_many_requests", "message": "Rate limit exceeded"},
                em._retry_after_header(wait),
            )
        headers: dict[str, str] = {}
        if endpoint == UPDATE_INCIDENT.bucket:
            assert resource_id is not None
            status, payload = em._update(resource_id, body)
        elif endpoint == LIST_INCIDENTS.bucket:
            status, payload = em._list(query)
        elif endpoint == LIST_DATASETS.bucket:
            status, payload = em._datasets(query)
        elif endpoint == LIST_CHECKS.bucket:
            status, payload, headers = em.scans.list_checks(query)
        elif endpoint == TRIGGER_SCAN.bucket:
            status, payload, headers = em.scans.trigger(body if isinstance(body, dict) else {})
        elif endpoint == GET_SCAN.bucket:
            status, payload, headers = em.scans.status(resource_id or "")
        elif endpoint == CANCEL_SCAN.bucket:
            status, payload, headers = em.scans.cancel(resource_id or "")
        elif endpoint == SCAN_LOGS.bucket:
            status, payload, headers = em.scans.logs(resource_id or "", query)
        elif endpoint == INCIDENT_LINK.bucket:
            status, payload = em._add_link(resource_id or "", body)
        elif endpoint in _V4_BUCKETS:
            status, payload, headers = em._v4(endpoint, resource_id or "", query, body)
        else:
            status, payload = 200, {"organisationName": em.organisation_name}
        record(status)
        self._send(status, payload, headers)

    def _incident_page(self, incident_id: str) -> None:
        try:
            incident = self.emulator.incident(incident_id)
        except KeyError:
            return self._send(404, {"code": "not_found", "message": "No such incident"})
        from html import escape

        html = (
            f"<!doctype html><title>Incident #{incident.get('number')}</title>"
            f"<h1>Incident #{incident.get('number')}: {escape(str(incident.get('name')))}</h1>"
            f"<p>Status: <b id='status'>{escape(incident['status'])}</b></p>"
        )
        self._send(200, html.encode(), {"Content-Type": "text/html; charset=utf-8"})

    def _send(
        self, status: int, payload: Any, headers: dict[str, str] | None = None, *, truncate: bool = False
    ) -> None:
        headers = dict(headers or {})
        if payload is None:  # an answer without a body (a scan started, a cancellation asked)
            data = b""
        elif isinstance(payload, (bytes, str)):
            data = payload.encode() if isinstance(payload, str) else payload
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            data = json.dumps(payload).encode()
            headers.setdefault("Content-Type", "application/json")
        self.send_response(status)
        headers.setdefault(TRACE_ID_HEADER, self.emulator._next_trace_id())
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if truncate:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)


def _parse_rate_limit(text: str) -> tuple[str, RateLimit]:
    try:
        bucket, _, spec = text.partition("=")
        requests, _, period = spec.partition("/")
        if bucket not in ENDPOINTS:
            raise ValueError
        return bucket, RateLimit(int(requests), float(period))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected BUCKET=REQUESTS/SECONDS with BUCKET one of {', '.join(ENDPOINTS)}, got {text!r}"
        ) from None


def main(argv: list[str] | None = None) -> None:
    """Command line: serve until interrupted, printing how to point Airflow at the emulator."""
    parser = argparse.ArgumentParser(description="Offline Soda Cloud emulator for airflow-provider-soda.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--api-key-id", default=DEFAULT_API_KEY_ID)
    parser.add_argument("--api-key-secret", default=DEFAULT_API_KEY_SECRET)
    parser.add_argument(
        "--rate-limit",
        action="append",
        type=_parse_rate_limit,
        default=[],
        metavar="BUCKET=N/SECONDS",
        help="override a rate limit, e.g. update_incident=10/1 (repeatable)",
    )
    parser.add_argument("--no-rate-limits", action="store_true", help="accept every request")
    parser.add_argument(
        "--extra-incidents", type=int, default=0, metavar="N", help="also seed incidents inc-0001 ... inc-N"
    )
    parser.add_argument(
        "--retry-after", default=None, help="send Retry-After on 429: seconds, auto or http-date"
    )
    args = parser.parse_args(argv)
    retry_after: float | str | None = args.retry_after
    if retry_after not in (None, "auto", "http-date"):
        retry_after = float(retry_after)  # type: ignore[arg-type]
    emulator = SodaCloudEmulator(
        host=args.host,
        port=args.port,
        api_key_id=args.api_key_id,
        api_key_secret=args.api_key_secret,
        rate_limits=dict(args.rate_limit),
        enforce_rate_limits=not args.no_rate_limits,
        retry_after=retry_after,
    )
    for number in range(1, args.extra_incidents + 1):
        emulator.add_incident(
            {
                "id": f"inc-{number:04d}",
                "number": 100 + number,
                "severity": "major",
            }
        )
    with emulator:
        print(f"Soda Cloud emulator listening on {emulator.url}", flush=True)
        print(f"export AIRFLOW_CONN_SODA_CLOUD_DEFAULT='{emulator.airflow_connection()}'", flush=True)
        print(f"Seeded incident ids: {', '.join(emulator.incident_ids())}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
