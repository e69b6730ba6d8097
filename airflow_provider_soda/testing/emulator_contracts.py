"""The emulator's Soda v4 side: data contracts, their verification on Soda Runners, one-dataset reads.

A contract's YAML names its dataset (``dataset:``) and its checks; each check has a *check path*
(``checks.row_count``, ``columns.id.checks.duplicate``), and the emulator links every path to one
emulated check of that dataset (made on first use when none has that path). Verifying starts a
scan in the :class:`~airflow_provider_soda.testing.emulator_scans.ScanBook` whose checks are the
contract's (or the ``checkPaths`` asked for); while no Runner is online it stays ``queuing``.
Kept apart from :mod:`.emulator`, which routes requests here.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from airflow_provider_soda.testing.emulator_scans import EmulatedCheck, ScanBook, ScanDefinition

#: The seeded contract's YAML: the orders dataset, three checks linked to seeded incidents.
ORDERS_CONTRACT = """\
dataset: warehouse/analytics/public/orders
columns:
  - name: id
    checks:
      - duplicate:
checks:
  - row_count:
  - freshness:
      column: created_at
      threshold:
        must_be_less_than: 24
"""
#: Check path -> the seeded check it is (see :func:`~.emulator_scans.default_checks`).
ORDERS_CHECK_PATHS = {
    "checks.row_count": "chk-orders-row-count",
    "columns.id.checks.duplicate": "chk-orders-duplicates",
    "checks.freshness": "chk-orders-freshness",
}


def qualified_name(dataset: str) -> str:
    """Return the emulated dataset's qualified name, as Soda v4 writes it: ``datasource/db/schema/table``."""
    return f"warehouse/analytics/public/{dataset}"


def check_paths(contents: str) -> tuple[str | None, list[str]]:
    """Return (the dataset a contract's YAML names, its check paths); ValueError if it is no contract."""
    import yaml

    try:
        document = yaml.safe_load(contents)
    except yaml.YAMLError as err:
        raise ValueError(f"Contract YAML is malformed: {str(err).splitlines()[0]}") from None
    if not isinstance(document, dict) or not isinstance(document.get("dataset"), str):
        raise ValueError("Not a Soda contract: the YAML must be a mapping with a 'dataset' key")
    paths = []
    for check in document.get("checks") or []:
        paths.append(f"checks.{_check_type(check)}")
    for column in document.get("columns") or []:
        if not isinstance(column, dict) or not isinstance(column.get("name"), str):
            raise ValueError("Not a Soda contract: every column needs a 'name'")
        for check in column.get("checks") or []:
            paths.append(f"columns.{column['name']}.checks.{_check_type(check)}")
    return document["dataset"], list(dict.fromkeys(paths))


def _check_type(check: Any) -> str:
    if isinstance(check, str):
        return check
    if isinstance(check, dict) and len(check) == 1:
        return str(next(iter(check)))
    raise ValueError("Not a Soda contract: a check is a mapping with one key, its type")


@dataclass
class Runner:
    id: str
    name: str
    online: bool = True
    last_seen: datetime = field(default_factory=lambda: datetime.now(UTC))
    type: str = "SELF_HOSTED"


