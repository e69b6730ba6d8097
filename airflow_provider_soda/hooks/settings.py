"""Turn an Airflow connection of type ``soda_cloud`` into validated client settings.

Every problem names the connection id and the field to fix, because the person reading
the error is usually looking at a failed task, not at the connection form.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_soda.endpoints import DEFAULT_REGION, ENDPOINTS, REGIONS, UPDATE_INCIDENT, RateLimit
from airflow_provider_soda.exceptions import SodaCloudConfigError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Connection

CONN_TYPE = "soda_cloud"
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class SodaCloudSettings:
    """Where and how to call Soda Cloud. Secrets are kept out of ``repr``."""

    conn_id: str
    base_url: str
    key_id: str | None = None
    key_secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    verify: bool | str = True
    rate_limit_group: str | None = None

    @property
    def location(self) -> str:
        """Where requests go, as a person would say it: the region and URL, or the custom base URL."""
        for name, url in REGIONS.items():
            if url == self.base_url:
                return f"region {name} ({url})"
        return f"custom base URL {self.base_url}"

    @property
    def auth_kind(self) -> str:
        return "api key" if self.key_id else "cookie token"

    @property
    def credential_fingerprint(self) -> str:
        """Stable, non-reversible id of the credential: rate limits are counted per credential."""
        material = f"{self.key_id}:{self.key_secret}" if self.key_id else f"token:{self.token}"
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    def rate_limit(self, bucket: str) -> RateLimit:
        return self.rate_limits.get(bucket, ENDPOINTS[bucket].rate_limit)

    @classmethod
    def from_connection(cls, conn: Connection) -> SodaCloudSettings:
        conn_id = conn.conn_id
        extra = _extra(conn)
        key_id, key_secret = conn.login or None, conn.password or None
        token = _get(extra, "token") or None
        if key_id and not key_secret:
            raise SodaCloudConfigError(
                f"Connection {conn_id!r} has an API key ID (login) but no API key secret (password). "
                "Set both; they are created together in Soda Cloud under Profile -> API Keys."
            )
        if key_secret and not key_id:
            raise SodaCloudConfigError(
                f"Connection {conn_id!r} has an API key secret (password) but no API key ID (login). "
                "Set both; they are created together in Soda Cloud under Profile -> API Keys."
            )
        if not key_id and not token:
            raise SodaCloudConfigError(
                f"Connection {conn_id!r} has no Soda Cloud credentials. Set the API key ID as login "
                "and the API key secret as password (Soda Cloud: Profile -> API Keys), or a "
                "pre-authenticated token in extra 'token'."
            )
        return cls(
            conn_id=conn_id,
            base_url=_base_url(conn_id, conn.host, conn.port, _get(extra, "region")),
            key_id=key_id,
            key_secret=key_secret,
            token=None if key_id else token,
            timeout=_positive_number(conn_id, "timeout", _get(extra, "timeout"), DEFAULT_TIMEOUT),
            rate_limits=_rate_limits(conn_id, _get(extra, "rate_limits"), extra),
            verify=_verify(conn_id, _get(extra, "verify")),
            rate_limit_group=_group(conn_id, _get(extra, "rate_limit_group")),
        )


#: A webhook token shorter than this is refused (deliveries get 404, and the log says why): it
#: would be guessable by anyone who can reach the API server.
MIN_WEBHOOK_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class WebhookSettings:
    """What the webhook receiver needs of a connection; the token is kept out of ``repr``.

    Only a ``soda_cloud`` connection with a ``webhook_token`` receives; the API key is not needed
    (a link back is sent with it when set). ``base_url`` is None when the host or region is
    invalid: deliveries are still received, and no link back is sent.
    """

    conn_id: str
    token: str = field(repr=False)
    base_url: str | None = None
    link_back: bool = False
    problem: str | None = None

    @classmethod
    def from_connection(cls, conn: Connection) -> WebhookSettings | None:
        """Return the connection's webhook settings, or None when it does not receive webhooks."""
        if (conn.conn_type or "").replace("-", "_") != CONN_TYPE:
            return None
        extra = _extra(conn)
        token = _get(extra, "webhook_token")
        if not isinstance(token, str) or not token.strip():
            return None
        problem = None
        try:
            base_url: str | None = _base_url(conn.conn_id, conn.host, conn.port, _get(extra, "region"))
        except SodaCloudConfigError as err:
            base_url, problem = None, str(err)
        return cls(
            conn_id=conn.conn_id,
            token=token.strip(),
            base_url=base_url,
            link_back=_get(extra, "webhook_link_back") in (True, "true", "True", "1", 1),
            problem=problem,
        )

    @property
    def token_problem(self) -> str | None:
        """Why the token cannot be used (too short, or not printable ASCII), or None."""
        if len(self.token) < MIN_WEBHOOK_TOKEN_LENGTH:
            return f"is shorter than {MIN_WEBHOOK_TOKEN_LENGTH} characters (it could be guessed)"
        if not all(" " < char <= "~" for char in self.token):
            return "holds characters other than printable ASCII (an HTTP header cannot carry them)"
        return None

    @property
    def identity(self) -> str:
        """Return who receives, for telling deliveries apart: a hash of the token.

        Not the URL's spelling of the connection id: ``SODA_CLOUD_DEFAULT`` and
        ``soda_cloud_default`` may be one connection.
        """
        return hashlib.sha256(f"webhook:{self.token}".encode()).hexdigest()[:32]


