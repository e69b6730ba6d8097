"""The project's own copy of the Soda Cloud contract, and everything that must agree with it:
endpoint constants, pydantic models, and every response the emulator sends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from airflow_provider_soda.endpoints import ENDPOINTS, INCIDENT_LINK, REGIONS, RateLimit
from airflow_provider_soda.hooks.retry import parse_retry_after
from airflow_provider_soda.models import (
    Incident,
    IncidentPage,
    IncidentSeverity,
    IncidentStatus,
    IncidentUpdate,
)
from airflow_provider_soda.selection import IncidentSelection
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, Fault, SodaCloudEmulator

pytestmark = pytest.mark.airflow_agnostic  # run once, by make test (not make test-compat)

CONTRACT: dict[str, Any] = json.loads(
    files("airflow_provider_soda.testing").joinpath("soda_cloud_openapi.json").read_text()
)
SCHEMAS = CONTRACT["components"]["schemas"]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "soda-cloud-api" / "update-incident.openapi.json"
SHARED_INCIDENTS = SHARED.with_name("incidents.openapi.json")
_REGISTRY = Registry().with_resource("contract", DRAFT202012.create_resource(CONTRACT))


def validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"contract{ref}"}, registry=_REGISTRY)


def response_schema(path: str, method: str, status: int) -> str:
    responses = CONTRACT["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, which the contract does not list"
    return responses[str(status)]["content"]["application/json"]["schema"]["$ref"]


def test_endpoints_match_the_contract() -> None:
    for endpoint in ENDPOINTS.values():
        if endpoint is INCIDENT_LINK:  # a URL from a webhook delivery, not an API path
            continue
        path = (
            endpoint.path.replace("{incident_id}", "{incidentId}")
            .replace("{scan_id}", "{scanId}")
            .replace("{contract_id}", "{contractId}")
            .replace("{dataset_id}", "{datasetId}")
            .replace("{qualified_name}", "{datasetQualifiedName}")
            .replace("{runner_id}", "{runnerId}")
        )
        operation = CONTRACT["paths"][path][endpoint.method.lower()]
        assert operation["x-rate-limit"] == {
            "requests": endpoint.rate_limit.requests,
            "period": endpoint.rate_limit.period,
        }
    assert sorted(REGIONS.values()) == sorted(server["url"] for server in CONTRACT["servers"])


def test_enums_match_the_contract() -> None:
    assert [s.value for s in IncidentStatus] == SCHEMAS["IncidentStatusDTO"]["enum"]
    assert [s.value for s in IncidentSeverity] == SCHEMAS["IncidentSeverityDTO"]["enum"]


def test_models_cover_the_contract_fields() -> None:
    update_fields = {f.alias or name for name, f in IncidentUpdate.model_fields.items()}
    assert update_fields == set(SCHEMAS["PublicApiUpdateIncidentDTO"]["properties"])
    incident_fields = {f.alias or name for name, f in Incident.model_fields.items()}
    assert incident_fields == set(SCHEMAS["PublicApiIncidentWithRcaReportDTO"]["properties"])
    assert set(SCHEMAS["IncidentContentDTO"]["properties"]) < incident_fields
    page_fields = set(SCHEMAS["PublicApiIncidentsResponse"]["properties"])
    assert {f.alias or name for name, f in IncidentPage.model_fields.items()} <= page_fields


def test_selection_filters_are_the_list_endpoints_parameters() -> None:
    """Every filter a selection can send is a parameter of the list endpoint, and vice versa."""
    declared = {p["name"] for p in CONTRACT["paths"]["/api/v1/incidents"]["get"]["parameters"]}
    everything = IncidentSelection.build(
        status="open",
        severity="critical",
        dataset_id="d",
        incident_ids=["i"],
        lead_id="u",
        created_from="2026-01-01T00:00:00Z",
        created_to="2026-02-01T00:00:00Z",
    )
    sent = {name for query in everything.queries() for name in query} | {"page", "size"}
    assert sent == declared


def test_every_update_payload_validates() -> None:
    payload = IncidentUpdate.build(
        status="Resolved", severity="minor", title="t", description="d", resolution_notes="n"
    ).to_payload()
    validator("#/components/schemas/PublicApiUpdateIncidentDTO").validate(payload)
    assert set(payload) == set(SCHEMAS["PublicApiUpdateIncidentDTO"]["properties"])


def published_contract(path: Path) -> Any:
    """Soda's published contract beside this checkout: CI has it (a drift test must run there), a
    user's clone does not (the test is skipped)."""
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"{path} is missing: under CI the contract-drift tests must run (shared/ beside the clone)."
            )
        pytest.skip("Soda's published contract is not beside this checkout")
    return json.loads(path.read_text())


