"""Pacing: one sliding-window schedule per Soda Cloud rate limit, shared as widely as configured.

Airflow runs every task, callback batch and trigger in a process of its own, often on several
machines, so a limit kept per process is exceeded as soon as a failure storm starts many of them
at once. Requests therefore queue in a schedule held by a store (see :mod:`.stores`):

- ``local`` (default): files in a private directory; every process of the machine that runs as the same user shares them;
- ``redis://...``, ``rediss://...``, ``unix://...``: Redis, for workers on several machines;
- ``memory``: per process, as before (tests, or an explicit opt-out).

Choose it in Airflow's configuration, ``[soda_cloud] rate_limit_store``. A store that fails
(Redis down, a directory that is not writable, a corrupt file) is replaced by the per-process
schedule for a while, with one warning per process: pacing degrades, updates are never lost.

The hook is the only user: :class:`Pacer` hands out slots, :meth:`Pacer.reserve` books one ahead
(deferrable operators reserve before deferring and claim the same slot when they resume).
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from airflow_provider_soda.endpoints import RateLimit
from airflow_provider_soda.pacing.stores import (
    LocalStore,
    MemoryStore,
    PacingStore,
    StoreInsecure,
    StoreMisconfigured,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

CONFIG_SECTION = "soda_cloud"
DEFAULT_STORE = "local"
DEFAULT_REDIS_PREFIX = "airflow-provider-soda"
#: After a store failure, the per-process schedule is used this long before the store is tried again.
RETRY_STORE_AFTER = 30.0
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+sentinel://", "rediss+sentinel://")

__all__ = [
    "Pacer",
    "PacingStore",
    "QueueTooLong",
    "Slot",
    "StoreInsecure",
    "StoreMisconfigured",
    "StoreUnavailable",
    "Ticket",
    "pacing_store",
]


def default_directory() -> str:
    """Return a private per-user directory for the ``local`` store."""
    return os.path.join(default_private_root(), "pacing")


def default_private_root() -> str:
    """Return the per-user parent of :func:`default_directory`, which the store checks as its own.

    Its name can be guessed, so another user may create it first: the store then refuses it with
    an ERROR instead of using it (see :class:`~.stores.LocalStore`).
    """
    return os.path.join(tempfile.gettempdir(), f"airflow-provider-soda-{os.getuid()}")


class QueueTooLong(Exception):
    """The slot would come later than the caller can wait; nothing was sent."""

    def __init__(self, position: int, wait: float) -> None:
        super().__init__(f"position {position} in the queue, about {wait:.0f} s to wait")
        self.position = position
        self.wait = wait


@dataclass(frozen=True)
class Ticket:
    """A reserved place in a schedule: ``delay`` seconds from when it was taken, ``position`` in the queue."""

    token: str
    delay: float
    position: int


class Slot:
    """A slot being used for one request; tell it about a 429 with :meth:`rejected`."""

    def __init__(self, pacer: Pacer, token: str, waited: float) -> None:
        self._pacer, self._token, self.waited = pacer, token, waited
        self._settled = False

    def rejected(self, retry_after: float | None) -> float:
        """Record a 429: pause the schedule for everyone; return the seconds until it may send again."""
        self._settled = True
        limit = self._pacer.limit
        jitter = random.uniform(0, limit.period / limit.requests)  # full jitter over one slot's share
        return float(self._pacer.apply("reject", [self._token, retry_after, jitter]))

    def _release(self) -> None:
        if not self._settled:
            self._settled = True
            self._pacer.apply("release", [self._token, True])


class Pacer:
    """Slots of one schedule (one rate limit) in one store.

    :param timeout: the request timeout: a slot in flight for longer (its process killed or hung)
        is counted as done then, so it delays others by at most that long.
    """

    def __init__(self, store: PacingStore, key: str, limit: RateLimit, *, timeout: float) -> None:
        self.store, self.key, self.limit, self.timeout = store, key, limit, timeout

    def apply(self, op: str, args: list[Any]) -> Any:
        return self.store.apply(self.key, self.limit, op, args)

    def reserve(self, *, hold: float | None = None) -> Ticket:
        """Book the next free place in the queue; it is kept ``hold`` seconds past its time."""
        token = uuid4().hex
        delay, position = self.apply("reserve", [token, self.timeout if hold is None else hold])
        return Ticket(token, max(0.0, float(delay)), int(position))

    def cancel(self, ticket: Ticket) -> None:
        self.apply("cancel", [ticket.token])

    @contextmanager
    def slot(self, *, ticket: Ticket | None = None, max_wait: float = float("inf")) -> Iterator[Slot]:
        """Wait in line for a slot (at most ``max_wait`` s, else :class:`QueueTooLong`), then hold it.

        On exit the slot is released, dated then; :meth:`Slot.rejected` releases it uncounted.
        """
        started = time.monotonic()
        ticket = ticket or self.reserve()
        if ticket.delay > max_wait:
            self.cancel(ticket)
            raise QueueTooLong(ticket.position, ticket.delay)
        while (wait := float(self.apply("claim", [ticket.token, self.timeout, self.timeout]))) != 0:
            if wait < 0:  # the reservation expired (e.g. a deferred task resumed late): queue again
                ticket = self.reserve()
                wait = ticket.delay
            waited = time.monotonic() - started
            if waited + wait > max_wait:
                self.cancel(ticket)
                raise QueueTooLong(ticket.position, wait)
            time.sleep(wait)
        slot = Slot(self, ticket.token, time.monotonic() - started)
        try:
            yield slot
        finally:
            slot._release()


def schedule_key(*, base_url: str, credential: str, bucket: str, group: str | None) -> str:
    """Return the schedule's name: a hash, so that no store ever holds a URL or a credential fingerprint."""
    scope = f"group:{group}" if group else f"{base_url}|{credential}"
    return hashlib.sha256(f"{scope}|{bucket}".encode()).hexdigest()[:32]


