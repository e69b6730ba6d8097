"""Airflow task retry policy for Soda Cloud errors (Airflow 3.3's ``retry_policy``).

When the hook's own retries run out on a 429, the error carries ``retry_after``: this policy
turns it into the task's retry delay, so the next try starts when Soda Cloud has room instead
of after the task's fixed ``retry_delay``. Errors retrying cannot fix fail the task at once.
On Airflow releases without task retry policies, :func:`default_retry_policy` returns ``None``
and tasks use their ordinary retries; the class still imports there (a plain object the operators
drop with one warning), so that one DAG file parses on every release.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_soda.exceptions import SodaCloudError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import RetryDecision

try:  # public since Airflow 3.3; the compat provider names it on every release that has it
    from airflow.providers.common.compat.sdk import RetryPolicy as _AirflowRetryPolicy
except (ImportError, AttributeError):  # Airflow < 3.3: no task retry policies
    _AirflowRetryPolicy = None  # type: ignore[assignment,misc]


def _soda_error(exception: BaseException | None) -> SodaCloudError | None:
    """Return the SodaCloudError behind ``exception``, following ``raise ... from`` chains."""
    seen = 0
    while exception is not None and seen < 10:
        if isinstance(exception, SodaCloudError):
            return exception
        exception = exception.__cause__ or exception.__context__
        seen += 1
    return None


#: Whether this Airflow has task retry policies (3.3+).
RETRY_POLICIES_SUPPORTED = _AirflowRetryPolicy is not None
_Base: Any = _AirflowRetryPolicy if RETRY_POLICIES_SUPPORTED else object


class SodaCloudRetryPolicy(_Base):  # type: ignore[misc]
    """Retry Soda Cloud rate limits after ``retry_after``; fail at once on what cannot pass.

    :param min_delay: shortest retry delay in seconds (Soda's windows are coarse).
    :param max_delay: longest; a larger ``retry_after`` is capped to it.
    """

    def __init__(self, *, min_delay: float = 1.0, max_delay: float = 3600.0) -> None:
        self.min_delay = min_delay
        self.max_delay = max_delay

    def evaluate(
        self, exception: BaseException, try_number: int, max_tries: int, context: Any = None
    ) -> RetryDecision:
        from airflow.providers.common.compat.sdk import RetryDecision

        error = _soda_error(exception)
        if error is None:
            return RetryDecision.default()
        if not error.retryable:
            return RetryDecision.fail(
                reason=f"Soda Cloud error that retrying cannot fix: {type(error).__name__}"
            )
        retry_after = getattr(error, "retry_after", None)
        if retry_after is None:
            return RetryDecision.default()
        delay = min(self.max_delay, max(self.min_delay, float(retry_after)))
        return RetryDecision.retry(
            delay=timedelta(seconds=delay), reason=f"Soda Cloud rate limit: retrying in {delay:.0f} s"
        )

    def serialize(self) -> dict[str, Any]:
        return {"__type": "SodaCloudRetryPolicy", "min_delay": self.min_delay, "max_delay": self.max_delay}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> SodaCloudRetryPolicy:
        return cls(min_delay=data["min_delay"], max_delay=data["max_delay"])


def default_retry_policy() -> Any:
    """Return a :class:`SodaCloudRetryPolicy` where Airflow supports task retry policies, else ``None``."""
    return SodaCloudRetryPolicy() if RETRY_POLICIES_SUPPORTED else None
