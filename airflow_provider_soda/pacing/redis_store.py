"""The ``redis`` pacing store: schedules shared by every machine of a deployment.

Each decision is one Lua script run atomically in Redis at Redis's clock (``TIME``), so workers
with drifting clocks still agree, and every key expires on its own a few windows after its last
use. Needs the optional extra: ``pip install 'airflow-provider-soda[redis]'``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.pacing.stores import StoreUnavailable

#: Seconds a Redis call may take before the store counts as unavailable.
SOCKET_TIMEOUT = 2.0
#: A schedule key outlives its last use by this many windows, plus the longest reservation hold.
_KEY_TTL_PERIODS = 3
_KEY_TTL_EXTRA = 600.0


def redact_url(url: str) -> str:
    """Return the URL without its password (``redis://user:***@host``), for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


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
            self._client = redis.Redis.from_url(
                self._url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT
            )
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
            text = str(err)
            password = urlsplit(self._url).password
            if password:
                text = text.replace(password, "***")
            raise StoreUnavailable(
                f"Redis at {redact_url(self._url)} failed: {type(err).__name__}: {text}"
            ) from err
        return json.loads(raw)
