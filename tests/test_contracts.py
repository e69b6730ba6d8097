"""Soda v4: contracts verified on a Soda Runner, on the hook and in SodaCloudVerifyContractOperator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import DAGS_FOLDER, extra_link_url, task_instances, task_logs, xcom_value

from airflow_provider_soda.exceptions import (
    SodaCloudBadRequestError,
    SodaCloudNotFoundError,
    SodaCloudValidationError,
)
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
from airflow_provider_soda.links.scans import SodaCloudContractLink
from airflow_provider_soda.models import Scan
from airflow_provider_soda.operators.contracts import SodaCloudVerifyContractOperator
from airflow_provider_soda.scanning import scan_failure
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, Fault, SodaCloudEmulator
from airflow_provider_soda.testing.emulator_contracts import ORDERS_CONTRACT
from airflow_provider_soda.testing.emulator_scans import EmulatedCheck

ORDERS = "warehouse/analytics/public/orders"
MODES = ["worker", "deferred"]


@pytest.fixture
def hook(soda_cloud_emulator: SodaCloudEmulator) -> SodaCloudHook:
    return SodaCloudHook()


# -- the hook ---------------------------------------------------------------------------------------


def test_contracts_are_listed_read_and_refused_with_both_filters(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    (by_name,) = hook.list_contracts(dataset_qualified_name=ORDERS)
    (by_id,) = hook.list_contracts(dataset_id="ds-orders")
    assert by_name.id == by_id.id == "contract-orders"
    assert by_name.dataset_qualified_name == ORDERS
    assert hook.get_contract("contract-orders").contents == ORDERS_CONTRACT
    assert list(hook.list_contracts(dataset_qualified_name="warehouse/analytics/public/customers")) == []
    sent = len(soda_cloud_emulator.requests)
    with pytest.raises(SodaCloudValidationError, match="not both"):
        hook.list_contracts(dataset_id="ds-orders", dataset_qualified_name=ORDERS)
    with pytest.raises(SodaCloudValidationError, match="qualified name"):
        hook.list_contracts(dataset_qualified_name="orders")
    assert len(soda_cloud_emulator.requests) == sent  # refused before any request


def test_create_and_publish_return_the_contract_and_soda_s_400s_are_typed(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    customers = "warehouse/analytics/public/customers"
    created = hook.create_contract(
        f"dataset: {customers}\nchecks:\n  - row_count:\n", dataset_qualified_name=customers
    )
    assert created.dataset_qualified_name == customers
    assert created.dataset_id == "ds-customers"
    published = hook.publish_contract(created.id, f"dataset: {customers}\nchecks:\n  - schema:\n")
    assert "schema" in (published.contents or "")
    with pytest.raises(SodaCloudBadRequestError, match="not the contract's"):
        hook.publish_contract(created.id, f"dataset: {ORDERS}\nchecks: []\n")
    with pytest.raises(SodaCloudValidationError, match="exactly one"):
        hook.create_contract("dataset: x/y\n", dataset_qualified_name=customers, dataset_id="ds-customers")
    with pytest.raises(SodaCloudNotFoundError):
        hook.get_contract("contract-nope")


def test_verify_sends_the_body_soda_documents_and_returns_the_scan_id(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    whole = hook.verify_contract("contract-orders")
    some = hook.verify_contract("contract-orders", check_paths=["checks.row_count"])
    bodies = [r.body for r in soda_cloud_emulator.requests_to("verify_contract")]
    assert bodies == [{}, {"checkPaths": ["checks.row_count"]}]
    assert len(soda_cloud_emulator.scans.scan(whole)["checks"]) in (0, 3)  # none until it completes
    assert some != whole
    # the scan id from Location when X-Soda-Scan-Id is missing (as soda-cli does)
    soda_cloud_emulator.inject(
        Fault(
            status=201,
            body="",
            endpoint="verify_contract",
            headers={"Location": "/api/v1/scans/scan-located"},
        )
    )
    assert hook.verify_contract("contract-orders") == "scan-located"


def test_a_verify_of_unknown_outcome_is_never_sent_twice(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.inject(Fault(status=502, endpoint="verify_contract"))
    with pytest.raises(Exception, match="A verification may have started") as raised:
        hook.verify_contract("contract-orders")
    assert raised.value.retryable is False  # type: ignore[attr-defined]
    assert len(soda_cloud_emulator.requests_to("verify_contract")) == 1


def test_check_paths_refused_by_the_organisation_say_so(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.contracts.check_paths_allowed = False
    with pytest.raises(
        SodaCloudBadRequestError, match="check_paths may not be available to this organisation"
    ):
        hook.verify_contract("contract-orders", check_paths=["checks.row_count"])
    with pytest.raises(SodaCloudValidationError, match="check_paths"):
        hook.verify_contract("contract-orders", check_paths=[])


def test_runners_and_one_dataset_reads(hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator) -> None:
    (runner,) = hook.list_runners()
    assert (runner.id, runner.is_online, runner.type) == ("runner-1", True, "SELF_HOSTED")
    assert runner.last_seen is not None
    assert hook.get_runner("runner-1").name == "warehouse-runner"
    assert hook.get_dataset(qualified_name=ORDERS).id == "ds-orders"
    assert hook.get_dataset(dataset_id="ds-orders").qualified_name == ORDERS


# -- v4 states and results --------------------------------------------------------------------------


def test_v4_fields_and_excluded_checks_are_read_and_unknown_values_never_pass() -> None:
    scan = Scan.model_validate(
        {
            "id": "s",
            "state": "completed",
            "runnerId": "runner-1",
            "contractDatasetCloudUrl": "https://cloud.soda.io/datasets/ds/contract",
            "postProcessingStages": [{"name": "diagnosticWarehouse", "state": "ongoing"}],
            "checks": [{"id": "a", "evaluationStatus": "excluded"}, {"id": "b", "evaluationStatus": "pass"}],
        }
    )
    assert scan.runner_id == "runner-1"
    assert scan.post_processing_stages[0].state == "ongoing"
    assert scan.tally() == {"failures": 0, "warnings": 0, "errors": 0}  # excluded never fails a task
    assert scan_failure(scan, ("warnings", "failures", "errors")) is None
    future = Scan.model_validate({"id": "s", "state": "somethingNew"})
    assert future.state == "somethingNew"
    assert not future.is_final  # a state this provider does not know is never an end, nor a pass


# -- the operator -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_dataset_s_contract_is_verified_with_its_outcome_links_and_keys(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, mode: str
) -> None:
    soda_cloud_emulator.contracts.next_outcome(ORDERS, "completed", duration=0.5)
    dag_run = dag_test(f"soda_test_contract_{mode}")
    assert dag_run.state == "success"
    result = xcom_value(dag_run, "verify")
    assert (result["contract_id"], result["dataset"], result["state"]) == (
        "contract-orders",
        ORDERS,
        "completed",
    )
    assert {c["id"] for c in result["checks"]} == {
        "chk-orders-row-count",
        "chk-orders-duplicates",
        "chk-orders-freshness",
    }
    assert extra_link_url(dag_run, "verify", SodaCloudContractLink()).endswith("/datasets/ds-orders/contract")
    assert [r.body for r in soda_cloud_emulator.requests_to("verify_contract")] == [{}]


def test_a_dataset_without_a_contract_fails_at_once_naming_it(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    soda_cloud_emulator.contracts.contracts.clear()
    dag_run = dag_test("soda_test_contract_worker")
    logs = task_logs(capsys)
    assert dag_run.state == "failed"
    assert task_instances(dag_run)["verify"].try_number == 1  # retries=2, none used
    assert f"Dataset {ORDERS!r} has no data contract in Soda Cloud" in logs
    assert "contract_file" in logs
    assert soda_cloud_emulator.requests_to("verify_contract") == []


def test_a_failing_contract_fails_the_task_and_is_retried(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.contracts.next_outcome(
        ORDERS, "completedWithFailures", check_results={"checks.row_count": "fail"}, duration=0.3
    )
    dag_run = dag_test("soda_test_contract_worker")
    assert dag_run.state == "failed"
    assert len(soda_cloud_emulator.requests_to("verify_contract")) == 3  # retries=2, as for a scan


def test_a_contract_file_is_published_only_when_it_differs_and_created_when_missing(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    soda_cloud_emulator.contracts.next_outcome(ORDERS, "completed", duration=0.3)
    file_text = (DAGS_FOLDER / "contracts" / "orders.yml").read_text()

    first = dag_test("soda_test_contract_file")
    assert first.state == "success"
    assert [r.body for r in soda_cloud_emulator.requests_to("publish_contract")] == [{"contents": file_text}]
    assert "Publishing" in task_logs(capsys)

    again = dag_test("soda_test_contract_file")
    assert again.state == "success"
    assert len(soda_cloud_emulator.requests_to("publish_contract")) == 1  # equal now: nothing sent
    assert "nothing was published" in task_logs(capsys)
    assert [r.body for r in soda_cloud_emulator.requests_to("verify_contract")][-1] == {
        "checkPaths": ["checks.row_count"]
    }

    soda_cloud_emulator.contracts.contracts.clear()
    created = dag_test("soda_test_contract_file")
    assert created.state == "success"
    (create,) = soda_cloud_emulator.requests_to("create_contract")
    assert create.body == {"contents": file_text, "datasetQualifiedName": ORDERS}
    assert "Created the Soda Cloud contract of dataset" in task_logs(capsys)


@pytest.mark.parametrize("mode", MODES)
def test_verified_resolution_on_a_contract(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    soda_cloud_emulator.contracts.next_outcome(
        ORDERS, "completed", check_results={"columns.id.checks.duplicate": "excluded"}, duration=0.3
    )
    dag_run = dag_test(f"soda_test_contract_resolve_{mode}")
    logs = task_logs(capsys)
    assert dag_run.state == "success", logs
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "resolved"  # its check passed
    # the duplicates check was excluded: neither a pass nor a failure, so its incident stays open
    assert soda_cloud_emulator.incident("inc-orders-dup")["status"] != "resolved"
    assert "is excluded in this scan" in logs


def test_a_failing_check_outside_the_contract_keeps_its_incident_open(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.scans.add_check(
        EmulatedCheck(
            "chk-orders-monitor", "Orders volume monitor", "ds-orders", "orders", "fail", [DEMO_INCIDENT_ID]
        )
    )
    soda_cloud_emulator.contracts.next_outcome(ORDERS, "completed", duration=0.3)
    assert dag_test("soda_test_contract_resolve_worker").state == "success"
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] != "resolved"


@pytest.mark.parametrize("mode", MODES)
def test_a_verification_queued_with_no_runner_online_names_the_runners(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    soda_cloud_emulator.contracts.set_runners_online(False)
    dag_run = dag_test(f"soda_test_contract_queued_{mode}")
    logs = task_logs(capsys)
    assert dag_run.state == "failed"  # timeout=3: it never left the queue
    assert "has been queuing for" in logs
    assert "none is online: 'warehouse-runner' (SELF_HOSTED) offline, last seen" in logs
    assert len(soda_cloud_emulator.requests_to("list_runners")) == 1  # read once


def test_the_sensor_follows_a_verification_started_elsewhere(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.contracts.next_outcome(ORDERS, "completed", duration=0.6)
    dag_run = dag_test("soda_test_contract_sensor")
    assert dag_run.state == "success"
    assert xcom_value(dag_run, "wait")["state"] == "completed"
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "resolved"


def test_zero_or_two_sources_are_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="exactly one of dataset"):
        SodaCloudVerifyContractOperator(task_id="a")
    with pytest.raises(ValueError, match="got dataset, contract_id"):
        SodaCloudVerifyContractOperator(task_id="b", dataset=ORDERS, contract_id="c")
    with pytest.raises(ValueError, match="check_paths must be a list"):
        SodaCloudVerifyContractOperator(task_id="c", dataset=ORDERS, check_paths="checks.row_count")
    with pytest.raises(ValueError, match="wait_for_completion"):
        SodaCloudVerifyContractOperator(
            task_id="d", dataset=ORDERS, resolve_incidents=True, wait_for_completion=False
        )


def test_the_example_contract_file_is_the_seeded_contract_plus_its_comment() -> None:
    """make demo's story: the file differs from what Soda has only by its header comment."""
    example = Path(__file__).resolve().parents[1] / "example_dags" / "contracts" / "orders.yml"
    body = "".join(line for line in example.read_text().splitlines(keepends=True) if not line.startswith("#"))
    assert body == ORDERS_CONTRACT


