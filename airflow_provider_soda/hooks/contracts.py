"""Soda v4: data contracts, their verification on a Soda Runner, Runners, one-dataset reads.

A verification is a scan like any other once started (``X-Soda-Scan-Id``): its status, logs,
cancel and checks go through :mod:`airflow_provider_soda.hooks.scans` and ``checks``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from airflow_provider_soda.endpoints import (
    CREATE_CONTRACT,
    GET_CONTRACT,
    GET_DATASET,
    GET_DATASET_BY_NAME,
    GET_RUNNER,
    LIST_CONTRACTS,
    LIST_RUNNERS,
    MAX_LIST_ITEMS,
    PUBLISH_CONTRACT,
    VERIFY_CONTRACT,
)
from airflow_provider_soda.exceptions import SodaCloudBadRequestError, SodaCloudValidationError
from airflow_provider_soda.hooks.scans import ScansAPI
from airflow_provider_soda.hooks.transport import _page_size, _parse
from airflow_provider_soda.models import (
    Contract,
    ContractEnvelope,
    ContractPage,
    DatasetRef,
    Runner,
    RunnerPage,
    normalise_id,
)

#: A contract's YAML larger than this is refused before any request (Soda's contracts are small texts).
MAX_CONTRACT_BYTES = 1024 * 1024


class ContractsAPI(ScansAPI):
    """The contract, Runner and one-dataset endpoints, on the one call path of the hook."""

    def list_contracts(
        self,
        *,
        dataset_id: str | None = None,
        dataset_qualified_name: str | None = None,
        page_size: int = MAX_LIST_ITEMS,
    ) -> Iterator[Contract]:
        """Iterate over contracts, all or those of one dataset, a page per request, lazily.

        :param dataset_id: only the contract of this dataset.
        :param dataset_qualified_name: only the contract of the dataset of this name
            (``datasource/db/schema/table``). Not together with ``dataset_id``.
        :raises SodaCloudValidationError: both filters, or an invalid one (nothing was sent).
        """
        if dataset_id is not None and dataset_qualified_name is not None:
            raise SodaCloudValidationError(
                "list_contracts takes dataset_id or dataset_qualified_name, not both (Soda Cloud refuses both)."
            )
        query: dict[str, str] = {}
        if dataset_id is not None:
            query["datasetId"] = normalise_id(dataset_id, "dataset_id")
        if dataset_qualified_name is not None:
            query["datasetQualifiedName"] = normalise_qualified_name(dataset_qualified_name)
        size = _page_size(page_size, smallest=10)
        which = next(iter(query.values()), None)
        subject = "listing of contracts" + (f" of dataset {which!r}" if which else "")
        return self._listing(LIST_CONTRACTS, query, size, subject, ContractPage)

    def get_contract(self, contract_id: str) -> Contract:
        """Read a contract with its published YAML (``contents``); 1,000 per 60 s."""
        contract_id = normalise_id(contract_id, "contract_id")
        subject = f"read of contract {contract_id!r}"
        body = self._call(GET_CONTRACT, _path(GET_CONTRACT.path, contract_id=contract_id), subject=subject)
        return _parse(ContractEnvelope, body, subject, self.base_url).contract

    def create_contract(
        self, contents: str, *, dataset_qualified_name: str | None = None, dataset_id: str | None = None
    ) -> Contract:
        """Create the contract of a dataset (exactly one of ``dataset_qualified_name``, ``dataset_id``).

        Not repeated once the request may have reached Soda Cloud (a second attempt could find
        the contract made by the first).
        """
        if (dataset_qualified_name is None) == (dataset_id is None):
            raise SodaCloudValidationError(
                "create_contract takes exactly one of dataset_qualified_name and dataset_id."
            )
        body: dict[str, Any] = {"contents": contract_yaml(contents)}
        if dataset_id is not None:
            body["datasetId"] = normalise_id(dataset_id, "dataset_id")
        else:
            body["datasetQualifiedName"] = normalise_qualified_name(dataset_qualified_name)
        which = body.get("datasetQualifiedName") or body.get("datasetId")
        subject = f"creation of the contract of dataset {which!r}"
        answer = self._call(CREATE_CONTRACT, CREATE_CONTRACT.path, subject=subject, json=body)
        contract = _parse(ContractEnvelope, answer, subject, self.base_url).contract
        self.log.info("Created Soda Cloud contract %s of dataset %r.", contract.id, which)
        return contract

    def publish_contract(self, contract_id: str, contents: str) -> Contract:
        """Publish new YAML for a contract: every verification after it, Soda's schedules too, uses it.

        :raises SodaCloudBadRequestError: Soda refused the YAML (not a contract, or naming another
            dataset than the contract's).
        """
        contract_id = normalise_id(contract_id, "contract_id")
        subject = f"publication of contract {contract_id!r}"
        answer = self._call(
            PUBLISH_CONTRACT,
            _path(PUBLISH_CONTRACT.path, contract_id=contract_id),
            subject=subject,
            json={"contents": contract_yaml(contents)},
        )
        contract = _parse(ContractEnvelope, answer, subject, self.base_url).contract
        self.log.info("Published new YAML for Soda Cloud contract %s.", contract_id)
        return contract

    def verify_contract(self, contract_id: str, *, check_paths: Sequence[str] | None = None) -> str:
        """Verify a contract's published YAML on a Soda Runner (formerly Soda Agent); return the scan id.

        Follow the scan with :meth:`get_scan`, :meth:`scan_logs` and :meth:`cancel_scan`. Never
        repeated once the request may have reached Soda Cloud: the error is then not retryable.

        :param check_paths: verify only these checks of the contract (``checks.row_count``,
            ``columns.id.checks.missing``...); not every organisation may use them.
        """
        contract_id = normalise_id(contract_id, "contract_id")
        paths = normalise_check_paths(check_paths)
        body: dict[str, Any] = {} if paths is None else {"checkPaths": paths}
        subject = f"verification of contract {contract_id!r}"
        try:
            response = self._exchange(
                VERIFY_CONTRACT,
                _path(VERIFY_CONTRACT.path, contract_id=contract_id),
                subject=subject,
                json=body,
                expect_json=False,
            )
        except SodaCloudBadRequestError as err:
            if paths is None:
                raise
            raise SodaCloudBadRequestError(
                f"{err} check_paths may not be available to this organisation in Soda Cloud: verify the "
                "whole contract (no check_paths), or ask Soda to enable check paths.",
                status_code=err.status_code,
                code=err.code,
                server_message=err.server_message,
                trace_id=err.trace_id,
                url=err.url,
            ) from err
        scan_id = self._started_scan_id(response, VERIFY_CONTRACT, subject)
        self.log.info("Started Soda Cloud verification scan %s of contract %s.", scan_id, contract_id)
        return scan_id

    def list_runners(self, *, page_size: int = MAX_LIST_ITEMS) -> Iterator[Runner]:
        """Iterate over the organisation's Soda Runners (formerly Soda Agents), lazily."""
        size = _page_size(page_size, smallest=10)
        return self._listing(LIST_RUNNERS, {}, size, "listing of Soda Runners", RunnerPage)

    def get_runner(self, runner_id: str) -> Runner:
        """Read one Soda Runner (formerly Soda Agent)."""
        runner_id = normalise_id(runner_id, "runner_id")
        subject = f"read of Soda Runner {runner_id!r}"
        body = self._call(GET_RUNNER, _path(GET_RUNNER.path, runner_id=runner_id), subject=subject)
        return _parse(Runner, body, subject, self.base_url)

    def get_dataset(self, *, dataset_id: str | None = None, qualified_name: str | None = None) -> DatasetRef:
        """Read one dataset by id or by qualified name (1,000 per 60 s, unlike the listing's 10)."""
        if (dataset_id is None) == (qualified_name is None):
            raise SodaCloudValidationError("get_dataset takes exactly one of dataset_id and qualified_name.")
        if dataset_id is not None:
            dataset_id = normalise_id(dataset_id, "dataset_id")
            endpoint, path, which = GET_DATASET, _path(GET_DATASET.path, dataset_id=dataset_id), dataset_id
        else:
            name = normalise_qualified_name(qualified_name)
            endpoint, which = GET_DATASET_BY_NAME, name
            path = _path(GET_DATASET_BY_NAME.path, qualified_name=name)
        subject = f"read of dataset {which!r}"
        return _parse(DatasetRef, self._call(endpoint, path, subject=subject), subject, self.base_url)


def normalise_qualified_name(value: Any) -> str:
    """Check a dataset qualified name (``datasource/db/schema/table``) before any request."""
    name = normalise_id(
        value, "dataset", hint="Give the dataset's qualified name: datasource/db/schema/table."
    )
    if "/" not in name:
        raise SodaCloudValidationError(
            f"dataset {name!r} is not a qualified name: Soda names a dataset datasource/db/schema/table "
            "(its page in Soda Cloud shows it)."
        )
    return name


def contract_yaml(value: Any) -> str:
    """Check a contract's YAML text (a non-empty string, at most 1 MiB) before any request."""
    if not isinstance(value, str) or not value.strip():
        raise SodaCloudValidationError("A contract's contents must be its YAML text, not empty.")
    if len(value.encode()) > MAX_CONTRACT_BYTES:
        raise SodaCloudValidationError(
            "A contract's YAML is larger than 1 MiB; Soda's contracts are small texts."
        )
    return value


def normalise_check_paths(value: Any) -> list[str] | None:
    """Check ``check_paths``: None (the whole contract) or a non-empty list of non-empty strings."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise SodaCloudValidationError(f"check_paths must be a list of check paths, got {value!r}.")
    paths = [p.strip() for p in value if isinstance(p, str) and p.strip()]
    if len(paths) != len(value) or not paths:
        raise SodaCloudValidationError(
            f"check_paths must be a non-empty list of check paths (checks.row_count, columns.id.checks.missing), "
            f"got {value!r}; leave it out to verify the whole contract."
        )
    return list(dict.fromkeys(paths))


def _path(template: str, **ids: str) -> str:
    return template.format(**{name: quote(value, safe="") for name, value in ids.items()})
