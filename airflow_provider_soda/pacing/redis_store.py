"""The ``redis`` pacing store: schedules shared by every machine of a deployment.

Each decision is one Lua script run atomically in Redis at Redis's clock (``TIME``), so workers
with drifting clocks still agree, and every key expires on its own a few windows after its last
use. Needs the optional extra: ``pip install 'airflow-provider-soda[redis]'``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.pacing.stores import StoreMisconfigured, StoreUnavailable

#: Seconds a Redis call may take before the store counts as unavailable.
SOCKET_TIMEOUT = 2.0
#: A schedule key outlives the furthest moment its state speaks of (a pause, a booking; the script
#: adds that) by this many windows, plus a margin.
_KEY_TTL_PERIODS = 3
_KEY_TTL_EXTRA = 600.0


#: Query parameters of a Redis URL that hold a secret (redis-py reads ``password`` from the query,
#: the documented way for ``unix://`` URLs).
SECRET_QUERY_PARAMETERS = frozenset({"password", "sentinel_password"})


def url_secrets(url: str) -> list[str]:
    """Return the secrets a store URL holds: the password in its user part and in its query."""
    parts = urlsplit(url)
    secrets = [parts.password] if parts.password else []
    secrets += [
        value for name, value in parse_qsl(parts.query) if name.lower() in SECRET_QUERY_PARAMETERS and value
    ]
    return secrets


def redact_url(url: str) -> str:
    """Return the URL without its secrets (``redis://user:***@host``, ``?password=***``), for logs and errors."""
    parts = urlsplit(url)
    if not url_secrets(url):
        return url
    netloc = parts.netloc
    if parts.password is not None:
        host = netloc.rpartition("@")[2]
        netloc = f"{parts.username}:***@{host}" if parts.username else f":***@{host}"
    query = "&".join(
        f"{name}=***" if name.lower() in SECRET_QUERY_PARAMETERS else part
        for part in parts.query.split("&")
        if part
        for name in [part.partition("=")[0]]
    )
    return (
        f"{parts.scheme}://{netloc}{parts.path}"
        + (f"?{query}" if query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )


def redact_text(text: str, url: str) -> str:
    """Return ``text`` with every secret of ``url`` replaced by ``***`` (an error may quote them)."""
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text


class RedisStore:
    """Schedules in Redis under ``<prefix>:<schedule>``; the URL's credentials never reach ``repr``."""

    name = "redis"

    def __init__(self, url: str, *, prefix: str) -> None:
        self._url = url
        self.prefix = prefix
        self._client: Any = None
        self._script: Any = None

    def __repr__(self) -> str:
        return f"RedisStore({redact_url(self._url)!r}, prefix={self.prefix!r})"

    def _connect(self) -> Any:
        if self._script is None:
            try:
                import redis
            except ImportError as err:
                raise StoreUnavailable(
                    "the redis client is not installed; pip install 'airflow-provider-soda[redis]'"
                ) from err
            try:
                self._client = redis.Redis.from_url(
                    self._url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT
                )
            except (ValueError, TypeError) as err:  # an option redis-py cannot read (?socket_timeout=abc)
                raise StoreMisconfigured(
                    f"[soda_cloud] rate_limit_store = {redact_url(self._url)!r} cannot be used: "
                    f"{redact_text(str(err), self._url)} Fix the URL (redis-py's URL options)."
                ) from err
            lua = resources.files("airflow_provider_soda.pacing").joinpath("schedule.lua").read_text()
            self._script = self._client.register_script(lua)
        return self._script

    def apply(self, key: str, limit: RateLimit, op: str, args: list[Any]) -> Any:
        script = self._connect()
        ttl_ms = int((limit.period * _KEY_TTL_PERIODS + _KEY_TTL_EXTRA) * 1000)
        try:
            import redis

            raw = script(
                keys=[f"{self.prefix}:{key}"],
                args=[op, limit.requests, limit.period, ttl_ms, json.dumps(args)],
            )
        except redis.RedisError as err:
            raise StoreUnavailable(
                f"Redis at {redact_url(self._url)} failed: {type(err).__name__}: {redact_text(str(err), self._url)}"
            ) from err
        return json.loads(raw)
