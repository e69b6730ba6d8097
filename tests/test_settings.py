"""Reading the soda_cloud connection: regions, custom hosts, credentials, extras, JSON and URI forms."""

from __future__ import annotations

import json

import pytest

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.exceptions import SodaCloudConfigError
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

ENV = "AIRFLOW_CONN_SODA_CLOUD_DEFAULT"


def settings_for(monkeypatch: pytest.MonkeyPatch, conn: dict[str, object] | str):
    monkeypatch.setenv(
        ENV, conn if isinstance(conn, str) else json.dumps({"conn_type": "soda_cloud", **conn})
    )
    return SodaCloudHook().settings


def key(**extra: object) -> dict[str, object]:
    return {"login": "kid", "password": "ksecret", "extra": extra}


@pytest.mark.parametrize(
    ("region", "url"),
    [
        (None, "https://cloud.soda.io"),
        ("eu", "https://cloud.soda.io"),
        ("us", "https://cloud.us.soda.io"),
        (" US ", "https://cloud.us.soda.io"),
    ],
)
def test_region_selects_base_url(monkeypatch: pytest.MonkeyPatch, region: str | None, url: str) -> None:
    extra = {} if region is None else {"region": region}
    assert settings_for(monkeypatch, key(**extra)).base_url == url


def test_prefixed_extra_from_older_forms_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        settings_for(monkeypatch, key(extra__soda_cloud__region="us")).base_url == "https://cloud.us.soda.io"
    )


def test_unknown_region_lists_valid_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SodaCloudConfigError, match=r"'soda_cloud_default'.*'apac'.*'eu'.*'us'"):
        settings_for(monkeypatch, key(region="apac"))


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("https://proxy.example.com/soda/", None, "https://proxy.example.com/soda"),
        ("proxy.example.com", None, "https://proxy.example.com"),
        ("http://127.0.0.1:8765", None, "http://127.0.0.1:8765"),
        ("127.0.0.1", 8765, "http://127.0.0.1:8765"),
        ("http://localhost:9000", None, "http://localhost:9000"),
        ("http://[::1]:9000", None, "http://[::1]:9000"),
    ],
)
def test_custom_host_overrides_region(
    monkeypatch: pytest.MonkeyPatch, host: str, port: int | None, url: str
) -> None:
    conn = {**key(region="us"), "host": host, "port": port}
    assert settings_for(monkeypatch, conn).base_url == url


def test_plain_http_to_a_remote_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SodaCloudConfigError, match="unencrypted"):
        settings_for(monkeypatch, {**key(), "host": "http://cloud.soda.io"})


def test_uri_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(
        monkeypatch,
        "soda-cloud://kid:s%2Fecret@/?region=us&timeout=12&rate_limits=%7B%22update_incident%22%3A"
        "%7B%22requests%22%3A5%2C%22period%22%3A30%7D%7D",
    )
    assert (settings.key_id, settings.key_secret) == ("kid", "s/ecret")
    assert settings.base_url == "https://cloud.us.soda.io"
    assert settings.timeout == 12.0
    assert settings.rate_limit("update_incident") == RateLimit(5, 30.0)
    assert settings.rate_limit("test_login") == RateLimit(10, 10.0)


def test_uri_connection_with_encoded_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(monkeypatch, "soda-cloud://kid:ksecret@http%3A%2F%2F127.0.0.1%3A8765")
    assert settings.base_url == "http://127.0.0.1:8765"


def test_json_connection_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(
        monkeypatch, key(timeout=5, rate_limits={"list_incidents": {"requests": 2, "period": 1.5}})
    )
    assert settings.timeout == 5.0
    assert settings.rate_limit("list_incidents") == RateLimit(2, 1.5)
    assert settings.rate_limit("update_incident") == RateLimit(10, 60.0)


def test_token_is_used_only_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    only_token = settings_for(monkeypatch, {"extra": {"token": "tok"}})
    assert (only_token.key_id, only_token.token, only_token.auth_kind) == (None, "tok", "cookie token")
    both = settings_for(monkeypatch, key(token="tok"))
    assert (both.key_id, both.token, both.auth_kind) == ("kid", None, "api key")


@pytest.mark.parametrize(
    ("conn", "message"),
    [
        ({}, r"'soda_cloud_default' has no Soda Cloud credentials.*Profile -> API Keys"),
        ({"login": "kid"}, "no API key secret"),
        ({"password": "ksecret"}, "no API key ID"),
        (key(timeout="soon"), r"extra 'timeout' = 'soon'.*positive number"),
        (key(timeout=-1), "extra 'timeout'"),
        (
            key(rate_limits={"scans": {"requests": 1, "period": 1}}),
            r"unknown endpoint 'scans'.*update_incident",
        ),
        (
            key(rate_limits={"update_incident": {"requests": -1, "period": 60}}),
            r"rate_limits.update_incident",
        ),
        (key(rate_limits={"update_incident": {"requests": 10}}), r"rate_limits.update_incident"),
        (key(rate_limits="not json"), "invalid extra 'rate_limits'"),
        (key(verify=False), "TLS verification stays on"),
        ({**key(), "host": "ftp://x"}, "not a base URL"),
    ],
)
def test_bad_connections_name_the_connection_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, conn: dict[str, object], message: str
) -> None:
    with pytest.raises(SodaCloudConfigError, match=message) as excinfo:
        settings_for(monkeypatch, conn)
    assert "ksecret" not in str(excinfo.value)


def test_settings_repr_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(monkeypatch, key(token="tok-secret"))
    assert "ksecret" not in repr(settings)
    assert "tok-secret" not in repr(settings)
    assert "ksecret" not in repr(SodaCloudHook())


def test_credential_fingerprint_depends_on_the_secret_but_does_not_reveal_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = settings_for(monkeypatch, key()).credential_fingerprint
    second = settings_for(monkeypatch, {"login": "kid", "password": "other"}).credential_fingerprint
    assert first != second
    assert "ksecret" not in first


def test_ca_bundle_for_corporate_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(monkeypatch, key(verify="/etc/ssl/certs/corporate.pem"))
    assert settings.verify == "/etc/ssl/certs/corporate.pem"
    assert SodaCloudHook().get_conn().verify == "/etc/ssl/certs/corporate.pem"
    assert settings_for(monkeypatch, key()).verify is True


def test_location_names_region_or_custom_url(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_for(monkeypatch, key(region="us")).location == "region us (https://cloud.us.soda.io)"
    custom = settings_for(monkeypatch, {**key(), "host": "https://proxy.example.com"})
    assert custom.location == "custom base URL https://proxy.example.com"


def test_form_fields_for_the_update_incident_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    both = settings_for(monkeypatch, key(update_incident_requests=5, update_incident_period=30))
    assert both.rate_limit("update_incident") == RateLimit(5, 30.0)
    only_requests = settings_for(monkeypatch, key(update_incident_requests="4"))  # URI extras are strings
    assert only_requests.rate_limit("update_incident") == RateLimit(4, 60.0)
    over_json = settings_for(
        monkeypatch,
        key(update_incident_period=2, rate_limits={"update_incident": {"requests": 3, "period": 9}}),
    )
    assert over_json.rate_limit("update_incident") == RateLimit(3, 2.0)
    with pytest.raises(SodaCloudConfigError, match=r"'update_incident_requests' = 2\.5.*whole number"):
        settings_for(monkeypatch, key(update_incident_requests=2.5))
    with pytest.raises(
        SodaCloudConfigError, match=r"'update_incident_period' = -1.*positive number of seconds"
    ):
        settings_for(monkeypatch, key(update_incident_period=-1))
