"""Soda's check results in OpenLineage, through Airflow's real OpenLineage listener.

Each DAG runs under ``dag.test()`` in a process of its own (the listener is registered when
Airflow loads plugins, once per process), with the file transport; every event written is
parsed and validated against OpenLineage's RunEvent schema (tests/openlineage/) and the
provider's run facet schema.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from airflow_provider_soda.testing import SodaCloudEmulator
from airflow_provider_soda.testing.emulator_scans import EmulatedCheck, ScanDefinition

ROOT = Path(__file__).resolve().parent.parent
EVENT_SCHEMA = json.loads((ROOT / "tests" / "openlineage" / "run_event.schema.json").read_text())
FACET_SCHEMA = json.loads(
    (ROOT / "airflow_provider_soda" / "lineage" / "SodaCloudScanRunFacet.json").read_text()
)
#: The spec's RunFacet, which the provider's facet schema extends, resolved offline.
_REGISTRY = Registry().with_resource(
    "https://openlineage.io/spec/2-0-2/OpenLineage.json",
    Resource.from_contents(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": {"RunFacet": EVENT_SCHEMA["$defs"]["facet"]},
        }
    ),
)
MAPPED = "postgres://warehouse.example.com:5432"
RUN_SCRIPT = (
    "import json, sys\n"
    "from airflow_provider_soda.testing.dag_test import run_dag\n"
    "run = run_dag(sys.argv[1])\n"
    # To a file: OpenLineage's forked processes write to the same stdout at the same moment.
    "open(sys.argv[2], 'w').write('DAG RUN STATE ' + str(run.state))\n"
)


@pytest.fixture
def emulator() -> Any:
    """An emulator whose scan ``lineage_mix`` has every outcome, on two datasources."""
    with SodaCloudEmulator() as running:
        checks = [
            EmulatedCheck("chk-pass", "row_count > 0", "ds-orders", "orders"),
            EmulatedCheck("chk-fail", "missing_count(id) = 0", "ds-orders", "orders", column="id"),
            EmulatedCheck(
                "chk-warn", "freshness(created_at) < 1d", "ds-orders", "orders", column="created_at"
            ),
            EmulatedCheck("chk-skipped", "schema has no changes", "ds-orders", "orders"),
            EmulatedCheck("chk-excluded", "duplicate_count(id) = 0", "ds-orders", "orders"),
            EmulatedCheck("chk-lake", "row_count > 10", "ds-events", "events", datasource="lake"),
        ]
        for check in checks:
            running.scans.add_check(check)
        results = {"chk-pass": "pass", "chk-fail": "fail", "chk-warn": "warn", "chk-skipped": "notEvaluated",
                   "chk-excluded": "excluded", "chk-lake": "pass"}  # fmt: skip
        running.scans.add_definition(
            ScanDefinition(
                "lineage_mix",
                list(results),
                duration=0.3,
                queuing=0.1,
                outcome="completedWithFailures",
                check_results=results,
            )
        )
        yield running


def run_with_lineage(
    emulator: SodaCloudEmulator, dag_id: str, tmp_path: Path, *, env: dict[str, str] | None = None,
    lineage: bool = True, prelude: str = "",
) -> tuple[str, list[dict[str, Any]]]:  # fmt: skip
    """Run ``dag_id`` in a new process; return its output and the OpenLineage events it wrote."""
    events = tmp_path / f"{dag_id}.openlineage.jsonl"
    environment = {
        **os.environ,
        "AIRFLOW_CONN_SODA_CLOUD_DEFAULT": emulator.airflow_connection(),
        "AIRFLOW__SODA_CLOUD__OPENLINEAGE_NAMESPACES": json.dumps({"warehouse": MAPPED}),
        **(env or {}),
    }
    if lineage:
        environment["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
            {"type": "file", "log_file_path": str(events), "append": True}
        )
    script = tmp_path / "run_dag.py"
    script.write_text(prelude + RUN_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), dag_id, str(tmp_path / f"{dag_id}.state")], env=environment, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    state = tmp_path / f"{dag_id}.state"
    output = (state.read_text() if state.exists() else "no state written") + "\n" + done.stdout + done.stderr
    (tmp_path / f"{dag_id}.output.txt").write_text(output)
    assert done.returncode == 0, output[-4000:]
    written = [json.loads(line) for line in events.read_text().splitlines()] if events.exists() else []
    for event in written:
        Draft202012Validator(EVENT_SCHEMA, format_checker=FormatChecker()).validate(event)
        facet = event["run"].get("facets", {}).get("sodaCloud_scan")
        if facet is not None:
            Draft202012Validator(FACET_SCHEMA, registry=_REGISTRY, format_checker=FormatChecker()).validate(
                {"sodaCloud_scan": facet}
            )
    return output, written


def task_event(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (event,) = [e for e in events if e["eventType"] == kind and "." in e["job"]["name"]]
    return event


def assertions(event: dict[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    return {
        (i["namespace"], i["name"]): [
            {k: v for k, v in a.items() if k in ("assertion", "success", "column", "severity")}
            for a in i["inputFacets"]["dataQualityAssertions"]["assertions"]
        ]
        for i in event["inputs"]
    }


EXPECTED = {
    (MAPPED, "analytics.public.orders"): [
        {"assertion": "row_count > 0", "success": True},
        {"assertion": "missing_count(id) = 0", "success": False, "column": "id", "severity": "error"},
        {
            "assertion": "freshness(created_at) < 1d",
            "success": False,
            "column": "created_at",
            "severity": "warn",
        },
    ],
    ("soda://lake", "analytics.public.events"): [{"assertion": "row_count > 10", "success": True}],
}


# The excerpt docs/lineage.md shows: what the listener writes for soda_test_lineage_scan (the
# assertion fields and the run facet without its ids and links), checked against a real run below.
# [START lineage_event_excerpt]
DOCUMENTED_EVENT = {
    "eventType": "COMPLETE",
    "job": {"namespace": "default", "name": "soda_test_lineage_scan.scan"},
    "inputs": [
        {
            "namespace": "postgres://warehouse.example.com:5432",  # mapped: [soda_cloud] openlineage_namespaces
            "name": "analytics.public.orders",
            "inputFacets": {
                "dataQualityAssertions": {
                    "assertions": [
                        {"assertion": "row_count > 0", "success": True},
                        {
                            "assertion": "missing_count(id) = 0",
                            "column": "id",
                            "severity": "error",
                            "success": False,
                        },
                        {
                            "assertion": "freshness(created_at) < 1d",
                            "column": "created_at",
                            "severity": "warn",
                            "success": False,
                        },
                    ]
                }
            },
        },
        {
            "namespace": "soda://lake",  # not mapped
            "name": "analytics.public.events",
            "inputFacets": {
                "dataQualityAssertions": {"assertions": [{"assertion": "row_count > 10", "success": True}]}
            },
        },
    ],
    "run": {
        "facets": {
            "sodaCloud_scan": {
                "version": "1-0-0",
                "state": "completedWithFailures",
                "scanDefinition": "lineage_mix",
                "checksTotal": 6,
                "failures": 1,
                "warnings": 1,
                "errors": 1,
                "assertionsReported": 4,
            }
        }
    },
}
# [END lineage_event_excerpt]


def excerpt(event: dict[str, Any]) -> dict[str, Any]:
    """The parts of an emitted event that DOCUMENTED_EVENT shows."""
    kept = ("assertion", "success", "column", "severity")
    return {
        "eventType": event["eventType"],
        "job": {k: event["job"][k] for k in ("namespace", "name")},
        "inputs": [
            {"namespace": i["namespace"], "name": i["name"], "inputFacets": {"dataQualityAssertions": {"assertions": [
                {k: v for k, v in a.items() if k in kept}
                for a in i["inputFacets"]["dataQualityAssertions"]["assertions"]]}}}
            for i in event["inputs"]
        ],
        "run": {"facets": {"sodaCloud_scan": {
            k: v for k, v in event["run"]["facets"]["sodaCloud_scan"].items()
            if k not in ("_producer", "_schemaURL", "url", "scanId")}}},
    }  # fmt: skip


def checks_reads(emulator: SodaCloudEmulator) -> int:
    return sum(1 for r in emulator.requests_to("list_checks") if "checkIds" in r.query)


def test_a_scan_reports_each_evaluated_check_on_its_dataset(
    emulator: SodaCloudEmulator, tmp_path: Path, airflow_db: None
) -> None:
    output, events = run_with_lineage(emulator, "soda_test_lineage_scan", tmp_path)
    assert "DAG RUN STATE success" in output, output[-3000:]
    complete = task_event(events, "COMPLETE")
    assert assertions(complete) == EXPECTED  # notEvaluated and excluded are left out
    assert excerpt(complete) == DOCUMENTED_EVENT
    facet = complete["run"]["facets"]["sodaCloud_scan"]
    assert {k: facet[k] for k in ("state", "checksTotal", "failures", "warnings", "errors", "assertionsReported")} == {
        # Soda counts the check it could not evaluate as an error; it is in no assertion.
        "state": "completedWithFailures", "checksTotal": 6, "failures": 1, "warnings": 1, "errors": 1,
        "assertionsReported": 4,
    }  # fmt: skip
    assert facet["scanDefinition"] == "lineage_mix"
    assert facet["url"].startswith(emulator.url)
    # The operator did not read the checks (no resolution): lineage read them, once.
    assert checks_reads(emulator) == 1
    # One warning per task names the unmapped datasource and the option.
    # (as often as a line the task logs once: some Airflow lines print each task log line twice)
    once = output.count("ended completedWithFailures")
    assert once >= 1
    assert output.count("have no namespace in [soda_cloud] openlineage_namespaces") == once
    assert "lake" in output


def test_a_deferred_scan_reports_the_same(
    emulator: SodaCloudEmulator, tmp_path: Path, airflow_db: None
) -> None:
    output, events = run_with_lineage(emulator, "soda_test_lineage_scan_deferred", tmp_path)
    assert "DAG RUN STATE success" in output, output[-3000:]
    assert assertions(task_event(events, "COMPLETE")) == EXPECTED
    assert checks_reads(emulator) == 1


def test_a_failed_task_reports_too(emulator: SodaCloudEmulator, tmp_path: Path, airflow_db: None) -> None:
    output, events = run_with_lineage(emulator, "soda_test_lineage_scan_failing", tmp_path)
    assert "DAG RUN STATE failed" in output, output[-3000:]
    failed = task_event(events, "FAIL")
    assert assertions(failed) == EXPECTED
    assert failed["run"]["facets"]["sodaCloud_scan"]["state"] == "completedWithFailures"


def test_the_checks_the_resolution_read_are_not_read_again(
    emulator: SodaCloudEmulator, tmp_path: Path, airflow_db: None
) -> None:
    _, events = run_with_lineage(emulator, "soda_test_lineage_scan_resolving", tmp_path)
    assert assertions(task_event(events, "COMPLETE")) == EXPECTED
    assert checks_reads(emulator) == 1


def test_a_contract_verification_reports_its_dataset(
    emulator: SodaCloudEmulator, tmp_path: Path, airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", emulator.airflow_connection())
    output, events = run_with_lineage(emulator, "soda_test_lineage_contract", tmp_path)
    assert "DAG RUN STATE success" in output, output[-3000:]
    complete = task_event(events, "COMPLETE")
    (dataset,) = assertions(complete)
    assert dataset == (MAPPED, "analytics.public.orders")
    reported = {a["assertion"]: a["success"] for a in assertions(complete)[dataset]}
    # What this verification found, as Soda Cloud reports it.
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    scan = SodaCloudHook().get_scan(complete["run"]["facets"]["sodaCloud_scan"]["scanId"])
    names = {"chk-orders-row-count": "Row count anomaly on orders", "chk-orders-duplicates": "No duplicate order ids",
             "chk-orders-freshness": "Orders fresher than 1d"}  # fmt: skip
    assert reported == {names[c.id]: c.status_value == "pass" for c in scan.checks}
    assert len(reported) == 3


def test_bad_namespaces_json_is_one_error_and_fails_nothing(
    emulator: SodaCloudEmulator, tmp_path: Path, airflow_db: None
) -> None:
    output, events = run_with_lineage(
        emulator,
        "soda_test_lineage_scan",
        tmp_path,
        env={"AIRFLOW__SODA_CLOUD__OPENLINEAGE_NAMESPACES": "{warehouse"},
    )
    assert "DAG RUN STATE success" in output, output[-3000:]
    once = output.count("ended completedWithFailures")
    assert once >= 1
    assert output.count("[soda_cloud] openlineage_namespaces is not valid JSON") == once
    namespaces = {namespace for namespace, _ in assertions(task_event(events, "COMPLETE"))}
    assert namespaces == {"soda://warehouse", "soda://lake"}


def test_with_openlineage_disabled_nothing_changes(
    emulator: SodaCloudEmulator, tmp_path: Path, airflow_db: None
) -> None:
    output, events = run_with_lineage(emulator, "soda_test_lineage_scan", tmp_path, lineage=False)
    assert "DAG RUN STATE success" in output, output[-3000:]
    assert events == []
    assert checks_reads(emulator) == 0  # no extra request at all


def test_without_openlineage_the_facets_method_costs_nothing(
    emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the OpenLineage provider no listener calls the method; called anyway, it answers None
    before any request (OpenLineage is imported first)."""
    from airflow_provider_soda.models import Scan
    from airflow_provider_soda.operators.scans import SodaCloudScanOperator

    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", emulator.airflow_connection())
    for name in (
        "airflow_provider_soda.lineage.facets",
        "openlineage",
        "airflow.providers.openlineage.extractors",
    ):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    operator = SodaCloudScanOperator(task_id="scan", scan_definition="lineage_mix")
    operator._lineage_scan = Scan.model_validate(
        {"id": "s1", "state": "completed", "checks": [{"id": "chk-pass", "evaluationStatus": "pass"}]}
    )
    assert operator.get_openlineage_facets_on_complete(None) is None
    assert operator.get_openlineage_facets_on_failure(None) is None
    assert checks_reads(emulator) == 0