def test_our_copy_matches_sodas_published_contract() -> None:
    """Drift check, when the published contract is available (it never is in a user's clone)."""
    published = published_contract(SHARED)
    theirs = published["components"]["schemas"]
    for name in (
        "PublicApiUpdateIncidentDTO",
        "IncidentContentDTO",
        "IncidentSeverityDTO",
        "IncidentStatusDTO",
        "ErrorResponse",
    ):
        assert set(theirs[name].get("properties", {})) == set(SCHEMAS[name].get("properties", {}))
        assert theirs[name].get("enum") == SCHEMAS[name].get("enum")
        assert theirs[name].get("required") == SCHEMAS[name].get("required")
    ours = CONTRACT["paths"]["/api/v1/incidents/{incidentId}"]["post"]["responses"]
    assert set(published["paths"]["/api/v1/incidents/{incidentId}"]["post"]["responses"]) == set(ours)


# -- the emulator speaks the contract ---------------------------------------------------------


def call(emulator: SodaCloudEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("auth", (emulator.api_key_id, emulator.api_key_secret))
    return requests.request(method, emulator.url + path, timeout=5, **kwargs)


def assert_conforms(response: requests.Response, path: str, method: str) -> None:
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers.get("X-Soda-Trace-Id")
    validator(response_schema(path, method, response.status_code)).validate(response.json())


UPDATE = "/api/v1/incidents/{incidentId}"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"status": "investigating"}, 200),
        (
            {
                "title": "t",
                "description": "d",
                "severity": "critical",
                "resolutionNotes": "n",
                "status": "resolved",
            },
            200,
        ),
        ({}, 200),
        ({"status": "done"}, 400),
        ({"severity": "huge"}, 400),
        ({"unknown": "x"}, 200),  # additional properties are allowed by the contract, and ignored
        ({"title": 5}, 400),
        (["not", "an", "object"], 400),
    ],
)
def test_update_responses_conform(soda_cloud_emulator: SodaCloudEmulator, body: Any, status: int) -> None:
    response = call(soda_cloud_emulator, "POST", f"/api/v1/incidents/{DEMO_INCIDENT_ID}", json=body)
    assert response.status_code == status
    assert_conforms(response, UPDATE, "POST")


def test_update_of_a_missing_incident_is_404(soda_cloud_emulator: SodaCloudEmulator) -> None:
    response = call(soda_cloud_emulator, "POST", "/api/v1/incidents/nope", json={"status": "fixing"})
    assert response.status_code == 404
    assert_conforms(response, UPDATE, "POST")


@pytest.mark.parametrize(
    "auth",
    [None, ("emulator-key-id", "wrong"), ("someone", "emulator-key-secret")],
)
def test_bad_credentials_are_401(soda_cloud_emulator: SodaCloudEmulator, auth: Any) -> None:
    response = call(soda_cloud_emulator, "POST", f"/api/v1/incidents/{DEMO_INCIDENT_ID}", json={}, auth=auth)
    assert response.status_code == 401
    assert_conforms(response, UPDATE, "POST")
    assert soda_cloud_emulator.requests[0].auth is None


