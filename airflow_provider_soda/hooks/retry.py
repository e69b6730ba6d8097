"""How long and how often the hook retries: bounded, so a task never hangs on a dead API."""

from __future__ import annotations

import dataclasses
import enum
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_soda.exceptions import SodaCloudError

RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


class Outcome(enum.Enum):
    """What a response's status means for the request that got it."""

    OK = "ok"  # 2xx: read the body
    REDIRECT = "redirect"  # 3xx: never followed (credentials stay with the configured host)
    RATE_LIMITED = "rate_limited"  # 429: the schedule pauses, then retry
    TRANSIENT = "transient"  # 500, 502, 503, 504: retry with backoff
    FINAL = "final"  # any other status: raise, retrying cannot help


def classify(status: int) -> Outcome:
    """Return the :class:`Outcome` of an HTTP status: the one place that decides what is retried."""
    if 200 <= status < 300:
        return Outcome.OK
    if 300 <= status < 400:
        return Outcome.REDIRECT
    if status == 429:
        return Outcome.RATE_LIMITED
    if status in RETRYABLE_STATUS:
        return Outcome.TRANSIENT
    return Outcome.FINAL


@dataclass(frozen=True)
class RetryLimits:
    """Retry limits for one request.

    - 5xx, connection errors and timeouts: up to ``max_transient_retries`` more attempts with
      exponential backoff and full jitter (``backoff_base * 2**n``, capped at ``backoff_cap``).
      Safe because an incident update sets fields and is therefore idempotent.
    - 429: up to ``max_rate_limit_retries`` more attempts, waiting ``Retry-After`` or what the
      limiter knows of the window, while the total wait stays within ``max_wait``.
    - Other 4xx: never retried; they will not get better by themselves.
    - Waiting in line for a rate-limit slot: at most ``max_queue_wait`` seconds per request;
      when the queue promises a later slot, nothing is sent and
      :class:`~airflow_provider_soda.exceptions.SodaCloudQueueTimeoutError` says how long it is.
    """

    max_transient_retries: int = 3
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    max_rate_limit_retries: int = 5
    max_wait: float = 300.0
    max_queue_wait: float = 3600.0

    def updated(self, params: Mapping[str, Any] | None) -> RetryLimits:
        """Return these limits with ``params`` (field name -> value) applied; refuse unknown names.

        This is what operators and notifiers take as ``hook_params``, as dbt Cloud's do.
        """
        if not params:
            return self
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(params) - fields)
        if unknown:
            raise ValueError(
                f"hook_params has unknown key(s) {', '.join(map(repr, unknown))}; valid keys are "
                f"{', '.join(sorted(fields))} (see RetryLimits)."
            )
        return dataclasses.replace(self, **params)

    def backoff(self, retry_number: int) -> float:
        """Full-jitter delay before transient retry ``retry_number`` (1-based)."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (retry_number - 1))
        return random.uniform(0, ceiling)


#: The longest ``Retry-After`` believed: a day. Longer is capped (a task would wait on its retries anyway).
MAX_RETRY_AFTER = 86400.0
_DELTA_SECONDS = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,6})?")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP-date; None if absent or unreadable.

    Parsed strictly: delta-seconds are digits (a fraction is tolerated), so ``inf``, ``nan``,
    ``1e999`` or a negative number count as no ``Retry-After`` at all (the schedule then pauses a
    window), and any value is capped at :data:`MAX_RETRY_AFTER`.
    """
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return min(float(value), MAX_RETRY_AFTER)
    if value[:1].isdigit():
        # A number that is not delta-seconds ("1e3"), or a date without its day name: an HTTP-date
        # always starts with one. (Signs, "inf" and "nan" fail the date parser below.)
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - (now or datetime.now(UTC))).total_seconds()), MAX_RETRY_AFTER)


class Retryable(Exception):
    """An attempt failed in a way another attempt may not; ``error`` is raised if none is left."""

    def __init__(
        self, kind: str, reason: str, error: SodaCloudError, *, delay: float | None = None, trace: str = ""
    ) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.error, self.delay, self.trace = kind, reason, error, delay, trace


def failure_of(attempt: Any) -> Retryable:
    """Return the :class:`Retryable` of a tenacity attempt (a RetryCallState or a Future)."""
    outcome = getattr(attempt, "outcome", attempt)
    failure = outcome.exception()
    assert isinstance(failure, Retryable)
    return failure


class RetryBudget:
    """Per-call retry accounting for :meth:`~airflow_provider_soda.hooks.transport.SodaCloudClient._exchange`, kept apart for 429s and transient faults.

    - transient (5xx, connection errors, timeouts): exponential backoff with full jitter;
    - 429: the pause the schedule took (the server's ``Retry-After``, or until the window has
      room), within a total wait budget, so that a huge ``Retry-After`` fails fast with
      ``retry_after`` instead of sleeping for a day.
    """

    def __init__(self, limits: RetryLimits) -> None:
        self.limits = limits
        self.transient = 0
        self.rate_limited = 0
        self.waited = 0.0

    def exhausted(self, state: Any) -> bool:
        failure = failure_of(state)
        if failure.kind == "rate_limit":
            self.rate_limited += 1
            delay = failure.delay or 0.0
            if (
                self.rate_limited > self.limits.max_rate_limit_retries
                or self.waited + delay > self.limits.max_wait
            ):
                return True
            self.waited += delay
            return False
        self.transient += 1
        return self.transient > self.limits.max_transient_retries

    def wait(self, state: Any) -> float:
        failure = failure_of(state)
        if failure.kind == "rate_limit":
            return 0.0  # the pause is kept by the pacing schedule; the next attempt queues behind it
        return self.limits.backoff(self.transient)

    def progress(self, failure: Retryable) -> tuple[int, int]:
        if failure.kind == "rate_limit":
            return self.rate_limited, self.limits.max_rate_limit_retries
        return self.transient, self.limits.max_transient_retries
