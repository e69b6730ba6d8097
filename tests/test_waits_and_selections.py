"""Waits that cannot hurt each other, and selections that fail safe (issue #20).

The triggers run in one event loop as in a triggerer, against the emulator; the operators and
sensors run under dag.test(). Each test names the defect it guards against.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import RecordingLog, StandInTI, first_event, task_instances, task_logs, xcom_value

from airflow_provider_soda.exceptions import SodaCloudValidationError
from airflow_provider_soda.selection import IncidentSelection
from airflow_provider_soda.testing import DEMO_INCIDENT_ID, Fault, SodaCloudEmulator
from airflow_provider_soda.triggers import poller as poller_module
from airflow_provider_soda.triggers.incidents import SodaCloudIncidentEventTrigger, SodaCloudIncidentTrigger
from airflow_provider_soda.triggers.poller import IncidentPoller
from airflow_provider_soda.version_compat import AIRFLOW_V_3_0_PLUS
from airflow_provider_soda.watching import MAX_RETURNED_INCIDENTS, IncidentWatch

CONN = "soda_cloud_default"


def waiting(
    interval: float, *, incident_id: str | None = None, selection: dict[str, Any] | None = None, **kwargs: Any
) -> SodaCloudIncidentTrigger:
    watch = IncidentWatch.build(
        incident_ids=[incident_id] if incident_id else (), selection=selection
    ).to_json()
    return SodaCloudIncidentTrigger(watch=watch, soda_cloud_conn_id=CONN, poll_interval=interval, **kwargs)


def within(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


# -- 1. each wait on its own interval -----------------------------------------------------------


def test_a_fast_wait_that_joins_a_slow_one_is_not_starved(soda_cloud_emulator: SodaCloudEmulator) -> None:
    """Measured before: a 1 s sensor joining a 30 s wait timed out after one poll."""
    soda_cloud_emulator._update(DEMO_INCIDENT_ID, {"status": "resolved"})

    async def scenario() -> tuple[dict[str, Any], float]:
        slow = asyncio.create_task(first_event(waiting(6 * 3600, incident_id="inc-orders-dup")))
        poller = IncidentPoller.for_connection(CONN)
        while poller.polls < 1:  # the slow wait had its first poll; the loop now sleeps for hours
            await asyncio.sleep(0.02)
        started = time.monotonic()
        fast = await first_event(waiting(0.2, incident_id=DEMO_INCIDENT_ID, deadline=within(8)))
        slow.cancel()
        return fast, time.monotonic() - started

    event, took = asyncio.run(scenario())
    assert event["status"] == "success"
    assert took < 5  # about one of its own intervals, not the slow wait's six hours


def test_waits_due_together_still_share_requests(soda_cloud_emulator: SodaCloudEmulator) -> None:
    async def scenario() -> int:
        triggers = [waiting(0.3, incident_id=i) for i in (DEMO_INCIDENT_ID, "inc-orders-dup")]
        tasks = [asyncio.create_task(first_event(t)) for t in triggers]
        poller = IncidentPoller.for_connection(CONN)
        while poller.polls < 4:
            await asyncio.sleep(0.02)
        for task in tasks:
            task.cancel()
        return poller.polls

    polls = asyncio.run(scenario())
    # One request per poll for both waits (their ids go out together), never one each; and the
    # polls did happen (a count of zero requests must not pass).
    requests = soda_cloud_emulator.requests_to("list_incidents")
    assert polls >= 4
    assert polls <= len(requests) <= polls + 1
    assert all(r.status == 200 for r in requests)


# -- 2. a wait's failure is that wait's --------------------------------------------------------


def test_one_selections_403_fails_only_the_waits_on_that_selection(
    soda_cloud_emulator: SodaCloudEmulator,
) -> None:
    soda_cloud_emulator._update(DEMO_INCIDENT_ID, {"status": "resolved"})
    soda_cloud_emulator.inject(
        Fault(status=403, endpoint="list_incidents", query={"datasetId": "ds-payments"})
    )

    async def scenario() -> list[dict[str, Any]]:
        forbidden = waiting(0.2, selection={"dataset_id": "ds-payments"}, deadline=within(10))
        allowed = waiting(0.2, incident_id=DEMO_INCIDENT_ID, deadline=within(10))
        return list(await asyncio.gather(first_event(forbidden), first_event(allowed)))

    forbidden, allowed = asyncio.run(scenario())
    assert allowed["status"] == "success"
    assert forbidden["status"] == "error"
    assert "HTTP 403" in forbidden["message"]
    assert "'View dataset'" in forbidden["message"]
    assert "Manage incident" not in forbidden["message"]


def test_an_unreadable_answer_for_one_selection_does_not_blind_the_others(
    soda_cloud_emulator: SodaCloudEmulator,
) -> None:
    soda_cloud_emulator._update(DEMO_INCIDENT_ID, {"status": "resolved"})
    soda_cloud_emulator.inject(
        Fault(status=200, body="<html>proxy</html>", endpoint="list_incidents", times=1000,
              query={"datasetId": "ds-payments"})
    )  # fmt: skip

    async def scenario() -> dict[str, Any]:
        blind = asyncio.create_task(first_event(waiting(0.2, selection={"dataset_id": "ds-payments"})))
        seeing = await first_event(waiting(0.2, incident_id=DEMO_INCIDENT_ID, deadline=within(10)))
        assert not blind.done()  # retryable: it keeps waiting
        blind.cancel()
        return seeing

    assert asyncio.run(scenario())["status"] == "success"


def test_an_unforeseen_exception_is_retried_not_a_permanent_failure(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, a failed connection read became a non-retryable error for every deferred sensor."""
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    real = SodaCloudHook.aload_settings
    failures = {"left": 2}

    async def flaky(self: SodaCloudHook) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("secrets backend timed out")
        return await real(self)

    monkeypatch.setattr(SodaCloudHook, "aload_settings", flaky)
    soda_cloud_emulator._update(DEMO_INCIDENT_ID, {"status": "resolved"})
    event = asyncio.run(first_event(waiting(0.2, incident_id=DEMO_INCIDENT_ID, deadline=within(10))))
    assert event["status"] == "success"
    assert failures["left"] == 0


