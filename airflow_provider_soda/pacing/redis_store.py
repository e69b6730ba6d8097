"""The ``redis`` pacing store: schedules shared by every machine of a deployment.

Each decision is one Lua script run atomically in Redis at Redis's clock (``TIME``), on one key,
so workers with drifting clocks still agree, every key expires on its own a few windows after the
last moment it speaks of, and a Redis Cluster routes each decision to the node of its key's slot.
Needs the optional extra: ``pip install 'airflow-provider-soda[redis]'``.

Topologies: one server (``redis://``, ``rediss://``, ``unix://``); a Redis Cluster (any node's
``redis://`` URL; found with ``INFO cluster``, or on the first ``MOVED``; database 0 only); Sentinel
(``redis+sentinel://[[user]:password@]host:port[,host:port...]/<service>[/<db>]``, with
``?sentinel_password=`` for the sentinels), where the master is asked of the sentinels again after
a failover.
"""

from __future__ import annotations

import contextlib
import json
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

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


SENTINEL_SCHEMES = ("redis+sentinel://", "rediss+sentinel://")


class RedisStore:
    """Schedules in Redis under ``<prefix>:<schedule>``; the URL's credentials never reach ``repr``."""

    name = "redis"

    def __init__(self, url: str, *, prefix: str) -> None:
        self._url = url
        self.prefix = prefix
        self._client: Any = None
        self._script: Any = None
        #: "server", "cluster" or "sentinel", once connected.
        self.topology: str | None = None

    def __repr__(self) -> str:
        return f"RedisStore({redact_url(self._url)!r}, prefix={self.prefix!r})"

    def _misconfigured(self, problem: str, err: BaseException | None = None) -> StoreMisconfigured:
        detail = f": {redact_text(str(err), self._url)}" if err is not None else ""
        return StoreMisconfigured(
            f"[soda_cloud] rate_limit_store = {redact_url(self._url)!r} cannot be used: {problem}{detail}"
        )

    def _connect(self) -> Any:
        if self._script is None:
            try:
                import redis  # noqa: F401 - only to say what to install
            except ImportError as err:
                raise StoreUnavailable(
                    "the redis client is not installed; pip install 'airflow-provider-soda[redis]'"
                ) from err
            try:
                client, self.topology = self._new_client()
            except (ValueError, TypeError) as err:  # an option redis-py cannot read (?socket_timeout=abc)
                raise self._misconfigured("fix the URL (see redis-py's URL options)", err) from err
            lua = resources.files("airflow_provider_soda.pacing").joinpath("schedule.lua").read_text()
            self._client, self._script = client, client.register_script(lua)
        return self._script

    def _new_client(self, *, cluster: bool | None = None) -> tuple[Any, str]:
        import redis

        timeouts = {"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": SOCKET_TIMEOUT}
        if self._url.startswith(SENTINEL_SCHEMES):
            return _sentinel_master(self._url, timeouts), "sentinel"
        client = redis.Redis.from_url(self._url, **timeouts)
        if cluster is None:
            cluster = self._is_cluster(client)
        if not cluster:
            return client, "server"
        client.close()
        database = client.connection_pool.connection_kwargs.get("db") or 0
        if database:
            raise self._misconfigured(
                f"it is a Redis Cluster, which has only database 0: remove '/{database}' from the URL "
                "([soda_cloud] rate_limit_redis_prefix keeps deployments apart)"
            )
        return redis.RedisCluster.from_url(self._url, **timeouts), "cluster"

    def _is_cluster(self, client: Any) -> bool:
        import redis

        try:
            return bool(client.info("cluster").get("cluster_enabled"))
        except redis.ResponseError as err:
            # "SELECT is not allowed in cluster mode" (a database in the URL) is a Cluster; INFO denied
            # by an ACL is not known to be one: a MOVED answer will tell (see apply).
            return "not allowed in cluster mode" in str(err)
        except redis.RedisError:
            return False  # unreachable now: apply reports it

    def apply(self, key: str, limit: RateLimit, op: str, args: list[Any]) -> Any:
        import redis

        ttl_ms = int((limit.period * _KEY_TTL_PERIODS + _KEY_TTL_EXTRA) * 1000)
        call = {
            "keys": [f"{self.prefix}:{key}"],
            "args": [op, limit.requests, limit.period, ttl_ms, json.dumps(args)],
        }
        try:
            try:
                return json.loads(self._connect()(**call))
            except redis.exceptions.MovedError:  # a Cluster that INFO did not reveal (an ACL without INFO)
                self._reset()
                self._client, self.topology = self._new_client(cluster=True)
                self._script = self._client.register_script(
                    resources.files("airflow_provider_soda.pacing").joinpath("schedule.lua").read_text()
                )
                return json.loads(self._script(**call))
            except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError):
                # A failover (a replica answering, the master gone) or a dropped connection: once
                # more on a new connection (Sentinel names the new master) before falling back.
                self._reset()
                return json.loads(self._connect()(**call))
        except redis.exceptions.ReadOnlyError as err:
            raise StoreUnavailable(
                f"Redis at {redact_url(self._url)} is a read-only replica (after a failover?): point "
                "rate_limit_store at the master, or use redis+sentinel:// so that the master is found again"
            ) from err
        except redis.exceptions.NoPermissionError as err:
            raise self._misconfigured(
                "the Redis user lacks a permission this store needs (docs: running-at-scale, 'Redis users and ACLs')",
                err,
            ) from err
        except redis.RedisError as err:
            raise StoreUnavailable(
                f"Redis at {redact_url(self._url)} failed: {type(err).__name__}: {redact_text(str(err), self._url)}"
            ) from err

    def _reset(self) -> None:
        client, self._client, self._script = self._client, None, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def _sentinel_master(url: str, timeouts: dict[str, float]) -> Any:
    """Return a client of the master a Sentinel URL names, asked of the sentinels again after a failover."""
    from redis.sentinel import Sentinel

    parts = urlsplit(url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    nodes = []
    for node in hosts.split(","):
        host, _, port = node.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"sentinel address {node!r} is not host:port")
        nodes.append((host.strip("[]"), int(port)))
    path = [segment for segment in parts.path.split("/") if segment]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError("the path must be /<service name> or /<service name>/<database number>")
    query = dict(parse_qsl(parts.query))
    unknown = sorted(set(query) - {"sentinel_password", "sentinel_username"})
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} in a Sentinel URL")
    ssl = parts.scheme.startswith("rediss")
    sentinel_auth = {name.removeprefix("sentinel_"): unquote(value) for name, value in query.items() if value}
    # Typed as Any: redis 8 declares force_master_ip (str | None) before **connection_kwargs, and
    # mypy matches a spread dict[str, float] against it too.
    connection_kwargs: dict[str, Any] = dict(timeouts)
    sentinel = Sentinel(nodes, sentinel_kwargs={**timeouts, **sentinel_auth, "ssl": ssl}, **connection_kwargs)
    return sentinel.master_for(  # type: ignore[no-untyped-call]
        path[0],
        db=int(path[1]) if len(path) == 2 else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
        ssl=ssl,
    )