def _extra(conn: Connection) -> dict[str, Any]:
    try:
        extra = conn.extra_dejson
    except Exception:  # pragma: no cover - Airflow already logs unreadable extras
        extra = {}
    return extra if isinstance(extra, dict) else {}


def _get(extra: Mapping[str, Any], name: str) -> Any:
    """Plain key first, then the ``extra__soda_cloud__`` prefix older connection forms wrote."""
    value = extra.get(name)
    if value in (None, ""):
        value = extra.get(f"extra__{CONN_TYPE}__{name}")
    return None if value == "" else value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _base_url(conn_id: str, host: str | None, port: int | None, region: Any) -> str:
    if host:
        raw = host.strip().rstrip("/")
        if "://" not in raw:
            bare = raw.split("/")[0].split(":")[0].strip("[]")
            raw = f"{'http' if _is_loopback(bare) else 'https'}://{raw}"
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SodaCloudConfigError(
                f"Connection {conn_id!r} has host {host!r}, which is not a base URL. Use e.g. "
                "'https://cloud.soda.io', or leave host empty and set extra 'region'."
            )
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise SodaCloudConfigError(
                f"Connection {conn_id!r} has an http:// base URL for {parts.hostname!r}; the API key "
                "would travel unencrypted. Use https:// (http is only allowed for loopback hosts)."
            )
        netloc = parts.netloc
        if port and parts.port is None:
            netloc = f"{netloc}:{port}"
        return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")
    name = DEFAULT_REGION if region in (None, "") else str(region).strip().lower()
    if name not in REGIONS:
        valid = ", ".join(f"{k!r} ({v})" for k, v in REGIONS.items())
        raise SodaCloudConfigError(
            f"Connection {conn_id!r} has region {region!r}; valid regions are {valid}. "
            "For any other address set the connection's host to the full base URL."
        )
    return REGIONS[name]


def _positive_number(conn_id: str, name: str, value: Any, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or not number > 0 or number == float("inf"):
        raise SodaCloudConfigError(
            f"Connection {conn_id!r} has extra {name!r} = {value!r}; it must be a positive number"
            + (" of seconds." if name in ("timeout", "update_incident_period") else ".")
        )
    return number


def _rate_limits(conn_id: str, value: Any, extra: Mapping[str, Any]) -> dict[str, RateLimit]:
    """``extra.rate_limits`` (JSON, any endpoint), then the form's update-incident fields over it."""
    limits = _json_rate_limits(conn_id, value)
    requests, period = _get(extra, "update_incident_requests"), _get(extra, "update_incident_period")
    if requests is not None or period is not None:
        default = limits.get(UPDATE_INCIDENT.bucket, UPDATE_INCIDENT.rate_limit)
        count = (
            default.requests
            if requests is None
            else _positive_number(conn_id, "update_incident_requests", requests, 0)
        )
        if count != int(count):
            raise SodaCloudConfigError(
                f"Connection {conn_id!r} has extra 'update_incident_requests' = {requests!r}; it must be a "
                "positive whole number."
            )
        seconds = (
            default.period
            if period is None
            else _positive_number(conn_id, "update_incident_period", period, 0)
        )
        limits[UPDATE_INCIDENT.bucket] = RateLimit(int(count), seconds)
    return limits


def _json_rate_limits(conn_id: str, value: Any) -> dict[str, RateLimit]:
    if value is None:
        return {}
    if isinstance(value, str):  # URI-style connections carry extras as strings
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    example = '{"update_incident": {"requests": 10, "period": 60}}'
    if not isinstance(value, dict):
        raise SodaCloudConfigError(
            f"Connection {conn_id!r} has an invalid extra 'rate_limits'; expected a JSON object like {example}."
        )
    limits = {}
    for bucket, spec in value.items():
        if bucket not in ENDPOINTS:
            raise SodaCloudConfigError(
                f"Connection {conn_id!r}: extra 'rate_limits' names unknown endpoint {bucket!r}; "
                f"known ones are {', '.join(ENDPOINTS)}."
            )
        requests = spec.get("requests") if isinstance(spec, dict) else None
        period = spec.get("period") if isinstance(spec, dict) else None
        ok = (
            isinstance(requests, int)
            and not isinstance(requests, bool)
            and requests > 0
            and isinstance(period, (int, float))
            and not isinstance(period, bool)
            and 0 < period < float("inf")
        )
        if not ok:
            raise SodaCloudConfigError(
                f"Connection {conn_id!r}: extra 'rate_limits.{bucket}' = {spec!r} is invalid; expected "
                "a positive whole number of 'requests' per positive 'period' in seconds, like "
                f"{example}."
            )
        limits[bucket] = RateLimit(int(requests), float(period))  # type: ignore[arg-type]
    return limits


def _group(conn_id: str, value: Any) -> str | None:
    """``extra.rate_limit_group``: connections naming the same group share one pacing schedule."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SodaCloudConfigError(
            f"Connection {conn_id!r} has extra 'rate_limit_group' = {value!r}; it must be a non-empty "
            "name shared by the connections whose requests Soda Cloud counts together."
        )
    return value.strip()


def _verify(conn_id: str, value: Any) -> bool | str:
    """``extra.verify``: a CA bundle path for corporate proxies; TLS verification cannot be switched off."""
    if value is None or value is True or value == "true":
        return True
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise SodaCloudConfigError(
        f"Connection {conn_id!r} has extra 'verify' = {value!r}; it may only name a CA bundle file "
        "(TLS verification stays on)."
    )