# -- 3. credentials are read again --------------------------------------------------------------


def rotate_key(emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    emulator.api_key_id, emulator.api_key_secret = f"rotated-id-{n}", f"rotated-secret-{n}"
    monkeypatch.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", emulator.airflow_connection())


def test_a_rotated_key_works_for_the_next_wait_without_restarting_the_triggerer(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    soda_cloud_emulator._update(DEMO_INCIDENT_ID, {"status": "resolved"})

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], bool]:
        first = await first_event(waiting(0.2, incident_id=DEMO_INCIDENT_ID))
        retired = CONN not in IncidentPoller._by_loop.get(asyncio.get_running_loop(), {})
        rotate_key(soda_cloud_emulator, monkeypatch, 1)
        second = await first_event(waiting(0.2, incident_id=DEMO_INCIDENT_ID, deadline=within(10)))
        return first, second, retired

    first, second, retired = asyncio.run(scenario())
    assert retired  # the poller left with its last wait
    assert (first["status"], second["status"]) == ("success", "success")


def test_a_401_reads_the_connection_again_before_failing_a_running_wait(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> dict[str, Any]:
        task = asyncio.create_task(
            first_event(waiting(0.2, incident_id=DEMO_INCIDENT_ID, deadline=within(15)))
        )
        poller = IncidentPoller.for_connection(CONN)
        while poller.polls < 2:
            await asyncio.sleep(0.02)
        rotate_key(soda_cloud_emulator, monkeypatch, 2)  # the old key now gets 401
        soda_cloud_emulator._update(DEMO_INCIDENT_ID, {"status": "resolved"})
        return await task

    event = asyncio.run(scenario())
    assert event["status"] == "success"
    assert any(r.status == 401 for r in soda_cloud_emulator.requests_to("list_incidents"))


def test_a_real_401_still_fails_the_wait(soda_cloud_emulator: SodaCloudEmulator) -> None:
    soda_cloud_emulator.inject(Fault(status=401, endpoint="list_incidents", times=1000))
    event = asyncio.run(first_event(waiting(0.2, incident_id=DEMO_INCIDENT_ID, deadline=within(10))))
    assert event["status"] == "error"
    assert "HTTP 401" in event["message"]


def test_settings_are_read_again_at_a_bounded_age(
    soda_cloud_emulator: SodaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poller_module, "SETTINGS_MAX_AGE", 0.5)

    async def scenario() -> int:
        task = asyncio.create_task(first_event(waiting(0.2, incident_id=DEMO_INCIDENT_ID)))
        poller = IncidentPoller.for_connection(CONN)
        hooks = set()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if poller._hook is not None:
                hooks.add(id(poller._hook))
            await asyncio.sleep(0.05)
        task.cancel()
        return len(hooks)

    assert asyncio.run(scenario()) >= 3


@pytest.mark.skipif(
    not AIRFLOW_V_3_0_PLUS, reason="Airflow 2 masks a Connection's password when it is built: no premise"
)
@pytest.mark.parametrize("lookup", ["task", "triggerer"])
def test_the_hook_masks_the_api_key_secret_whichever_lookup_returned_it(lookup: str) -> None:
    """Masked by the hook itself, whichever lookup (Airflow's, a thread, a secrets backend) returned
    the connection: a Connection built by hand masks nothing, so only the hook's own
    ``mask_secret`` can hide the secret (Airflow would mask an extra named ``token`` on its own)."""
    from airflow.providers.common.compat.sdk import Connection, redact

    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    secret = uuid.uuid4().hex.upper()  # no word another test may have registered as a secret

    def connection(conn_id: str) -> Any:
        return Connection(
            conn_id=conn_id,
            conn_type="soda_cloud",
            host="http://127.0.0.1:9",
            login="key-id",
            password=secret,
        )

    class BackendHook(SodaCloudHook):
        def get_connection(self, conn_id: str) -> Any:  # type: ignore[override]
            return connection(conn_id)

        async def aget_connection(self, conn_id: str) -> Any:
            return connection(conn_id)

    built = connection("premise")
    assert (built.password, built.extra_dejson) == (secret, {})
    assert str(redact(secret)) == secret  # reading a hand-built Connection masked nothing
    hook = BackendHook(soda_cloud_conn_id="soda_backend")
    if lookup == "task":
        assert hook.settings.key_secret == secret
    else:
        assert asyncio.run(hook.aload_settings()).key_secret == secret
    assert secret not in str(redact(f"the key was {secret}"))


# -- 4. selections that would widen ---------------------------------------------------------------


@pytest.mark.parametrize(
    "filters",
    [
        {"dataset_id": []},
        {"dataset_id": "  "},
        {"status": []},
        {"status": ""},
        {"severity": []},
        {"severity": " "},
        {"lead_id": ""},
        {"lead_id": "   "},
    ],
)
def test_a_filter_that_rendered_empty_is_refused_naming_it(filters: dict[str, Any]) -> None:
    (name,) = filters
    other = {"dataset_id": "ds-orders"} if name == "status" else {"status": "open"}
    with pytest.raises(SodaCloudValidationError, match=f"{name}: .* would drop this filter"):
        IncidentSelection.build(**filters, **other)


def test_incident_ids_in_a_selection_are_normalised_like_incident_id() -> None:
    assert IncidentSelection.build(incident_ids=[" a ", "b", "a"]).incident_ids == ("a", "b")
    with pytest.raises(SodaCloudValidationError, match="incident_ids: incident_id is empty"):
        IncidentSelection.build(incident_ids=["a", "  "])
    assert IncidentSelection.build(incident_ids=[]).incident_ids == ()  # matches nothing: narrower


def test_an_xcom_that_returned_no_dataset_selects_nothing_and_sends_nothing(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: {"dataset_id": [], "status": "open"} selected open incidents of every dataset."""
    dag_run = dag_test("soda_test_selection_from_xcom")

    assert dag_run.state == "failed"
    assert "dataset_id: an empty list was given, which would drop this filter" in task_logs(capsys)
    assert soda_cloud_emulator.requests == []


# -- 5. a dataset id Soda Cloud does not know ----------------------------------------------------


@pytest.mark.parametrize("mode", ["poke", "deferred"])
def test_a_sensor_on_a_mistyped_dataset_fails_naming_it(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    dag_run = dag_test(f"soda_test_sensor_dataset_{mode}", conf={"dataset_id": "ds-ordres"})

    assert dag_run.state == "failed"
    logs = task_logs(capsys)
    assert "lists no dataset 'ds-ordres'" in logs
    assert "verify_dataset_ids=False" in logs
    assert len(soda_cloud_emulator.requests_to("list_datasets")) == 1


def test_the_opt_out_lets_an_unknown_dataset_pass_with_a_warning(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    dag_run = dag_test("soda_test_sensor_dataset_poke_unverified", conf={"dataset_id": "ds-ordres"})

    assert dag_run.state == "success"
    assert "No incident matches the selection" in task_logs(capsys)
    assert soda_cloud_emulator.requests_to("list_datasets") == []


def test_a_known_dataset_with_incidents_costs_no_datasets_request(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    dag_run = dag_test("soda_test_sensor_dataset_poke", conf={"status": "resolved"})

    assert dag_run.state == "success"  # ds-orders has a resolved incident: the listing proves the id
    assert soda_cloud_emulator.requests_to("list_datasets") == []


def test_a_gate_on_a_mistyped_dataset_does_not_open(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    dag_run = dag_test("soda_test_gate", conf={"dataset_ids": ["ds-refunds", "ds-ordres"]})

    assert dag_run.state == "failed"
    assert "lists no dataset 'ds-ordres'" in task_logs(capsys)
    unverified = dag_test("soda_test_gate_unverified", conf={"dataset_ids": ["ds-ordres"]})
    assert unverified.state == "success"


def test_a_bulk_update_on_a_mistyped_dataset_fails_naming_it(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    dag_run = dag_test("soda_test_update_selection", conf={"selection": {"dataset_id": "ds-ordres"}})

    assert dag_run.state == "failed"
    assert "lists no dataset 'ds-ordres'" in task_logs(capsys)
    assert soda_cloud_emulator.requests_to("update_incident") == []


def test_dataset_ids_read_once_are_kept_for_the_process(soda_cloud_emulator: SodaCloudEmulator) -> None:
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    assert SodaCloudHook().unknown_dataset_ids(["ds-orders", "ds-nope"]) == ["ds-nope"]
    assert SodaCloudHook().unknown_dataset_ids(["ds-orders", "ds-payments"]) == []  # from the cache
    assert len(soda_cloud_emulator.requests_to("list_datasets")) == 1
    soda_cloud_emulator.datasets["new"] = "ds-new"  # created since: not in the cache, so read again
    assert SodaCloudHook().unknown_dataset_ids(["ds-new"]) == []
    assert len(soda_cloud_emulator.requests_to("list_datasets")) == 2


# -- 6. never_fail in every mode ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["poke", "deferred"])
def test_never_fail_skips_a_missing_incident_in_every_mode(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator, mode: str
) -> None:
    dag_run = dag_test(f"soda_test_sensor_never_fail_{mode}", conf={"incident_id": "no-such-incident"})

    assert task_instances(dag_run)["wait"].state == "skipped"


# -- 7. pagination ---------------------------------------------------------------------------------


def test_an_incident_leaving_the_listing_midway_does_not_hide_another(
    soda_cloud_emulator: SodaCloudEmulator,
) -> None:
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    reported = [
        i
        for i in soda_cloud_emulator.incident_ids()
        if soda_cloud_emulator.incident(i)["status"] == "reported"
    ]
    first = min(reported, key=lambda i: soda_cloud_emulator.incident(i)["number"])
    requests = {"n": 0}

    def resolve_the_first_after_page_zero(query: dict[str, list[str]]) -> None:
        requests["n"] += 1
        if requests["n"] == 2:  # the first page was read; now the first incident leaves the filter
            soda_cloud_emulator._update(first, {"status": "resolved"})

    soda_cloud_emulator.before("list_incidents", resolve_the_first_after_page_zero)
    found = [i.id for i in SodaCloudHook().list_incidents(status="reported", page_size=1)]

    assert sorted(found) == sorted(reported)  # each incident that matched throughout is there


# -- 8. max_incidents counts what would change ---------------------------------------------------------


def test_max_incidents_counts_only_what_would_change_and_dry_runs_report(
    soda_cloud_emulator: SodaCloudEmulator, operator_log: Callable[[type], RecordingLog]
) -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    from airflow_provider_soda.operators.incidents import UpdateIncidentsOperator

    # ds-orders: 3 incidents, 1 already resolved -> 2 need a change
    ok = UpdateIncidentsOperator(
        task_id="t", selection={"dataset_id": "ds-orders"}, status="resolved", max_incidents=2
    )
    results = ok._run({"ti": StandInTI()}, {})  # type: ignore[arg-type]
    assert sum(1 for r in results if not r["skipped"]) == 2

    for incident_id in soda_cloud_emulator.incident_ids():
        soda_cloud_emulator._update(incident_id, {"status": "reported"})
    too_many = UpdateIncidentsOperator(
        task_id="t", selection={"status": "open"}, status="resolved", max_incidents=2
    )
    with pytest.raises(AirflowFailException, match=r"would change 12 Soda Cloud incidents \(12 match\)"):
        too_many._run({"ti": StandInTI()}, {})  # type: ignore[arg-type]

    dry = UpdateIncidentsOperator(
        task_id="t", selection={"status": "open"}, status="resolved", max_incidents=2, dry_run=True
    )
    log = operator_log(UpdateIncidentsOperator)
    report = dry._run({"ti": StandInTI()}, {})  # type: ignore[arg-type]
    assert sum(1 for r in report if r["changes"]) == 12
    assert (
        "WARNING Dry run: The selection (status in (reported, investigating, fixing)) would change 12"
        in log.text
    )
    assert "a real run would refuse" in log.text
    assert soda_cloud_emulator.requests_to("update_incident")[2:] == []  # only the first run's two


# -- 10. compact, bounded payloads --------------------------------------------------------------------


def test_a_large_selection_carries_a_compact_bounded_payload() -> None:
    many = [{"id": f"m-{n:04d}", "datasetId": "ds-bulk", "description": "x" * 500} for n in range(1000)]
    with SodaCloudEmulator(incidents=many) as emulator, pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_SODA_CLOUD_DEFAULT", emulator.airflow_connection())
        for incident_id in emulator.incident_ids():
            emulator._update(incident_id, {"status": "resolved"})
        event = asyncio.run(first_event(waiting(0.2, selection={"dataset_id": "ds-bulk"})))

    assert event["status"] == "success"
    assert event["matched"] == 1000
    assert len(event["incidents"]) == MAX_RETURNED_INCIDENTS
    assert set(event["incidents"][0]) == {"id", "number", "name", "status", "severity", "cloud_url"}
    assert len(json.dumps(event)) < 40_000  # was 751 KiB for 1,000 incidents


def test_the_sensor_says_when_it_cut_the_incidents_it_returns(
    operator_log: Callable[[type], RecordingLog],
) -> None:
    from airflow_provider_soda.sensors.incidents import SodaCloudIncidentSensor

    log = operator_log(SodaCloudIncidentSensor)
    sensor = SodaCloudIncidentSensor(
        task_id="s", selection={"dataset_id": "ds-bulk"}, verify_dataset_ids=False
    )
    incidents = [{"id": f"m-{n}", "description": "long", "status": "resolved"} for n in range(150)]
    ti = StandInTI()
    returned = sensor.execute_complete(
        {"ti": ti},  # type: ignore[arg-type]
        # All 150, as an event of an older trigger could carry them: the sensor cuts them itself.
        {"status": "success", "incidents": incidents, "matched": 150},
    )
    assert [i["id"] for i in returned] == [f"m-{n}" for n in range(MAX_RETURNED_INCIDENTS)]
    assert "description" not in returned[0]
    assert "150 incidents matched; the first 100 are returned" in log.text


# -- 11. trigger hashes --------------------------------------------------------------------------------


def test_an_integer_and_a_float_interval_serialise_alike() -> None:
    """An AssetWatcher whose trigger hash changes takes a new baseline: 60 and 60.0 must hash alike."""
    events = [
        SodaCloudIncidentEventTrigger(selection={"dataset_id": "ds-orders"}, poll_interval=v)
        for v in (60, 60.0)
    ]
    waits = [waiting(v, incident_id=DEMO_INCIDENT_ID) for v in (60, 60.0)]
    for pair in (events, waits):
        assert [json.dumps(trigger.serialize(), default=str) for trigger in pair] == [
            json.dumps(pair[1].serialize(), default=str)
        ] * 2
    hash_of = getattr(SodaCloudIncidentEventTrigger, "hash", None)  # Airflow 3's event triggers
    if hash_of is not None:
        assert hash_of(*events[0].serialize()) == hash_of(*events[1].serialize())


# -- 12. links and rendering --------------------------------------------------------------------------


def test_the_sensor_and_the_gate_link_to_their_one_incident(
    dag_test: Any, soda_cloud_emulator: SodaCloudEmulator
) -> None:
    from airflow_provider_soda.links.incidents import INCIDENT_URL_XCOM_KEY, SodaCloudIncidentLink
    from airflow_provider_soda.operators.gate import SodaCloudIncidentGateOperator
    from airflow_provider_soda.operators.incidents import UpdateIncidentsOperator
    from airflow_provider_soda.sensors.incidents import SodaCloudIncidentSensor

    for operator in (SodaCloudIncidentSensor, SodaCloudIncidentGateOperator):
        assert any(isinstance(link, SodaCloudIncidentLink) for link in operator.operator_extra_links)
    for operator in (SodaCloudIncidentSensor, UpdateIncidentsOperator):
        assert operator.template_fields_renderers["selection"] == "json"

    wait = dag_test("soda_test_sensor_poke", conf={"target_status": "reported"})
    assert xcom_value(wait, "wait", key=INCIDENT_URL_XCOM_KEY).endswith(f"/incidents/{DEMO_INCIDENT_ID}")
    gate = dag_test("soda_test_gate", conf={"dataset_ids": ["ds-orders"]})  # one critical incident open
    assert gate.state == "failed"
    assert xcom_value(gate, "gate", key=INCIDENT_URL_XCOM_KEY).endswith("/incidents/inc-orders-dup")


def test_in_a_worker_an_unforeseen_error_still_fails_the_poke() -> None:
    """Only the triggerer's shared loop retries what it did not foresee; a poke fails as before."""
    from airflow_provider_soda.sensors.incidents import SodaCloudIncidentSensor

    sensor = SodaCloudIncidentSensor(
        task_id="s", incident_id=DEMO_INCIDENT_ID, soda_cloud_conn_id="no_such_conn"
    )
    with pytest.raises(Exception, match="no_such_conn") as raised:
        sensor.poke({})  # type: ignore[arg-type]
    assert "SodaCloudPollError" not in type(raised.value).__name__
