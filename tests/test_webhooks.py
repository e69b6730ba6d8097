"""The webhook receiver's parts that need no API server: what a delivery becomes, who may send one,
where a link back may go. The receiver itself runs in a real API server in test_webhooks_receiver.py."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_soda.hooks.incidents import callback_path
from airflow_provider_soda.hooks.settings import WebhookSettings
from airflow_provider_soda.models.webhooks import WebhookDelivery
from airflow_provider_soda.watching import COMPACT_FIELDS
from airflow_provider_soda.webhooks import receiver
from airflow_provider_soda.webhooks.events import MAX_EVENT_CHECKS, fingerprint, plan

TOKEN = "t" * 40


def incident(**fields: Any) -> dict[str, Any]:
    body = {
        "id": "inc-1",
        "number": 4,
        "title": "Rows missing",
        "severity": "major",
        "status": "reported",
        "sodaCloudUrl": "https://cloud.soda.io/incidents/inc-1",
        "checkResults": [{"id": "c1", "name": "row_count > 0", "datasets": [{"id": "ds-orders"}]}],
    }
    return {"event": "incidentCreated", "incident": body | fields}


def uris(body: dict[str, Any]) -> list[str]:
    return [e.uri for e in plan(WebhookDelivery.model_validate(body)).emissions]


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("minor", "minor"), ("low", "minor"), ("Medium", "major"), ("major", "major"), ("high", "critical"),
     ("CRITICAL", "critical"), ("blocker", None), (None, None), (3, None)],
)  # fmt: skip
def test_severity_events_follow_the_rest_apis_three_levels(severity: Any, expected: str | None) -> None:
    emitted = uris(incident(severity=severity))
    assert emitted == ["soda-cloud://incidents/ds-orders"] + (
        [f"soda-cloud://incidents/ds-orders/{expected}"] if expected else []
    )


def test_the_incident_payload_has_the_polling_watchers_shape() -> None:
    (first, _) = plan(WebhookDelivery.model_validate(incident(status="in_progress"))).emissions
    assert set(COMPACT_FIELDS) | {"change", "previous_status"} <= set(first.payload)
    assert first.payload["status"] == "investigating"
    assert first.payload["soda_status"] == "in_progress"
    assert first.payload["change"] == "appeared"
    updated = plan(WebhookDelivery.model_validate(incident() | {"event": "incidentUpdated"}))
    assert updated.emissions[0].payload["change"] == "updated"


def test_datasets_unfit_for_a_uri_are_dropped_and_repeats_emit_once() -> None:
    body = incident()
    body["incident"]["checkResults"] = [
        {
            "datasets": [
                {"id": "ds-a"},
                "ds-b",
                {"id": "../etc"},
                {"id": "a b"},
                {"id": 7},
                None,
                {"no": "id"},
            ]
        },
        {"datasets": [{"id": "ds-a"}]},
        "not an object",
    ]
    body["incident"]["severity"] = None
    assert uris(body) == [
        "soda-cloud://incidents/ds-a",
        "soda-cloud://incidents/ds-b",
        "soda-cloud://incidents/7",
    ]


def test_what_emits_nothing_says_why() -> None:
    for body, reason in [
        ({"event": "datasetDeleted"}, "not one this receiver emits for"),
        ({"event": "incidentCreated"}, "without an incident object"),
        ({"event": "incidentCreated", "incident": "x"}, "without an incident object"),
        (incident(checkResults=[]), "names no dataset"),
        ({"event": "checkEvaluation", "checkResults": [{"name": "x"}]}, "names no dataset"),
        ({"event": "contractPublished", "contract": {"dataset": "//"}}, "without a dataset qualified name"),
    ]:
        wanted = plan(WebhookDelivery.model_validate(body))
        assert wanted.emissions == []
        assert reason in (wanted.ignored or ""), body


def test_check_evaluations_keep_the_failures_when_there_are_too_many() -> None:
    results = [{"name": f"ok {n}", "outcome": "pass", "datasets": [{"id": "ds-a"}]} for n in range(300)]
    results.append(
        {"name": "broken", "evaluationStatus": "Fail", "column": "id", "datasets": [{"id": "ds-a"}]}
    )
    (emission,) = plan(
        WebhookDelivery.model_validate({"event": "checkEvaluation", "checkResults": results})
    ).emissions
    assert emission.uri == "soda-cloud://checks/ds-a"
    assert len(emission.payload["checks"]) == MAX_EVENT_CHECKS
    assert emission.payload["checks"][0]["name"] == "broken"
    assert emission.payload["checks"][0]["outcome"] == "fail"
    assert emission.payload["checks_total"] == 301
    assert emission.payload["outcomes"] == {"pass": 300, "fail": 1}


def test_contract_uris_encode_each_part() -> None:
    body = {
        "event": "contractPublished",
        "contract": {"dataset": "my dw/db/public/orders?x", "author": {"name": "ana"}},
    }
    (emission,) = plan(WebhookDelivery.model_validate(body)).emissions
    assert emission.uri == "soda-cloud://contracts/my%20dw/db/public/orders%3Fx"
    assert emission.payload["author"] == "ana"


def test_a_delivery_is_its_connection_and_its_json() -> None:
    body = incident()
    reordered = json.loads(json.dumps(body, sort_keys=True))
    assert fingerprint("soda", body) == fingerprint("soda", reordered)
    assert fingerprint("soda", body) != fingerprint("other", body)
    assert fingerprint("soda", body) != fingerprint("soda", incident(status="resolved"))


def test_a_connection_spelled_differently_is_the_same_receiver() -> None:
    """Environment connections answer to any case of their id: the receiver is the token, not the URL."""
    one, other = settings(webhook_token=TOKEN), settings(webhook_token=TOKEN)
    assert one is not None
    assert other is not None
    assert one.identity == other.identity
    assert TOKEN not in one.identity
    assert one.identity != settings(webhook_token=TOKEN + "x").identity  # type: ignore[union-attr]


def test_odd_field_values_read_as_missing_not_as_a_bad_delivery() -> None:
    delivery = WebhookDelivery.model_validate(incident(number="²", title=["x"], severity={"a": 1}))
    assert delivery.incident is not None
    assert delivery.incident.number is None
    assert delivery.incident.title is None
    assert [e.uri for e in plan(delivery).emissions] == ["soda-cloud://incidents/ds-orders"]


class _Failing:
    def get_connection(self, conn_id: str) -> Any:
        raise ConnectionError("vault is down")


def test_a_failing_secrets_backend_is_503_not_404(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's own lookup reports a failing backend as "not defined" (404: Soda would not retry)."""
    import airflow.configuration
    from airflow.secrets.environment_variables import EnvironmentVariablesBackend

    monkeypatch.setattr(
        airflow.configuration, "ensure_secrets_loaded", lambda: [_Failing(), EnvironmentVariablesBackend()]
    )
    with pytest.raises(receiver.LookupFailed, match="_Failing: ConnectionError"):
        receiver.webhook_settings("soda_nowhere")
    # A later backend that has it wins, as in Airflow's own order.
    monkeypatch.setenv(
        "AIRFLOW_CONN_SODA_HOOKED", json.dumps({"conn_type": "soda_cloud", "extra": {"webhook_token": TOKEN}})
    )
    found = receiver.webhook_settings("soda_hooked")
    assert found is not None
    assert found.conn_id == "soda_hooked"