def test_dag_files_do_not_import_openlineage() -> None:
    """Airflow itself reads every provider's metadata (``get_provider_info``); the client, the
    extractors and this provider's facets are imported only when the listener asks."""
    code = (
        "import sys\n"
        "import airflow_provider_soda.operators.scans, airflow_provider_soda.operators.contracts\n"
        "heavy = ('openlineage', 'airflow.providers.openlineage.extractors', 'airflow.providers.openlineage.plugins',"
        " 'airflow_provider_soda.lineage.facets')\n"
        "print(sorted(m for m in sys.modules if m == 'openlineage' or m.startswith(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("qualified", "expected"),
    [
        ("warehouse/analytics/public/orders", ("warehouse", MAPPED, "analytics.public.orders")),
        ("lake/events", ("lake", "soda://lake", "events")),
        ("orders", ("unknown", "soda://unknown", "orders")),
        (None, ("unknown", "soda://unknown", "ds-7")),
    ],
)
def test_soda_datasets_are_named_as_the_warehouse_names_them(
    qualified: str | None, expected: tuple[str, ...]
) -> None:
    from airflow_provider_soda.lineage.naming import openlineage_dataset

    assert openlineage_dataset(qualified, "ds-7", {"warehouse": MAPPED}) == expected


@pytest.mark.parametrize(
    ("setting", "error"),
    [('["warehouse"]', "must be a JSON object"), ('{"warehouse": 5}', "must be a JSON object"),
     ("{bad", "is not valid JSON"), ("", None), ('{"warehouse": "postgres://h:5432/"}', None)],
)  # fmt: skip
def test_the_namespaces_option_is_read_or_named_in_one_error(
    setting: str, error: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_soda.lineage.naming import datasource_namespaces

    class Log:  # what the operator's logger is given, in order
        errors: list[str] = []

        def error(self, message: str, *args: Any) -> None:
            self.errors.append(message % args)

    monkeypatch.setenv("AIRFLOW__SODA_CLOUD__OPENLINEAGE_NAMESPACES", setting)
    log = Log()
    mapping = datasource_namespaces(log)
    if error is None:
        assert log.errors == []
        assert mapping == ({"warehouse": "postgres://h:5432"} if setting else {})
    else:
        assert mapping == {}
        (message,) = log.errors
        assert error in message
        assert "openlineage_namespaces" in message


def test_failures_are_kept_when_a_scan_has_more_checks_than_are_reported() -> None:
    """150 checks Soda did not evaluate must not crowd the 20 failures out of the 100 kept."""
    from airflow_provider_soda.lineage.facets import operator_lineage
    from airflow_provider_soda.models import Check, Scan
    from airflow_provider_soda.scanning import MAX_REPORTED_CHECKS

    statuses = ["notEvaluated"] * 150 + ["fail"] * 20 + ["pass"] * 500 + ["excluded"] * 30
    scan = Scan.model_validate(
        {"id": "s", "state": "completedWithFailures",
         "checks": [{"id": f"c{n}", "evaluationStatus": status} for n, status in enumerate(statuses)]}
    )  # fmt: skip
    bounded = scan.bounded(MAX_REPORTED_CHECKS)
    assert [c.status_value for c in bounded.checks] == ["fail"] * 20 + ["pass"] * 80
    checks = [
        Check.model_validate(
            {"id": c.id, "name": c.id, "datasets": [{"id": "d", "qualifiedName": "dw/a/b/t"}]}
        )
        for c in bounded.checks
    ]
    lineage = operator_lineage(bounded, checks, log=logging.getLogger("test"))
    (dataset,) = lineage.inputs
    reported = dataset.inputFacets["dataQualityAssertions"].assertions
    assert sum(not a.success for a in reported) == 20
    facet = lineage.run_facets["sodaCloud_scan"]
    assert (facet.checksTotal, facet.failures, facet.assertionsReported) == (700, 20, 100)


def test_a_slow_or_refused_checks_read_reports_the_run_without_assertions(
    emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One attempt, within the deadline: a late answer or a 429 is not waited out (the listener
    would lose the whole event), and the run facet is still reported."""
    from airflow_provider_soda.models import Scan
    from airflow_provider_soda.operators.scans import SodaCloudScanOperator
    from airflow_provider_soda.testing import Fault

    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", emulator.airflow_connection())
    scan = Scan.model_validate(
        {"id": "s1", "state": "completedWithFailures",
         "checks": [{"id": "chk-fail", "evaluationStatus": "fail"}, {"id": "chk-skipped", "evaluationStatus": "notEvaluated"}]}
    )  # fmt: skip
    for fault in (Fault(endpoint="list_checks", delay=8.0), Fault(endpoint="list_checks", status=429)):
        before = checks_reads(emulator)
        emulator.inject(fault)
        operator = SodaCloudScanOperator(task_id="scan", scan_definition="lineage_mix")
        operator._lineage_scan = scan
        lineage = operator.get_openlineage_facets_on_complete(None)
        assert lineage.inputs == []
        assert lineage.run_facets["sodaCloud_scan"].failures == 1
        # one attempt, no retry (the late one is recorded when the emulator answers it, after the deadline)
        for _ in range(100):
            if checks_reads(emulator) - before >= 1:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        assert checks_reads(emulator) - before == 1
        # Only the evaluated check was asked for.
        assert emulator.requests_to("list_checks")[-1].query["checkIds"] == ["chk-fail"]
