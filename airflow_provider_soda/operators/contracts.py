"""Operator that verifies a Soda v4 data contract on a Soda Runner and waits for its outcome."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_soda.hooks.contracts import normalise_check_paths
from airflow_provider_soda.links.scans import SodaCloudContractLink, SodaCloudScanLink
from airflow_provider_soda.operators._base import fail_fast
from airflow_provider_soda.operators._scan_run import SodaCloudScanRunBase
from airflow_provider_soda.scanning import DEFAULT_RUNNER_CHECK_AFTER

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_soda.models import Contract

#: XCom keys of the verified contract's id and dataset, pushed before the verification starts.
CONTRACT_ID_XCOM_KEY = "soda_cloud_contract_id"
CONTRACT_DATASET_XCOM_KEY = "soda_cloud_contract_dataset"


class SodaCloudVerifyContractOperator(SodaCloudScanRunBase):
    """Verify a dataset's data contract on a Soda Runner (formerly Soda Agent) and fail on what it finds.

    Soda v4's way to run checks from a pipeline, without soda-core in the Airflow image:
    ``POST /api/v1/contracts/{id}/verify`` starts a scan of the contract's published YAML, and
    from then on everything works as on :class:`~airflow_provider_soda.operators.scans.SodaCloudScanOperator`
    (one implementation): the wait in the worker or the triggerer, ``fail_on``, the log copy,
    cancellation, verified resolution, the XCom outcome (plus ``contract_id`` and ``dataset``)
    and the links (the scan, and the dataset's contract page). Organisations on Soda v3 (scan
    definitions on a Soda Agent) use the scan operator instead.

    Which contract, exactly one of:

    - ``dataset``: the dataset's qualified name (``datasource/db/schema/table``); its published
      contract is verified. A dataset without a contract fails at once, without retries.
    - ``contract_id``: the contract's id.
    - ``contract_file``: a contract YAML kept in the DAG repository ("git-managed contracts"),
      a path relative to the DAG file's folder. Its ``dataset:`` names the dataset; the file is
      published when it differs from the published YAML (nothing is sent when they are the same),
      or becomes the dataset's contract when it has none; the log says which. **Publishing changes
      the contract for everyone**: every later verification, Soda's own schedules included, uses it.

    When the verification stays ``queuing`` for ``runner_check_after`` seconds, the Soda Runners are
    read once and named in a warning with when each was last seen (a Runner offline is the usual
    reason; deferred, the warning comes with the trigger's event).

    :param dataset: the dataset's qualified name (templated).
    :param contract_id: the contract's id (templated).
    :param contract_file: a contract YAML file, relative to the DAG file's folder (templated).
    :param check_paths: verify only these checks of the contract (``checks.row_count``,
        ``columns.id.checks.missing``; templated); not every organisation may use them.
    :param runner_check_after: seconds of ``queuing`` before the Runners are read (None: never).
    :param wait_for_completion: wait for the verification to end (default); otherwise return once it started.
    :param poll_interval: seconds between status polls when Soda Cloud suggests none.
    :param timeout: seconds to wait before cancelling the verification and failing (default 3 h).
    """

    template_fields: Sequence[str] = (
        "dataset",
        "contract_id",
        "contract_file",
        "check_paths",
        *SodaCloudScanRunBase.template_fields,
    )
    operator_extra_links: tuple[SodaCloudScanLink, ...] = (SodaCloudScanLink(), SodaCloudContractLink())

    def __init__(
        self,
        *,
        dataset: str | None = None,
        contract_id: str | None = None,
        contract_file: str | None = None,
        check_paths: Sequence[str] | None = None,
        runner_check_after: float | None = DEFAULT_RUNNER_CHECK_AFTER,
        **kwargs: Any,
    ) -> None:
        super().__init__(runner_check_after=runner_check_after, **kwargs)
        given = [
            name
            for name, value in (
                ("dataset", dataset),
                ("contract_id", contract_id),
                ("contract_file", contract_file),
            )
            if value
        ]
        if len(given) != 1:
            raise ValueError(
                "Give exactly one of dataset (a qualified name, datasource/db/schema/table), contract_id, or "
                f"contract_file (a contract YAML in the DAG repository); got {', '.join(given) or 'none'}."
            )
        if isinstance(check_paths, str) and "{{" not in check_paths:
            raise ValueError(f"check_paths must be a list of check paths, got the string {check_paths!r}.")
        self.dataset = dataset
        self.contract_id = contract_id
        self.contract_file = contract_file
        self.check_paths = check_paths
        #: (contract id, dataset) of the contract this try verifies; pushed to XCom at the start.
        self._verified: tuple[str, str | None] | None = None

    def _what(self) -> str:
        if self._verified is not None:
            return f"the contract of dataset {self._verified[1] or self._verified[0]!r}"
        return f"the contract of {self.dataset or self.contract_id or self.contract_file!r}"

    def _start(self, context: Context) -> str:
        with fail_fast():
            check_paths = self._check_paths()  # before anything is published or created
            contract = self._contract()
        self._verified = (contract.id, contract.dataset_qualified_name)
        ti = context["ti"]
        ti.xcom_push(key=CONTRACT_ID_XCOM_KEY, value=contract.id)
        ti.xcom_push(key=CONTRACT_DATASET_XCOM_KEY, value=contract.dataset_qualified_name)
        with fail_fast():
            return self.hook.verify_contract(contract.id, check_paths=check_paths)

    def _outcome_extra(self) -> dict[str, Any]:
        contract_id, dataset = self._verified or (self.contract_id, self.dataset)
        return {"contract_id": contract_id, "dataset": dataset}

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger; which contract was verified comes back from XCom (no request)."""
        if self._verified is None:
            ti = context["ti"]
            pulled = [
                ti.xcom_pull(task_ids=ti.task_id, key=key, map_indexes=ti.map_index)
                for key in (CONTRACT_ID_XCOM_KEY, CONTRACT_DATASET_XCOM_KEY)
            ]
            if pulled[0]:
                self._verified = (str(pulled[0]), str(pulled[1]) if pulled[1] else None)
        return super().execute_complete(context, event)

    def _check_paths(self) -> list[str] | None:
        """Return the rendered ``check_paths``: a list, or a template that rendered a list as text."""
        value: Any = self.check_paths
        if isinstance(value, str):
            import ast
            import json

            text = value.strip()
            try:
                value = json.loads(text)
            except ValueError:
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    value = None
            if not isinstance(value, list):
                raise AirflowFailException(
                    f"check_paths rendered {text[:200]!r}, which is not a list of check paths. Give a list "
                    "(each item may be templated), or a template that renders a JSON list."
                )
        if value is None:
            return None
        return normalise_check_paths(value)  # an empty list is refused, never 'the whole contract'

    # -- which contract ------------------------------------------------------------------------

    def _contract(self) -> Contract:
        given = [name for name in ("dataset", "contract_id", "contract_file") if getattr(self, name)]
        if len(given) != 1:  # a template rendered empty (or two rendered something)
            raise AirflowFailException(
                f"After rendering, {len(given)} of dataset, contract_id and contract_file have a value "
                f"({', '.join(given) or 'none'}); exactly one must. Check the templates and the DAG run's conf."
            )
        if self.contract_id:
            return self.hook.get_contract(self.contract_id)
        if self.dataset:
            found = self._published_contract(self.dataset)
            if found is None:
                raise AirflowFailException(
                    f"Dataset {self.dataset!r} has no data contract in Soda Cloud at {self.hook.base_url} "
                    f"(connection {self.soda_cloud_conn_id!r}). Create one in Soda Cloud (the dataset's "
                    "Contract tab), or keep its YAML in the DAG repository and pass contract_file=... "
                    "(the operator then creates it). Check the name too: datasource/db/schema/table."
                )
            return found
        return self._contract_from_file()

    def _published_contract(self, dataset: str) -> Contract | None:
        return next(iter(self.hook.list_contracts(dataset_qualified_name=dataset)), None)

    def _contract_from_file(self) -> Contract:
        """Make the dataset's published contract the file's YAML: unchanged, published, or created."""
        path, contents = self._read_contract_file()
        dataset = _dataset_of(contents, path)
        found = self._published_contract(dataset)
        if found is None:
            created = self.hook.create_contract(contents, dataset_qualified_name=dataset)
            self.log.warning(
                "Created the Soda Cloud contract of dataset %r from %s: it had none.", dataset, path
            )
            return created
        published = self.hook.get_contract(found.id)
        if (published.contents or "").strip() == contents.strip():
            self.log.info(
                "The contract of dataset %r in Soda Cloud is already %s: verified as published, nothing "
                "was published.", dataset, path,
            )  # fmt: skip
            return published
        self.log.warning(
            "Publishing %s as the contract of dataset %r (contract %s): it differs from the published "
            "YAML. Every later verification of this dataset, Soda's own schedules included, uses it.",
            path, dataset, found.id,
        )  # fmt: skip
        return self.hook.publish_contract(found.id, contents)

    def _read_contract_file(self) -> tuple[str, str]:
        assert self.contract_file is not None
        path = self.contract_file
        if not os.path.isabs(path):
            fileloc = getattr(self.dag, "fileloc", None) if self.has_dag() else None  # type: ignore[no-untyped-call]
            path = os.path.join(os.path.dirname(fileloc), path) if fileloc else os.path.abspath(path)
        try:
            with open(path, encoding="utf-8") as handle:
                return path, handle.read()
        except OSError as err:
            raise AirflowFailException(
                f"contract_file {self.contract_file!r} cannot be read ({err.strerror}: {path}). Give a path "
                "relative to the DAG file's folder, or an absolute one, of a file the workers have."
            ) from err


def _dataset_of(contents: str, path: str) -> str:
    """Return the dataset a contract's YAML names (its ``dataset:`` key); a clear error when it names none."""
    import yaml

    from airflow_provider_soda.hooks.contracts import normalise_qualified_name

    try:
        document = yaml.safe_load(contents)
    except yaml.YAMLError as err:
        raise AirflowFailException(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from err
    dataset = document.get("dataset") if isinstance(document, dict) else None
    if not isinstance(dataset, str):
        raise AirflowFailException(
            f"{path} is not a Soda contract: it needs a 'dataset:' key with the dataset's qualified name "
            "(datasource/db/schema/table)."
        )
    return normalise_qualified_name(dataset)