class FallbackStore:
    """A shared store that falls back to this process's schedule while it fails, warning once."""

    def __init__(self, primary: PacingStore) -> None:
        self.primary = primary
        self.fallback = MemoryStore()
        self.name = primary.name
        self._down_until = 0.0
        self._warned = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FallbackStore({self.primary!r})"

    def apply(self, key: str, limit: RateLimit, op: str, args: list[Any]) -> Any:
        if time.monotonic() >= self._down_until:
            try:
                return self.primary.apply(key, limit, op, args)
            except StoreUnavailable as err:
                self._failed(err)
            except Exception as err:  # a store must never fail an update: nothing unforeseen either
                # Only the type: an unforeseen message might quote the store's URL and its password.
                self._failed(StoreMisconfigured(f"unexpected {type(err).__name__} from the store"))
        return self.fallback.apply(key, limit, op, args)

    def _failed(self, err: StoreUnavailable) -> None:
        from airflow_provider_soda import metrics

        metrics.incr(f"store_fallback.{self.primary.name}")
        with self._lock:
            self._down_until = time.monotonic() + RETRY_STORE_AFTER
            first, self._warned = not self._warned, True
        # A store another user could steer, or a setting that cannot work, is a misconfiguration to
        # fix (an ERROR), not an outage to wait out.
        loud = logging.ERROR if isinstance(err, StoreMisconfigured) else logging.WARNING
        level = loud if first else logging.DEBUG
        log.log(
            level,
            "Soda Cloud rate-limit store %r is unavailable (%s). This process paces its own requests "
            "meanwhile and tries the store again in %.0f s: no update is lost, but processes no longer "
            "share one queue, so Soda Cloud may answer some requests with 429. Check [%s] "
            "rate_limit_store.",
            self.primary.name,
            err,
            RETRY_STORE_AFTER,
            CONFIG_SECTION,
        )


class _Misconfigured:
    """A store setting that cannot work: every call fails, so that FallbackStore says so once as an ERROR."""

    name = "local"

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def apply(self, key: str, limit: RateLimit, op: str, args: list[Any]) -> Any:
        raise StoreMisconfigured(f"[{CONFIG_SECTION}] {self.problem}")


_stores: dict[tuple[str, str, str, str], PacingStore] = {}
_stores_lock = threading.Lock()


def _config(option: str, default: str) -> str:
    from airflow.providers.common.compat.sdk import conf

    value = conf.get(CONFIG_SECTION, option, fallback=default)
    return str(value).strip() if value not in (None, "") else default


def pacing_store() -> PacingStore:
    """Return the store named by ``[soda_cloud] rate_limit_store``, one instance per process and setting."""
    setting = _config("rate_limit_store", DEFAULT_STORE)
    directory = _config("rate_limit_dir", "")
    group = _config("rate_limit_dir_group", "")
    prefix = _config("rate_limit_redis_prefix", DEFAULT_REDIS_PREFIX)
    cache_key = (setting, directory, group, prefix)
    with _stores_lock:
        store = _stores.get(cache_key)
        if store is None:
            store = _stores[cache_key] = _build(setting, directory, group, prefix)
        return store


def _build(setting: str, directory: str, group: str, prefix: str) -> PacingStore:
    if setting == "memory":
        return MemoryStore()
    if setting == "local":
        if group and not directory:
            # A guessable shared path in /tmp is what another user could plant; the admin names one.
            return FallbackStore(
                _Misconfigured("rate_limit_dir_group needs rate_limit_dir: the directory to share")
            )
        if group:
            return FallbackStore(LocalStore(directory, group=group))
        directory = directory or default_directory()
        # The default directory's per-user parent is the store's own too: its name can be guessed.
        own = default_private_root() if directory == default_directory() else None
        return FallbackStore(LocalStore(directory, private_from=own))
    if setting.startswith(REDIS_SCHEMES):
        from airflow_provider_soda.pacing.redis_store import RedisStore

        return FallbackStore(RedisStore(setting, prefix=prefix))
    from airflow_provider_soda.exceptions import SodaCloudConfigError
    from airflow_provider_soda.pacing.redis_store import redact_url

    shown = redact_url(setting)  # may hold a password, in its user part or its query
    raise SodaCloudConfigError(
        f"[{CONFIG_SECTION}] rate_limit_store = {shown!r} is not a store. Use 'local' (default: "
        "every process of one machine and user shares the limit), 'memory' (per process), or a Redis URL "
        "(redis://, rediss:// or unix://) when workers run on several machines."
    )