def test_the_contract_verify_example(dag_test: Any, soda_cloud_emulator: SodaCloudEmulator) -> None:
    """The example's story on Soda v4: a failed load, a fix the contract does not confirm, then one it does."""
    dag_id = "example_soda_contract_verify"
    assert dag_test(dag_id, conf={"fail_pipeline": True}).state == "failed"
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "investigating"  # the notifier
    assert soda_cloud_emulator.requests_to("verify_contract") == []

    soda_cloud_emulator.contracts.next_outcome(
        ORDERS, "completedWithFailures", check_results={"checks.row_count": "fail"}, duration=0.3
    )
    assert dag_test(dag_id).state == "failed"
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] == "investigating"
    assert len(soda_cloud_emulator.requests_to("publish_contract")) == 1  # the file differed once

    soda_cloud_emulator.contracts.next_outcome(ORDERS, "completed", duration=0.3)
    dag_run = dag_test(dag_id)
    assert dag_run.state == "success"
    notes = soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["resolutionNotes"]
    assert dag_run.run_id in notes
    assert ORDERS in notes  # the dataset whose checks were read, by name
    assert len(soda_cloud_emulator.requests_to("publish_contract")) == 1


# -- found by the review of this work -------------------------------------------------------------


def test_a_resumed_verification_reads_nothing_again_so_a_failing_read_cannot_verify_twice(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.contracts.next_outcome(ORDERS, "completed", duration=0.5)
    soda_cloud_emulator.inject(Fault(status=503, endpoint="get_contract", times=10))
    dag_run = dag_test("soda_test_contract_deferred")
    assert dag_run.state == "success"
    assert len(soda_cloud_emulator.requests_to("verify_contract")) == 1
    assert soda_cloud_emulator.requests_to("get_contract") == []  # the contract comes from XCom
    result = xcom_value(dag_run, "verify")
    assert (result["contract_id"], result["dataset"]) == ("contract-orders", ORDERS)


def test_templated_check_paths_and_empty_sources_fail_clearly(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    soda_cloud_emulator.contracts.next_outcome(ORDERS, "completed", duration=0.3)
    good = dag_test("soda_test_contract_templated", conf={"paths": ["checks.row_count"]})
    assert good.state == "success"
    assert soda_cloud_emulator.requests_to("verify_contract")[-1].body == {"checkPaths": ["checks.row_count"]}

    empty = dag_test("soda_test_contract_templated", conf={"paths": []})
    assert empty.state == "failed"
    assert task_instances(empty)["verify"].try_number == 1
    assert "check_paths must be a non-empty list" in task_logs(capsys)

    no_source = dag_test("soda_test_contract_templated", conf={"dataset": ""})
    assert no_source.state == "failed"
    assert task_instances(no_source)["verify"].try_number == 1
    assert "exactly one must" in task_logs(capsys)
    assert len(soda_cloud_emulator.requests_to("verify_contract")) == 1


def test_a_refused_publication_says_what_soda_refuses(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    with pytest.raises(SodaCloudBadRequestError, match="not a valid Soda contract"):
        hook.publish_contract("contract-orders", "just: text\n")


def test_a_created_contract_answered_200_is_read_too(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    body = '{"contract": {"id": "contract-x", "datasetQualifiedName": "warehouse/analytics/public/refunds"}}'
    soda_cloud_emulator.inject(Fault(status=200, body=body, endpoint="create_contract"))
    refunds = "warehouse/analytics/public/refunds"
    created = hook.create_contract(f"dataset: {refunds}\n", dataset_qualified_name=refunds)
    assert created.id == "contract-x"


def test_unknown_check_results_never_count_as_a_pass(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.contracts.next_outcome(
        ORDERS, "completed", check_results={"checks.row_count": "somethingNew"}, duration=0.3
    )
    assert dag_test("soda_test_contract_resolve_worker").state == "success"
    assert soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["status"] != "resolved"  # its check: unknown


def test_runners_that_cannot_be_read_are_said_so_and_the_wait_goes_on(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    soda_cloud_emulator.contracts.set_runners_online(False)
    soda_cloud_emulator.inject(Fault(status=403, endpoint="list_runners", times=5))
    dag_run = dag_test("soda_test_contract_queued_worker")
    logs = task_logs(capsys)
    assert dag_run.state == "failed"  # its timeout: still queuing
    assert "the Runners could not be read" in logs
    assert soda_cloud_emulator.requests_to("cancel_scan")  # the timeout still cancels