@pytest.mark.parametrize(("setting", "used"), [("inf", 365 * 86400.0), ("1e12", 365 * 86400.0), ("nan", 86400.0),
                                               ("-5", 86400.0), ("soon", 86400.0), ("0", 0.0), ("3600", 3600.0)])  # fmt: skip
def test_the_duplicate_window_is_a_usable_number(
    setting: str, used: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__SODA_CLOUD__WEBHOOK_DUPLICATE_WINDOW", setting)
    assert receiver.duplicate_window() == used


def settings(**extra: Any) -> WebhookSettings | None:
    from airflow.providers.common.compat.sdk import Connection

    conn = Connection(conn_id="soda", conn_type=extra.pop("conn_type", "soda_cloud"), host=extra.pop("host", None),
                      extra=json.dumps(extra))  # fmt: skip
    return WebhookSettings.from_connection(conn)


def test_the_token_is_the_only_switch() -> None:
    assert settings() is None
    assert settings(webhook_token="") is None
    assert settings(webhook_token=["not", "text"]) is None
    assert settings(conn_type="http", webhook_token=TOKEN) is None
    on = settings(webhook_token=f" {TOKEN} ")
    assert on is not None
    assert on.token == TOKEN
    assert on.base_url == "https://cloud.soda.io"
    assert on.link_back is False
    assert TOKEN not in repr(on)
    assert "shorter than 16" in (settings(webhook_token="short").token_problem or "")  # type: ignore[union-attr]
    assert "printable ASCII" in (settings(webhook_token="é" * 20).token_problem or "")  # type: ignore[union-attr]
    assert "printable ASCII" in (settings(webhook_token=TOKEN + "\x7f").token_problem or "")  # type: ignore[union-attr]
    assert settings(webhook_token=TOKEN, webhook_link_back=True).link_back  # type: ignore[union-attr]
    # A host the API key may not go to still receives, and sends no link back.
    bad = settings(webhook_token=TOKEN, host="http://internal.example")
    assert bad is not None
    assert bad.base_url is None
    assert "http" in (bad.problem or "")


def test_only_the_bearer_token_is_authorized() -> None:
    on = settings(webhook_token=TOKEN)
    assert on is not None
    assert receiver.authorized(on, f"Bearer {TOKEN}")
    assert receiver.authorized(on, f"bearer  {TOKEN} ")
    for header in (None, "", TOKEN, f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer"):
        assert not receiver.authorized(on, header), header


@pytest.mark.parametrize(
    ("raw", "detail"),
    [(b"{", "not JSON"), (b"[1]", "not a JSON object"), (b'"x"', "not a JSON object"),
     (b'{"a":' * 40 + b"1" + b"}" * 40, "nested deeper"), (b'{"event": "\\udc00"}', "not valid Unicode"),
     (b"\xff", "not JSON"), (b'{"n": ' + b"9" * 5000 + b"}", "not JSON")],
)  # fmt: skip
def test_bodies_that_are_no_delivery_are_refused(raw: bytes, detail: str) -> None:
    on = settings(webhook_token=TOKEN)
    assert on is not None
    answer = receiver.deliver(on, raw, window=60, asset_url=None)
    assert answer.status == 400
    assert detail in answer.body["detail"]


def test_a_delivery_with_nothing_to_emit_is_answered_without_the_database() -> None:
    on = settings(webhook_token=TOKEN)
    assert on is not None
    answer = receiver.deliver(on, b'{"event": "datasetDeleted"}', window=60, asset_url=None)
    assert answer.status == 200
    assert answer.body["asset_events"] == 0


@pytest.mark.parametrize(
    "callback",
    ["https://cloud.soda.io/api/v1/incidents/1/links", "https://CLOUD.soda.io:443/x?token=1"],
)
def test_a_callback_on_the_connections_soda_cloud_is_called(callback: str) -> None:
    assert callback_path("https://cloud.soda.io", callback).startswith("/")


@pytest.mark.parametrize(
    "callback",
    [
        "https://cloud.us.soda.io/x",  # another region: the key is not valid there
        "http://cloud.soda.io/x",  # unencrypted
        "https://cloud.soda.io:8443/x",
        "https://user:pw@cloud.soda.io/x",
        "https://cloud.soda.io.evil.example/x",
        "https://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
        "https://cloud.soda.io",  # no path under the base URL
        "https://cloud.soda.io:notaport/x",
        "https://cloud.soda.io/%2e%2e/admin",  # requests sends it as /../admin
        "https://cloud.soda.io/a/%2E./admin",
        "https://cloud.soda.io/a%2fb",
        "https://cloud.soda.io/a/..\\admin",
    ],
)
def test_a_callback_anywhere_else_is_refused(callback: str) -> None:
    from airflow_provider_soda.exceptions import SodaCloudValidationError

    with pytest.raises(SodaCloudValidationError, match="not on this connection's Soda Cloud") as err:
        callback_path("https://cloud.soda.io", callback)
    path = urlsplit(callback).path
    assert len(path) < 3 or path not in str(err.value)  # a callback's path may hold a token


def test_a_base_url_with_a_path_keeps_callbacks_under_it() -> None:
    from airflow_provider_soda.exceptions import SodaCloudValidationError

    assert callback_path("https://proxy.example/soda", "https://proxy.example/soda/cb/1") == "/cb/1"
    for outside in (
        "https://proxy.example/other/cb",
        "https://proxy.example/soda/../admin",
        "https://proxy.example/sodax/1",
    ):
        with pytest.raises(SodaCloudValidationError):
            callback_path("https://proxy.example/soda", outside)


def test_loading_the_plugin_builds_no_app() -> None:
    """Every process that loads plugins imports the plugin module: it must not build the FastAPI app."""
    code = (
        "import sys; import airflow_provider_soda.plugins.webhooks as p; "
        "print(sorted(m for m in sys.modules if m.startswith('airflow_provider_soda.webhooks')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
