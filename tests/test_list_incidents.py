"""SodaCloudHook.list_incidents against the emulator: filters, pages, laziness and validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from airflow_provider_soda.exceptions import SodaCloudNotFoundError, SodaCloudValidationError
from airflow_provider_soda.hooks.retry import RetryLimits
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
from airflow_provider_soda.models import IncidentSeverity, IncidentStatus
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, SodaCloudEmulator

FAST = RetryLimits(backoff_base=0.01, backoff_cap=0.05, max_wait=30)


@pytest.fixture
def hook(soda_cloud_emulator: SodaCloudEmulator) -> SodaCloudHook:
    return SodaCloudHook(retry_limits=FAST)


def list_requests(emulator: SodaCloudEmulator) -> list[dict[str, str]]:
    return [{k: v[0] for k, v in r.query.items()} for r in emulator.requests_to("list_incidents")]


def test_every_filter_reaches_soda_and_combines_with_and(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    found = list(
        hook.list_incidents(
            status="fixing",
            severity="critical",
            dataset_id="ds-inventory",
            lead_id="user-bob",
            created_from=datetime(2026, 11, 24, tzinfo=UTC),
            created_to=datetime(2026, 11, 26, tzinfo=timezone(timedelta(hours=2))),
        )
    )
    assert [i.number for i in found] == [11]
    (query,) = list_requests(soda_cloud_emulator)
    assert query == {
        "status": "fixing",
        "severity": "critical",
        "datasetId": "ds-inventory",
        "leadId": "user-bob",
        "from": "2026-11-24T00:00:00+00:00",
        "to": "2026-11-26T00:00:00+02:00",
        "page": "0",
        "size": "1000",
    }


def test_pages_are_followed_and_fetched_lazily(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    everything = list(hook.list_incidents(page_size=5))
    assert [i.number for i in everything] == list(range(1, 13))
    # More than one page: a second pass checks that nothing shifted between pages meanwhile.
    assert [q["page"] for q in list_requests(soda_cloud_emulator)] == ["0", "1", "2", "0", "1", "2"]

    soda_cloud_emulator.reset_log()
    incidents = hook.list_incidents(page_size=5)
    assert list_requests(soda_cloud_emulator) == []  # nothing is sent before iterating
    first_three = [next(incidents) for _ in range(3)]
    assert [i.number for i in first_three] == [1, 2, 3]
    assert len(list_requests(soda_cloud_emulator)) == 1  # the caller stopped: no second page


def test_several_values_mean_one_sequence_each_merged_without_duplicates(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    found = list(hook.list_incidents(status="open", dataset_id=["ds-orders", "ds-inventory", "ds-orders"]))
    assert sorted(i.number for i in found) == [1, 6, 10, 11]
    assert len(list_requests(soda_cloud_emulator)) == 3 * 2
    # overlapping filters (an id listed under two severities cannot happen, but two selections of
    # ids can overlap): each incident comes once
    ids = [DEMO_INCIDENT_ID, "inc-orders-dup", DEMO_INCIDENT_ID]
    assert [i.number for i in hook.list_incidents(incident_ids=ids, severity=["major", "critical"])] == [1, 6]


def test_more_than_1000_ids_are_split(hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator) -> None:
    ids = [f"missing-{n}" for n in range(2400)] + ["inc-orders-dup"]
    assert [i.id for i in hook.list_incidents(incident_ids=ids)] == ["inc-orders-dup"]
    sizes = [len(q["incidentIds"].split(",")) for q in list_requests(soda_cloud_emulator)]
    assert sizes == [1000, 1000, 401]
    assert list(hook.list_incidents(incident_ids=[])) == []
    assert len(list_requests(soda_cloud_emulator)) == 3  # an empty list of ids sends nothing


def test_items_keep_has_rca_report_and_tolerate_unknown_fields(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    soda_cloud_emulator.add_incident(
        {"id": "future", "number": 99, "fieldFromTheFuture": {"x": 1}, "hasRcaReport": True}
    )
    by_number = {i.number: i for i in hook.list_incidents()}
    assert (by_number[7].has_rca_report, by_number[8].has_rca_report, by_number[1].has_rca_report) == (
        True,
        False,
        None,
    )
    assert by_number[99].has_rca_report is True
    assert (by_number[9].status, by_number[9].severity) == (
        IncidentStatus.RESOLVED,
        IncidentSeverity.CRITICAL,
    )


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"status": "done"}, "status must be one of: reported, investigating, fixing, resolved"),
        ({"severity": ["major", "huge"]}, "severity must be one of: minor, major, critical"),
        ({"created_from": datetime(2026, 11, 1)}, "has no timezone"),
        ({"created_to": "2026-11-01T00:00:00"}, "has no timezone"),
        ({"created_from": "last week"}, "created_from"),
        ({"dataset_id": " "}, "dataset_id: a blank value was given, which would drop this filter"),
        ({"incident_ids": "inc-1"}, "must be a list of incident ids"),
        ({"incident_ids": [".."]}, "not a valid incident id"),
        ({"page_size": 0}, "page_size must be an integer from 1 to 1000"),
        ({"page_size": 1001}, "page_size must be an integer from 1 to 1000"),
    ],
)
def test_invalid_filters_fail_before_any_request(
    hook: SodaCloudHook, soda_cloud_emulator: SodaCloudEmulator, filters: dict[str, object], message: str
) -> None:
    with pytest.raises(SodaCloudValidationError, match=message):
        hook.list_incidents(**filters)  # type: ignore[arg-type]
    assert soda_cloud_emulator.requests == []


def test_statuses_are_matched_case_insensitively(hook: SodaCloudHook) -> None:
    assert [i.number for i in hook.list_incidents(status=" Resolved ", severity="CRITICAL")] == [9]


def test_get_incident_reads_one_and_names_what_to_check_when_missing(hook: SodaCloudHook) -> None:
    assert hook.get_incident("inc-orders-late").has_rca_report is True
    with pytest.raises(SodaCloudNotFoundError, match=r"has no incident 'nope'.*region"):
        hook.get_incident("nope")