class ContractBook:
    """Contracts by id, Runners, and the verifications they start in the scan book."""

    def __init__(
        self, url: Callable[[], str], scans: ScanBook, datasets: Callable[[], Mapping[str, str]]
    ) -> None:
        self._url = url
        self._scans = scans
        self._datasets = datasets
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self.contracts: dict[str, dict[str, Any]] = {}
        #: Soda Runners (formerly Soda Agents); a verification waits in the queue while none is online.
        self.runners: list[Runner] = [Runner("runner-1", "warehouse-runner")]
        #: Whether the organisation may verify some checks only (``checkPaths``).
        self.check_paths_allowed = True
        #: How each dataset's next verifications end, by qualified name (see :meth:`next_outcome`).
        self.outcomes: dict[str, ScanDefinition] = {}
        for path, check_id in ORDERS_CHECK_PATHS.items():
            scans.checks[check_id].path = path
        self.add(ORDERS_CONTRACT, contract_id="contract-orders")

    # -- test hooks -----------------------------------------------------------------------------

    def add(self, contents: str, *, contract_id: str | None = None) -> dict[str, Any]:
        """Store a contract for the dataset its YAML names (replacing that dataset's contract)."""
        dataset, _ = check_paths(contents)
        name = self._dataset_name(dataset or "")
        if name is None:
            raise ValueError(f"unknown dataset {dataset!r}")
        now = datetime.now(UTC).isoformat()
        with self._lock:
            for old in [c for c in self.contracts.values() if c["datasetQualifiedName"] == dataset]:
                del self.contracts[old["id"]]
            new_id = contract_id or f"contract-{next(self._ids):04d}"
            record: dict[str, Any] = {
                "id": new_id,
                "datasetId": self._datasets()[name],
                "datasetQualifiedName": dataset,
                "contents": contents,
                "created": now,
                "lastUpdated": now,
            }
            self.contracts[new_id] = record
            return dict(record)

    def next_outcome(
        self,
        dataset: str,
        state: str,
        *,
        check_results: Mapping[str, str] | None = None,
        duration: float | None = None,
        queuing: float | None = None,
    ) -> None:
        """Make the next verifications of ``dataset`` (qualified name) end in ``state``.

        ``check_results`` maps check paths (or check ids) to results; the others get the state's.
        """
        definition = self._definition(dataset)
        results = {
            self._check_for(dataset, key).id if "." in key else key: value
            for key, value in (check_results or {}).items()
        }
        self._scans.next_outcome(definition.name, state, check_results=results, duration=duration)
        if queuing is not None:
            definition.queuing = queuing

    def set_runners_online(self, online: bool) -> None:
        with self._lock:
            for runner in self.runners:
                runner.online = online
                if online:
                    runner.last_seen = datetime.now(UTC)

    def any_runner_online(self) -> bool:
        with self._lock:
            return any(r.online for r in self.runners)

    # -- endpoints ------------------------------------------------------------------------------

    def list_contracts(self, query: Mapping[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        from airflow_provider_soda.testing.emulator_scans import _page, _paging

        one = {name: values[-1] for name, values in query.items()}
        if "datasetId" in one and "datasetQualifiedName" in one:
            return _bad("datasetId and datasetQualifiedName cannot be combined")
        try:
            page, size = _paging(query, smallest=10, default=10)
        except ValueError as err:
            return _bad(str(err))
        with self._lock:
            found = sorted(
                (
                    dict(c)
                    for c in self.contracts.values()
                    if one.get("datasetId") in (None, c["datasetId"])
                    and one.get("datasetQualifiedName") in (None, c["datasetQualifiedName"])
                ),
                key=lambda c: c["id"],
            )
        return 200, _page(found[page * size : (page + 1) * size], page, size, len(found)), {}

    def get(self, contract_id: str) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            record = self.contracts.get(contract_id)
        if record is None:
            return _not_found(f"Contract {contract_id} not found")
        return 200, {"contract": dict(record)}, {}

    def create(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict) or not isinstance(body.get("contents"), str):
            return _bad("contents (the contract's YAML) is required")
        by_id, by_name = body.get("datasetId"), body.get("datasetQualifiedName")
        if (by_id is None) == (by_name is None):
            return _bad("Give exactly one of datasetId and datasetQualifiedName")
        datasets = self._datasets()
        names = {qualified_name(n): i for n, i in datasets.items()}
        if by_id is not None and by_id not in datasets.values():
            return _not_found(f"Dataset {by_id} not found")
        if by_name is not None and by_name not in names:
            return _not_found(f"Dataset {by_name} not found")
        dataset = by_name if by_name is not None else next(q for q, i in names.items() if i == by_id)
        try:
            named, _ = check_paths(body["contents"])
        except ValueError as err:
            return _bad(str(err))
        if named != dataset:
            return _bad(f"The contract's dataset {named!r} is not {dataset!r}")
        with self._lock:
            if any(c["datasetQualifiedName"] == dataset for c in self.contracts.values()):
                return _bad(f"Dataset {dataset} already has a contract; publish to it instead")
            record = self.add(body["contents"])
        return 201, {"contract": record}, {}

    def publish(self, contract_id: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict) or not isinstance(body.get("contents"), str):
            return _bad("contents (the contract's YAML) is required")
        with self._lock:
            record = self.contracts.get(contract_id)
            if record is None:
                return _not_found(f"Contract {contract_id} not found")
            try:
                named, _ = check_paths(body["contents"])
            except ValueError as err:
                return _bad(str(err))
            if named != record["datasetQualifiedName"]:
                return _bad(
                    f"The YAML names dataset {named!r}, not the contract's {record['datasetQualifiedName']!r}"
                )
            record["contents"] = body["contents"]
            record["lastUpdated"] = datetime.now(UTC).isoformat()
            return 200, {"contract": dict(record)}, {}

    def verify(self, contract_id: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict):
            return _bad("The body is required: {} verifies the whole contract")
        asked = body.get("checkPaths")
        with self._lock:
            record = self.contracts.get(contract_id)
            if record is None:
                return _not_found(f"Contract {contract_id} not found")
            dataset = record["datasetQualifiedName"]
            _, paths = check_paths(record["contents"])
        if asked is not None:
            if not self.check_paths_allowed:
                return _bad("checkPaths is not available for this organization")
            if not isinstance(asked, list) or not all(isinstance(p, str) for p in asked) or not asked:
                return _bad("checkPaths must be a non-empty list of check paths")
            unknown = [p for p in asked if p not in paths]
            if unknown:
                return _bad(f"Unknown check paths: {', '.join(unknown)}")
            paths = [p for p in paths if p in asked]
        definition = self._definition(dataset)
        check_ids = [self._check_for(dataset, path).id for path in paths]
        url = self._url()
        scan_id = self._scans.start(
            definition,
            None,
            check_ids=check_ids,
            contract_url=f"{url}/datasets/{quote(record['datasetId'], safe='')}/contract",
            runner_online=self.any_runner_online,
        )
        return 201, None, {"X-Soda-Scan-Id": scan_id, "Location": f"{url}/api/v1/scans/{scan_id}"}

    def list_runners(self, query: Mapping[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        from airflow_provider_soda.testing.emulator_scans import _page, _paging

        try:
            page, size = _paging(query, smallest=10, default=10)
        except ValueError as err:
            return _bad(str(err))
        with self._lock:
            runners = [_runner(r) for r in self.runners]
        return 200, _page(runners[page * size : (page + 1) * size], page, size, len(runners)), {}

    def get_runner(self, runner_id: str) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            found = [_runner(r) for r in self.runners if r.id == runner_id]
        return (200, found[0], {}) if found else _not_found(f"Runner {runner_id} not found")

    def get_dataset(self, key: str, *, by_name: bool) -> tuple[int, Any, dict[str, str]]:
        for name, dataset_id in self._datasets().items():
            if key == (qualified_name(name) if by_name else dataset_id):
                return 200, self.dataset(name), {}
        return _not_found(f"Dataset {key} not found")

    def dataset(self, name: str) -> dict[str, Any]:
        dataset_id = self._datasets()[name]
        return {
            "id": dataset_id,
            "name": name,
            "qualifiedName": qualified_name(name),
            "cloudUrl": f"{self._url()}/datasets/{quote(dataset_id, safe='')}",
            "datasource": {"name": "warehouse", "type": "postgres"},
        }

    # -- state ----------------------------------------------------------------------------------

    def _dataset_name(self, dataset: str) -> str | None:
        return next((n for n in self._datasets() if qualified_name(n) == dataset), None)

    def _definition(self, dataset: str) -> ScanDefinition:
        """Return the scan book's definition of a dataset's verifications (made on first use)."""
        with self._lock:
            definition = self.outcomes.get(dataset)
            if definition is None:
                definition = ScanDefinition(f"contract:{dataset}", [], duration=2.0)
                self.outcomes[dataset] = definition
                self._scans.add_definition(definition, hidden=True)
            return definition

    def _check_for(self, dataset: str, path: str) -> EmulatedCheck:
        """Return the emulated check of a contract's check path, made (passing) when the dataset has none."""
        name = self._dataset_name(dataset)
        if name is None:
            raise ValueError(f"unknown dataset {dataset!r}")
        dataset_id = self._datasets()[name]
        for check in self._scans.checks.values():
            if check.dataset_id == dataset_id and check.path == path:
                return check
        check = EmulatedCheck(
            f"chk-{name}-{path.replace('.', '-')}", path, dataset_id, name, "pass", path=path
        )
        self._scans.add_check(check)
        return check


def _runner(runner: Runner) -> dict[str, Any]:
    return {
        "id": runner.id,
        "name": runner.name,
        "label": runner.name,
        "isOnline": runner.online,
        "lastSeenTimestamp": runner.last_seen.isoformat(),
        "type": runner.type,
    }


def _bad(message: str) -> tuple[int, Any, dict[str, str]]:
    return 400, {"code": "bad_request", "message": message}, {}


def _not_found(message: str) -> tuple[int, Any, dict[str, str]]:
    return 404, {"code": "not_found", "message": message}, {}