def test_cookie_token_is_accepted(soda_cloud_emulator: SodaCloudEmulator) -> None:
    response = call(
        soda_cloud_emulator,
        "GET",
        "/api/v1/test-login",
        auth=None,
        headers={"Cookie": "token=emulator-token"},
    )
    assert response.status_code == 200
    assert_conforms(response, "/api/v1/test-login", "GET")
    bad = call(soda_cloud_emulator, "GET", "/api/v1/test-login", auth=None, headers={"Cookie": "token=x"})
    assert bad.status_code == 401


def test_rate_limit_is_429_without_retry_after_by_default() -> None:
    with SodaCloudEmulator(
        rate_limits={"test_login": __import__("airflow_provider_soda.endpoints").endpoints.RateLimit(2, 60)}
    ) as emulator:
        statuses = [call(emulator, "GET", "/api/v1/test-login").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        response = call(emulator, "GET", "/api/v1/test-login")
        assert "Retry-After" not in response.headers
        assert_conforms(response, "/api/v1/test-login", "GET")


@pytest.mark.parametrize("retry_after", [7, "auto", "http-date"])
def test_rate_limit_can_send_retry_after(retry_after: Any) -> None:
    with SodaCloudEmulator(
        rate_limits={"update_incident": RateLimit(1, 30)}, retry_after=retry_after
    ) as emulator:
        path = f"/api/v1/incidents/{DEMO_INCIDENT_ID}"
        assert call(emulator, "POST", path, json={}).status_code == 200
        response = call(emulator, "POST", path, json={})
        assert response.status_code == 429
        wait = parse_retry_after(response.headers["Retry-After"])
        assert wait is not None
        assert 5 <= wait <= 32


def test_windows_slide_and_are_per_credential() -> None:
    with SodaCloudEmulator(rate_limits={"test_login": RateLimit(1, 0.3)}) as emulator:
        assert call(emulator, "GET", "/api/v1/test-login").status_code == 200
        assert call(emulator, "GET", "/api/v1/test-login").status_code == 429
        cookie = {"Cookie": "token=emulator-token"}
        assert call(emulator, "GET", "/api/v1/test-login", auth=None, headers=cookie).status_code == 200
        time.sleep(0.35)
        assert call(emulator, "GET", "/api/v1/test-login").status_code == 200


LIST = "/api/v1/incidents"


def listed(emulator: SodaCloudEmulator, **params: Any) -> list[int]:
    response = call(emulator, "GET", LIST, params=params)
    assert_conforms(response, LIST, "GET")
    assert response.status_code == 200, response.text
    return [i["number"] for i in response.json()["content"]]


def test_list_incidents_pages_sorted_by_number(soda_cloud_emulator: SodaCloudEmulator) -> None:
    everything = call(soda_cloud_emulator, "GET", LIST)
    assert_conforms(everything, LIST, "GET")
    body = everything.json()
    assert body["totalElements"] == len(soda_cloud_emulator.incident_ids()) == 12
    assert (body["size"], len(body["content"]), body["totalPages"], body["last"]) == (10, 10, 2, False)
    assert listed(soda_cloud_emulator, page=1) == [11, 12]
    assert listed(soda_cloud_emulator, size=5, page=2) == [11, 12]
    assert listed(soda_cloud_emulator, size=5, page=3) == []
    assert listed(soda_cloud_emulator, size=1000) == list(range(1, 13))
    assert listed(soda_cloud_emulator, incidentIds=DEMO_INCIDENT_ID) == [1]


@pytest.mark.parametrize(
    ("params", "numbers"),
    [
        ({"status": "resolved"}, [7, 9, 12]),
        ({"severity": "critical"}, [6, 9, 11]),
        ({"datasetId": "ds-orders"}, [1, 6, 7]),
        ({"datasetId": "ds-orders", "status": "investigating"}, [6]),
        ({"leadId": "user-bob"}, [8, 11]),
        ({"from": "2026-11-23T00:00:00Z"}, [6, 11]),
        ({"to": "2026-11-05T08:00:00+00:00"}, [7, 9]),
        ({"from": "2026-11-10T00:00:00+01:00", "to": "2026-11-16T00:00:00Z", "severity": "minor"}, [10]),
        ({"incidentIds": "inc-orders-dup,inc-inventory-stale,nope", "severity": "critical"}, [6, 11]),
        ({"datasetId": "ds-unknown"}, []),
    ],
)
def test_list_filters_combine_with_and(
    soda_cloud_emulator: SodaCloudEmulator, params: dict[str, str], numbers: list[int]
) -> None:
    assert listed(soda_cloud_emulator, size=1000, **params) == numbers


def test_list_items_carry_has_rca_report_true_false_or_null(soda_cloud_emulator: SodaCloudEmulator) -> None:
    response = call(soda_cloud_emulator, "GET", LIST, params={"size": 1000})
    flags = {i["number"]: i["hasRcaReport"] for i in response.json()["content"]}
    assert (flags[7], flags[8], flags[1]) == (True, False, None)
    assert all("datasetId" not in i and "createdAt" not in i for i in response.json()["content"])


@pytest.mark.parametrize(
    "params",
    [
        {"size": 0},
        {"size": 1001},
        {"page": -1},
        {"page": "x"},
        {"status": "done"},
        {"severity": "Critical"},
        {"from": "yesterday"},
        {"to": "2026-11-01T00:00:00"},  # no offset
        {"incidentIds": ",".join(f"i{n}" for n in range(1001))},
        {"status": ["reported", "fixing"]},  # one value per parameter
    ],
)
def test_list_refuses_bad_parameters_with_400(soda_cloud_emulator: SodaCloudEmulator, params: Any) -> None:
    response = call(soda_cloud_emulator, "GET", LIST, params=params)
    assert response.status_code == 400
    assert_conforms(response, LIST, "GET")


def test_list_accepts_exactly_1000_ids(soda_cloud_emulator: SodaCloudEmulator) -> None:
    ids = [DEMO_INCIDENT_ID, *(f"i{n}" for n in range(999))]
    assert listed(soda_cloud_emulator, incidentIds=",".join(ids)) == [1]


def test_list_contract_matches_sodas_published_one() -> None:
    """Drift check of the list endpoint: parameters, responses and schemas."""
    published = published_contract(SHARED_INCIDENTS)
    theirs, ours = published["paths"]["/api/v1/incidents"]["get"], CONTRACT["paths"][LIST]["get"]
    assert [p["name"] for p in theirs["parameters"]] == [p["name"] for p in ours["parameters"]]
    assert set(theirs["responses"]) == set(ours["responses"])
    for name in ("PublicApiIncidentWithRcaReportDTO", "PublicApiIncidentsResponse"):
        assert published["components"]["schemas"][name] == SCHEMAS[name]
    assert theirs["x-rate-limit"] == "{requests} requests / {period} s".format(**ours["x-rate-limit"])


def test_injected_faults_come_in_order_and_can_target_an_endpoint(
    soda_cloud_emulator: SodaCloudEmulator,
) -> None:
    soda_cloud_emulator.inject(Fault(status=500, endpoint="update_incident"), Fault(status=403, times=2))
    assert call(soda_cloud_emulator, "GET", "/api/v1/test-login").status_code == 403
    path = f"/api/v1/incidents/{DEMO_INCIDENT_ID}"
    first = call(soda_cloud_emulator, "POST", path, json={})
    assert first.status_code == 500
    assert_conforms(first, UPDATE, "POST")
    assert call(soda_cloud_emulator, "POST", path, json={}).status_code == 403
    assert call(soda_cloud_emulator, "POST", path, json={}).status_code == 200


def test_dropped_connection_fault(soda_cloud_emulator: SodaCloudEmulator) -> None:
    soda_cloud_emulator.inject(Fault(drop=True))
    with pytest.raises(requests.ConnectionError):
        call(soda_cloud_emulator, "GET", "/api/v1/test-login")
    assert soda_cloud_emulator.requests[0].status is None


def test_incident_page_serves_the_cloud_url(soda_cloud_emulator: SodaCloudEmulator) -> None:
    url = soda_cloud_emulator.incident(DEMO_INCIDENT_ID)["cloudUrl"]
    page = requests.get(url, timeout=5)
    assert page.status_code == 200
    assert "Row count anomaly on orders" in page.text


def test_emulator_runs_as_a_command() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-W",
            "error::RuntimeWarning",  # the module must not be imported twice (once by its package)
            "-m",
            "airflow_provider_soda.testing.emulator",
            "--port",
            "0",
            "--rate-limit",
            "update_incident=10/1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
        response = requests.get(
            f"{url}/api/v1/test-login", auth=("emulator-key-id", "emulator-key-secret"), timeout=5
        )
        assert response.json() == {"organisationName": "Emulated Soda Org"}
    finally:
        process.terminate()
        process.wait(timeout=10)


SHARED_SCANS = SHARED.with_name("scans-checks-datasets.openapi.json")
DATASETS = "/api/v1/datasets"


@pytest.mark.parametrize("params", [{}, {"size": "10", "page": "0"}, {"search": "ord"}, {"size": "1000"}])
def test_datasets_listing_conforms(soda_cloud_emulator: SodaCloudEmulator, params: dict[str, str]) -> None:
    response = call(soda_cloud_emulator, "GET", DATASETS, params=params)
    assert response.status_code == 200
    assert_conforms(response, DATASETS, "GET")
    names = [d["name"] for d in response.json()["content"]]
    assert names == sorted(names)
    if "search" in params:
        assert names == ["orders"]


@pytest.mark.parametrize("params", [{"size": "9"}, {"size": "1001"}, {"page": "-1"}, {"size": "x"}])
def test_datasets_listing_refuses_bad_parameters_with_400(
    soda_cloud_emulator: SodaCloudEmulator, params: dict[str, str]
) -> None:
    response = call(soda_cloud_emulator, "GET", DATASETS, params=params)
    assert response.status_code == 400
    assert_conforms(response, DATASETS, "GET")


def test_datasets_contract_matches_sodas_published_one() -> None:
    """Drift check of the datasets listing: parameters, responses, required fields and the limit."""
    published = published_contract(SHARED_SCANS)
    theirs, ours = published["paths"][DATASETS]["get"], CONTRACT["paths"][DATASETS]["get"]
    assert sorted(p["name"] for p in theirs["parameters"]) == sorted(p["name"] for p in ours["parameters"])
    assert set(theirs["responses"]) == set(ours["responses"])
    for name in ("DatasetsContentDTO", "PublicApiDatasetsResponse"):
        mine, sodas = SCHEMAS[name], published["components"]["schemas"][name]
        assert sorted(mine["required"]) == sorted(sodas["required"])
        assert sorted(mine["properties"]) == sorted(sodas["properties"])
    assert "10 requests/60 seconds" in theirs["description"]
    assert ours["x-rate-limit"] == {"requests": 10, "period": 60}


SHARED_V4 = SHARED.with_name("contracts-runners.openapi.json")


def test_v4_contract_copy_matches_sodas() -> None:
    """Drift check of the Soda v4 paths: methods, parameters, responses, limits and the schemas relied on."""
    published = published_contract(SHARED_V4)
    for path, operations in published["paths"].items():
        for method, theirs in operations.items():
            ours = CONTRACT["paths"][path][method]
            assert sorted(p["name"] for p in theirs.get("parameters", [])) == sorted(
                p["name"] for p in ours.get("parameters", [])
            ), (method, path)
            assert set(theirs["responses"]) == set(ours["responses"]), (method, path)
            requests, _, period = theirs["x-rate-limit"].removesuffix("s").partition("/")
            assert ours["x-rate-limit"] == {"requests": int(requests), "period": int(period)}, (method, path)
    for name, schema in published["components"]["schemas"].items():
        mine = SCHEMAS[name]
        assert sorted(mine.get("properties", {})) == sorted(schema.get("properties", {})), name
        assert mine.get("required") == schema.get("required"), name
        assert mine.get("enum") == schema.get("enum"), name
