"""Schemathesis drives the emulator from the OpenAPI contract: it must answer as the contract says.

Generated requests (valid and, for the body, invalid ones) go to every operation; schemathesis'
checks assert the status codes, content types and response bodies conform to the contract, and
that the server never answers 5xx. Run with the project's own copy of the contract (a fresh clone
has no other), which mirrors Soda's published one (see test_contract.py for the drift check).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from airflow_provider_soda.testing import SodaCloudEmulator

pytestmark = pytest.mark.airflow_agnostic  # run once, by make test (not make test-compat)

CONTRACT = json.loads(files("airflow_provider_soda.testing").joinpath("soda_cloud_openapi.json").read_text())
schema = schemathesis.openapi.from_dict(CONTRACT)


@pytest.fixture(scope="module")
def emulator() -> Iterator[SodaCloudEmulator]:
    with SodaCloudEmulator(enforce_rate_limits=False) as running:
        yield running


@pytest.fixture(scope="module")
def auth_header(emulator: SodaCloudEmulator) -> dict[str, str]:
    # A header, not session auth, so that schemathesis can swap in invalid credentials and
    # check that they are refused.
    token = base64.b64encode(f"{emulator.api_key_id}:{emulator.api_key_secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_emulator_conforms_to_the_contract(
    case: Any, emulator: SodaCloudEmulator, auth_header: dict[str, str]
) -> None:
    case.call_and_validate(base_url=emulator.url, headers=auth_header, excluded_checks=_not_expressible(case))


def _not_expressible(case: Any) -> list[Any]:
    """Checks to skip where the contract cannot say what Soda documents in prose.

    ``GET /api/v1/checks``: ``checkIds`` "can't be combined with other query parameters", which
    no schema says; the emulator answers such a request 400, as a refusal should be. The same for
    the rules of Soda v4's contract endpoints (below).
    """
    query = case.query or {}
    if case.path == "/api/v1/checks" and "checkIds" in query and len(query) > 1:
        return [positive_data_acceptance]
    # Soda v4: the contracts listing takes datasetId or datasetQualifiedName, "never both"; a
    # contract's YAML must be a Soda contract naming the right dataset, and checkPaths must be
    # paths of the contract. No schema can say so; the emulator answers 400, as Soda does.
    if (
        case.path == "/api/v1/contracts"
        and case.method == "GET"
        and {"datasetId", "datasetQualifiedName"} <= set(query)
    ):
        return [positive_data_acceptance]
    if case.method == "POST" and case.path.startswith("/api/v1/contracts"):
        return [positive_data_acceptance]
    return []
