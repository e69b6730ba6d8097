"""Property-based tests: whatever the input, a request can only address the incident it names,
and every body sent is a valid PublicApiUpdateIncidentDTO."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_contract import validator

from airflow_provider_soda.exceptions import SodaCloudNotFoundError, SodaCloudValidationError
from airflow_provider_soda.hooks.retry import RetryLimits
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
from airflow_provider_soda.models import IncidentUpdate
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, SodaCloudEmulator

PREFIX = "/api/v1/incidents/"
PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def open_emulator() -> Iterator[SodaCloudEmulator]:
    with SodaCloudEmulator(enforce_rate_limits=False) as emulator:
        previous = os.environ.get("AIRFLOW_CONN_SODA_CLOUD_HOSTILE")
        extra = {"rate_limits": {"update_incident": {"requests": 10**9, "period": 1}}}
        os.environ["AIRFLOW_CONN_SODA_CLOUD_HOSTILE"] = emulator.airflow_connection(**extra)
        yield emulator
        if previous is None:
            del os.environ["AIRFLOW_CONN_SODA_CLOUD_HOSTILE"]


@pytest.fixture(scope="module")
def hook(open_emulator: SodaCloudEmulator) -> SodaCloudHook:
    return SodaCloudHook("soda_cloud_hostile", retry_limits=RetryLimits(max_transient_retries=0))


@PROPERTY
@given(incident_id=st.text(max_size=600))
def test_any_id_is_refused_or_addresses_exactly_that_incident(
    hook: SodaCloudHook, open_emulator: SodaCloudEmulator, incident_id: str
) -> None:
    open_emulator.reset_log()
    try:
        hook.update_incident(incident_id, status="fixing")
    except SodaCloudValidationError:
        assert open_emulator.requests == []  # refused before any request
        return
    except SodaCloudNotFoundError:
        pass
    (request,) = open_emulator.requests
    sent = incident_id.strip()
    assert request.raw_path == PREFIX + quote(sent, safe="")
    assert request.endpoint == "update_incident"
    assert request.incident_id == sent
    assert request.query == {}


@PROPERTY
@given(
    incident_id=st.sampled_from(["..", ".", "a/../../test-login", "%2e%2e", "x?incidentIds=y", "#", "a\tb"])
)
def test_known_traversal_shapes(
    hook: SodaCloudHook, open_emulator: SodaCloudEmulator, incident_id: str
) -> None:
    open_emulator.reset_log()
    with pytest.raises((SodaCloudValidationError, SodaCloudNotFoundError)):
        hook.update_incident(incident_id, status="fixing")
    for request in open_emulator.requests:
        assert request.raw_path.startswith(PREFIX)
        assert "/" not in request.raw_path[len(PREFIX) :]


field_values = st.one_of(
    st.none(),
    st.text(max_size=300),
    st.sampled_from(["reported", "Investigating", " RESOLVED ", "fixing", "minor", "Critical", "major"]),
    st.integers(),
    st.booleans(),
    st.lists(st.text(max_size=3), max_size=2),
)


@PROPERTY
@given(
    status=field_values,
    severity=field_values,
    title=field_values,
    description=field_values,
    resolution_notes=field_values,
)
def test_every_body_sent_validates_against_the_contract(
    hook: SodaCloudHook, open_emulator: SodaCloudEmulator, **fields: Any
) -> None:
    open_emulator.reset_log()
    try:
        IncidentUpdate.build(**fields)
    except SodaCloudValidationError:
        with pytest.raises(SodaCloudValidationError):
            hook.update_incident(DEMO_INCIDENT_ID, **fields)
        assert open_emulator.requests == []
        return
    hook.update_incident(DEMO_INCIDENT_ID, **fields)
    (request,) = open_emulator.requests
    validator("#/components/schemas/PublicApiUpdateIncidentDTO").validate(request.body)
    assert request.status == 200


def test_very_long_text_is_sent_intact(hook: SodaCloudHook, open_emulator: SodaCloudEmulator) -> None:
    description = "é\u2028\x07 " * 20_000
    incident = hook.update_incident(DEMO_INCIDENT_ID, description=description)
    assert incident.description == description
