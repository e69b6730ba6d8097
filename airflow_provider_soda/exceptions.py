"""Exceptions raised by the Soda Cloud provider, all rooted in :class:`SodaCloudError`.

``retryable`` tells callers (the operator, notifiers) whether trying again later can help,
so that a bad API key fails a task at once instead of burning its Airflow retries::

    SodaCloudError                          retryable
    ├── SodaCloudConfigError (ValueError)   no    the connection or [soda_cloud] config is wrong
    ├── SodaCloudValidationError (ValueError) no  bad arguments; nothing was sent
    ├── SodaCloudConnectionError            yes   network error or timeout, retries included
    ├── SodaCloudResponseError              yes   not the documented JSON (a proxy?)
    ├── SodaCloudQueueTimeoutError          yes   the rate-limit queue is longer than the budget
    ├── SodaCloudPollError                  yes   a triggerer poll failed unexpectedly (a connection lookup)
    ├── SodaCloudBulkUpdateError            yes   some updates of a bulk run failed
    ├── SodaCloudIncidentsOpenError         yes   a quality gate found open incidents
    ├── SodaCloudScanFailedError            yes   a scan found what fail_on names, or did not complete
    ├── SodaCloudScanTimeoutError           yes   a scan did not end within the task's timeout (cancelled)
    └── SodaCloudAPIError                   no    an error status (status_code, code, trace_id)
        ├── SodaCloudBadRequestError        no    400
        ├── SodaCloudAuthenticationError    no    401
        ├── SodaCloudPermissionError        no    403
        ├── SodaCloudNotFoundError          no    404
        ├── SodaCloudRateLimitError         yes   429 beyond the retry budget (retry_after)
        └── SodaCloudServerError            yes   5xx beyond the retry budget

An error of a request that is not idempotent and may have reached Soda Cloud (starting a scan,
answered by a 5xx, a read timeout, or a 201 without a scan id) has ``retryable`` set to False on
the instance, whatever its class: a task retry could start a second scan.
"""

from __future__ import annotations


class SodaCloudError(Exception):
    """Base class for every error this provider raises."""

    retryable: bool = False


class SodaCloudConfigError(SodaCloudError, ValueError):
    """The Airflow connection is incomplete or holds an invalid value."""


class SodaCloudValidationError(SodaCloudError, ValueError):
    """Arguments for a request are invalid; raised before anything is sent."""


class SodaCloudConnectionError(SodaCloudError):
    """Soda Cloud could not be reached (network error or timeout), retries included."""

    retryable = True


class SodaCloudResponseError(SodaCloudError):
    """Soda Cloud answered with something this provider cannot read (not the documented JSON)."""

    retryable = True


class SodaCloudAPIError(SodaCloudError):
    """Soda Cloud answered with an error status.

    Keeps what support and on-call need: the HTTP status, Soda's ``code`` and ``message``,
    the ``X-Soda-Trace-Id`` of the failed request and any ``Retry-After`` (seconds).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        server_message: str | None = None,
        trace_id: str | None = None,
        retry_after: float | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.server_message = server_message
        self.trace_id = trace_id
        self.retry_after = retry_after
        self.url = url


class SodaCloudBadRequestError(SodaCloudAPIError):
    """400: Soda Cloud refused the request body."""


class SodaCloudAuthenticationError(SodaCloudAPIError):
    """401: the API key (or token) is wrong, revoked, or belongs to another region."""


class SodaCloudPermissionError(SodaCloudAPIError):
    """403: the key's user lacks the permission (e.g. "Manage incident")."""


class SodaCloudNotFoundError(SodaCloudAPIError):
    """404: no such incident in this organisation and region."""


class SodaCloudRateLimitError(SodaCloudAPIError):
    """429 that persisted beyond the retry budget; ``retry_after`` says when to try again."""

    retryable = True


class SodaCloudServerError(SodaCloudAPIError):
    """5xx that persisted beyond the retry budget."""

    retryable = True


_BY_STATUS: dict[int, type[SodaCloudAPIError]] = {
    400: SodaCloudBadRequestError,
    401: SodaCloudAuthenticationError,
    403: SodaCloudPermissionError,
    404: SodaCloudNotFoundError,
    429: SodaCloudRateLimitError,
}


def api_error_class(status_code: int) -> type[SodaCloudAPIError]:
    """Return the exception class for an HTTP error status."""
    if status_code >= 500:
        return SodaCloudServerError
    return _BY_STATUS.get(status_code, SodaCloudAPIError)


class SodaCloudQueueTimeoutError(SodaCloudError):
    """The rate-limit queue is longer than the caller may wait, so nothing was sent.

    ``retry_after`` is the expected wait and ``position`` the number of requests queued ahead.
    """

    retryable = True

    def __init__(self, message: str, *, retry_after: float, position: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.position = position


class SodaCloudPollError(SodaCloudError):
    """A poll in the triggerer failed in a way this provider did not foresee.

    A failed connection lookup, say. Retryable: the next poll tries again, and the wait's own
    timeout bounds it.
    """

    retryable = True


class SodaCloudBulkUpdateError(SodaCloudError):
    """Some updates of a bulk run failed, at least one of them in a way a retry may fix."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SodaCloudIncidentsOpenError(SodaCloudError):
    """A data-quality gate found open incidents; ``incidents`` holds them (as in XCom).

    Retryable: a task retry checks again, so ``retries`` with a ``retry_delay`` make a gate that
    waits a while for the incidents to be resolved.
    """

    retryable = True

    def __init__(self, message: str, *, incidents: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.incidents = incidents


class SodaCloudScanFailedError(SodaCloudError):
    """A scan ended with results that ``fail_on`` names, or did not complete (failed, timed out, canceled).

    Retryable: an ordinary task failure, so the task's retries run the scan again (the data may
    be fixed by then). ``scan`` is the scan's outcome as in XCom.
    """

    retryable = True

    def __init__(self, message: str, *, scan: dict[str, object]) -> None:
        super().__init__(message)
        self.scan = scan


class SodaCloudScanTimeoutError(SodaCloudError):
    """A scan was still running when the task's ``timeout`` passed; it was cancelled."""

    retryable = True


def connection_not_found(err: BaseException) -> bool:
    """Whether ``err`` is Airflow's "connection not defined" (its class moved between releases)."""
    return any(cls.__name__ == "AirflowNotFoundException" for cls in type(err).__mro__)
