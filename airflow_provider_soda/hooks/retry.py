"""How long and how often the hook retries: bounded, so a task never hangs on a dead API."""

from __future__ import annotations

import dataclasses
import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

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


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP-date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
