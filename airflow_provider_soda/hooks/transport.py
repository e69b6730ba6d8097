"""The one call path to Soda Cloud: connection settings, authentication, pacing, retries, errors.

Every request of every resource (incidents, datasets, checks, scans) goes through
:meth:`SodaCloudClient._call`, so that each is paced in the deployment-wide schedule of its
endpoint, retried by the same rules and reported with the same errors. The resource modules
(:mod:`.incidents`, :mod:`.datasets`, :mod:`.checks`, :mod:`.scans`) only build requests and read
answers; :class:`~airflow_provider_soda.hooks.soda_cloud.SodaCloudHook` combines them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.sdk import BaseHook
from pydantic import BaseModel

from airflow_provider_soda import __version__, metrics
from airflow_provider_soda.endpoints import (
    ENDPOINTS,
    MAX_LIST_ITEMS,
    TRACE_ID_HEADER,
    UPDATE_INCIDENT,
    Endpoint,
)
from airflow_provider_soda.exceptions import (
    SodaCloudAPIError,
    SodaCloudConfigError,
    SodaCloudConnectionError,
    SodaCloudError,
    SodaCloudQueueTimeoutError,
    SodaCloudResponseError,
    SodaCloudValidationError,
    api_error_class,
)
from airflow_provider_soda.hooks import DEFAULT_CONN_ID
from airflow_provider_soda.hooks.retry import (
    Outcome,
    Retryable,
    RetryBudget,
    RetryLimits,
    classify,
    failure_of,
    parse_retry_after,
)
from airflow_provider_soda.hooks.settings import CONN_TYPE, SodaCloudSettings
from airflow_provider_soda.models import ErrorBody

if TYPE_CHECKING:
    import requests

    from airflow_provider_soda.pacing import Pacer, Ticket

_M = TypeVar("_M", bound=BaseModel)

#: A listing of more than one page is read until two passes agree, at most this many times.
MAX_LISTING_PASSES = 4


class SodaCloudClient(BaseHook):
    """Sends requests to Soda Cloud with the credentials of an Airflow connection of type ``soda_cloud``.

    The connection is read on first use, not at construction, so creating the hook in a DAG
    file costs nothing. ``requests`` is imported at the same moment for the same reason.

    :param soda_cloud_conn_id: Airflow connection holding the API key ID (login), the API key
        secret (password) and the region (extra ``region``: ``eu`` or ``us``) or a base URL (host).
    :param retry_limits: how often and how long to retry; the defaults suit production.
    """

    conn_name_attr = "soda_cloud_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE

    def __init__(
        self,
        soda_cloud_conn_id: str = default_conn_name,
        *,
        retry_limits: RetryLimits | None = None,
    ) -> None:
        super().__init__()
        self.soda_cloud_conn_id = soda_cloud_conn_id
        self.retry_limits = retry_limits or RetryLimits()
        self._pacers: dict[str, Pacer] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(soda_cloud_conn_id={self.soda_cloud_conn_id!r})"

    @cached_property
    def settings(self) -> SodaCloudSettings:
        """Validated settings from the connection, with its secrets registered for log masking."""
        return _masked_settings(self.get_connection(self.soda_cloud_conn_id))

    async def aload_settings(self) -> SodaCloudSettings:
        """Read the connection from the event loop, for triggers that then call the hook in a thread.

        In the triggerer, a synchronous connection lookup from a worker thread shares the trigger
        runner's channel to its supervisor with the event loop, and on Airflow 3.2 that breaks
        the channel (and the trigger runner with it). The secrets are registered for masking as
        on the synchronous path (Airflow's own lookup does not know the ``token`` in the extra).
        """
        if "settings" not in self.__dict__:
            aget_connection = getattr(self, "aget_connection", None)
            if aget_connection is not None:
                conn = await aget_connection(self.soda_cloud_conn_id)
            else:  # Airflow 2: connections come from the metadata DB, no supervisor channel to share
                import asyncio

                conn = await asyncio.to_thread(self.get_connection, self.soda_cloud_conn_id)
            self.__dict__["settings"] = _masked_settings(conn)
        return self.settings

    def use_connection(self, conn: Any) -> None:
        """Use a connection the caller has read already.

        The webhook receiver, on the API server, reads connections through Airflow's core, where
        the Task SDK's lookup is not available.
        """
        self.__dict__["settings"] = _masked_settings(conn)

    def use_settings(self, settings: SodaCloudSettings) -> None:
        """Use settings read already (another hook's, with a shorter timeout, say)."""
        self.__dict__["settings"] = settings

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    def get_conn(self) -> requests.Session:
        """Return the authenticated ``requests.Session``, created once and reused for every call."""
        return self._session

    @cached_property
    def _session(self) -> requests.Session:
        import requests

        settings = self.settings
        session = requests.Session()
        session.headers["User-Agent"] = f"airflow-provider-soda/{__version__}"
        session.headers["Accept"] = "application/json"
        session.verify = settings.verify
        if settings.key_id and settings.key_secret:
            session.auth = (settings.key_id, settings.key_secret)
        elif settings.token:
            # A header, not the cookie jar: the jar would offer the token to any host.
            session.headers["Cookie"] = f"token={settings.token}"
        return session

    def close(self) -> None:
        """Close the HTTP session (connections are pooled until then)."""
        if "_session" in self.__dict__:
            self.__dict__.pop("_session").close()

    def _listing(
        self,
        endpoint: Endpoint,
        query: dict[str, str],
        page_size: int,
        subject: str,
        page_model: type[BaseModel],
        *,
        path: str | None = None,
        settled: bool = False,
    ) -> Iterator[Any]:
        """Every item of a paginated listing, lazily; an item may come more than once.

        Soda numbers pages, so an item that leaves the listing while it is read shifts the later
        ones back by one, and the first of the next page would never be seen. A listing of one
        page is one consistent answer; a longer one is therefore read again until two passes
        agree (at most :data:`MAX_LISTING_PASSES`): an item that matches during the whole listing
        is always returned. Items that change meanwhile may be returned in either state, or not
        at all if they left the listing. A ``settled`` listing (the logs of a finished scan, which
        only grow at the end) is read once.
        """
        previous: list[Any] | None = None
        for _ in range(1 if settled else MAX_LISTING_PASSES):
            this_pass: list[Any] = []
            page = 0
            while True:
                params = {**query, "page": str(page), "size": str(page_size)}
                body = self._call(endpoint, path or endpoint.path, params=params, subject=subject)
                result: Any = _parse(page_model, body, subject, self.base_url)
                content = result.content
                this_pass.extend(getattr(item, "id", None) for item in content)
                yield from content
                if result.last is not False or not content:
                    break
                page += 1
            if settled or page == 0 or this_pass == previous:
                return
            previous = this_pass
        self.log.warning(
            "The %s changed during each of %d passes; items that changed meanwhile may be missing.",
            subject,
            MAX_LISTING_PASSES,
        )

    # -- transport ----------------------------------------------------------------------------

    def _pacer(self, endpoint: Endpoint) -> Pacer:
        """Return the schedule this connection's requests to ``endpoint`` queue in (see :mod:`..pacing`).

        Built once per hook and endpoint: the store comes from Airflow's configuration, which is
        not worth reading again on every request.
        """
        pacer = self._pacers.get(endpoint.bucket)
        if pacer is None:
            pacer = self._pacers[endpoint.bucket] = self._new_pacer(endpoint)
        return pacer

    def _new_pacer(self, endpoint: Endpoint) -> Pacer:
        from airflow_provider_soda.pacing import Pacer, pacing_store, schedule_key

        settings = self.settings
        key = schedule_key(
            base_url=settings.base_url,
            credential=settings.credential_fingerprint,
            bucket=endpoint.bucket,
            group=settings.rate_limit_group,
        )
        # A request is abandoned after its timeout (plus connection set-up); so is its slot.
        return Pacer(pacing_store(), key, settings.rate_limit(endpoint.bucket), timeout=settings.timeout + 1)

    def reserve_slot(self, bucket: str = UPDATE_INCIDENT.bucket, *, hold: float = 60.0) -> Ticket:
        """Book the next free rate-limit slot of ``bucket`` without waiting for it.

        The returned :class:`~airflow_provider_soda.pacing.Ticket` says when the slot comes
        (``delay``) and how many requests are queued ahead (``position``). Pass it to
        :meth:`apply_update` to send in that slot; it is kept ``hold`` seconds past its time,
        then given to the next in line.
        """
        return self._pacer(ENDPOINTS[bucket]).reserve(hold=hold)

    def cancel_slot(self, ticket: Ticket, bucket: str = UPDATE_INCIDENT.bucket) -> None:
        """Give a booked slot back (the caller will not use it)."""
        self._pacer(ENDPOINTS[bucket]).cancel(ticket)

    def _call(
        self,
        endpoint: Endpoint,
        path: str,
        *,
        subject: str,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        ticket: Ticket | None = None,
    ) -> Any:
        """Send one API request within the rate limit, retrying what can be retried; return the JSON body."""
        return self._exchange(endpoint, path, subject=subject, params=params, json=json, ticket=ticket).json()

    def _exchange(
        self,
        endpoint: Endpoint,
        path: str,
        *,
        subject: str,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
        ticket: Ticket | None = None,
        expect_json: bool = True,
    ) -> requests.Response:
        """Send one API request within the rate limit, retrying what can be retried; return the response.

        For callers that read headers (a scan's id, the next poll time) or get no body. tenacity
        runs the retry loop; :class:`RetryBudget` decides, per kind of failure, how long to wait
        and when to stop, and the last failure's public error is raised when it does. A request
        that is not idempotent (starting a scan) is repeated only when it surely never reached
        Soda Cloud: after a 429, or when no connection could be opened.
        """
        import tenacity

        budget = RetryBudget(self.retry_limits)
        tickets = [ticket]  # the first attempt may use a booked slot; retries queue again
        request = _Request(endpoint, path, subject, params, json, form, expect_json)

        def log_retry(state: tenacity.RetryCallState) -> None:
            failure = failure_of(state)
            sleep = failure.delay if failure.kind == "rate_limit" else state.upcoming_sleep
            self.log.warning(
                "Soda Cloud %s: %s; retry %d/%d in %.1f s%s",
                subject, failure.reason, *budget.progress(failure), sleep or 0.0, failure.trace,
            )  # fmt: skip

        def attempt() -> requests.Response:
            return self._attempt(request, ticket=tickets.pop() if tickets else None)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(Retryable),
            stop=budget.exhausted,
            wait=budget.wait,
            before_sleep=log_retry,
            sleep=time.sleep,
        )
        try:
            return retrying(attempt)
        except tenacity.RetryError as err:
            error = failure_of(err.last_attempt).error
            raise error from error.__cause__

    def _attempt(self, request: _Request, *, ticket: Ticket | None = None) -> requests.Response:
        """One request: the response, a final error, or :class:`Retryable` when another try may pass."""
        endpoint, subject = request.endpoint, request.subject
        response, pause = self._send(request, ticket=ticket)
        status = response.status_code
        outcome = classify(status)
        if outcome is Outcome.OK:
            if not request.expect_json:
                return response
            try:
                response.json()
            except ValueError as err:
                # Cut short or replaced by a proxy page: reading is idempotent, so try again.
                raise Retryable(
                    "transient",
                    f"HTTP {status} without valid JSON",
                    _caused_by(
                        SodaCloudResponseError(
                            f"Soda Cloud at {self.base_url} answered the {subject} with HTTP {status} but no "
                            f"valid JSON ({response.headers.get('Content-Type', 'no content type')}), retries "
                            f"included. A proxy may be in the way; check the connection's host.{_trace(response)}"
                        ),
                        err,
                    ),
                    trace=_trace(response),
                ) from err
            return response
        if outcome is Outcome.REDIRECT:
            raise SodaCloudConfigError(
                f"Soda Cloud at {self.base_url} redirected the {subject} to "
                f"{response.headers.get('Location', '(no location)')!r}. Credentials are never sent on "
                f"to another address: set the host of connection {self.soda_cloud_conn_id!r} to the "
                "final base URL."
            )
        if outcome is Outcome.RATE_LIMITED:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            delay = pause if pause is not None else retry_after or 0.0
            source = "Retry-After" if retry_after is not None else "no Retry-After"
            raise Retryable(
                "rate_limit",
                f"rate limit hit (HTTP 429, {source})",
                self._api_error(endpoint, response, subject, retry_after=delay),
                delay=delay,
                trace=_trace(response),
            )
        if outcome is Outcome.TRANSIENT and endpoint.idempotent:
            raise Retryable(
                "transient",
                f"HTTP {status}",
                self._api_error(endpoint, response, subject),
                trace=_trace(response),
            )
        error = self._api_error(endpoint, response, subject)
        if status >= 500 and not endpoint.idempotent:
            # A server error on a request that is not idempotent (starting a scan): Soda may have
            # applied it before failing, so neither this call nor the task's retries repeat it.
            error.retryable = False
        raise error

    def _send(self, request: _Request, *, ticket: Ticket | None) -> tuple[requests.Response, float | None]:
        """Send within a rate-limit slot; return the response and, for a 429, the schedule's pause."""
        import requests

        from airflow_provider_soda.pacing import QueueTooLong

        endpoint, subject = request.endpoint, request.subject
        pause = None
        try:
            with self._pacer(endpoint).slot(ticket=ticket, max_wait=self.retry_limits.max_queue_wait) as slot:
                metrics.timing(f"queue_wait.{endpoint.bucket}", slot.waited)
                if slot.waited >= 1:
                    self.log.info("Waited %.1f s in line for Soda Cloud's rate limit.", slot.waited)
                response = self.get_conn().request(
                    endpoint.method,
                    f"{self.base_url}{request.path}",
                    params=request.params,
                    json=request.json,
                    data=request.form,
                    timeout=self.settings.timeout,
                    allow_redirects=False,
                )
                metrics.incr(f"requests.{endpoint.bucket}.{metrics.status_class(response.status_code)}")
                if response.status_code == 429:
                    metrics.incr(f"rate_limited.{endpoint.bucket}")
                    # The whole schedule pauses, in every process sharing it; retries queue behind that.
                    pause = slot.rejected(parse_retry_after(response.headers.get("Retry-After")))
        except QueueTooLong as err:
            metrics.incr(f"queue_timeout.{endpoint.bucket}")
            limit = self.settings.rate_limit(endpoint.bucket)
            raise SodaCloudQueueTimeoutError(
                f"The {subject} was not sent: {err.position} Soda Cloud requests of connection "
                f"{self.soda_cloud_conn_id!r} are queued ahead of it for the rate limit of "
                f"{limit.requests} per {limit.period:g} s, and its slot comes in about {err.wait:.0f} s, "
                f"longer than this caller may wait ({self.retry_limits.max_queue_wait:.0f} s). Retry "
                "later, or give the caller a longer budget.",
                retry_after=err.wait,
                position=err.position,
            ) from err
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
            # The cause's own message (a TLS failure against a custom CA bundle, a refused port)
            # is what tells the reader what to fix; Airflow's masker still sees it first.
            metrics.incr(f"requests.{endpoint.bucket}.error")
            unsent = _never_sent(err)
            error = SodaCloudConnectionError(
                f"Could not reach Soda Cloud at {self.base_url} for the {subject}"
                + (", retries included" if endpoint.idempotent or unsent else "")
                + f": {type(err).__name__}: {_masked(err)}. Check the network, and the region or host "
                f"of connection {self.soda_cloud_conn_id!r}."
                + ("" if endpoint.idempotent or unsent else f" {endpoint.unsure}")
            )
            if not (endpoint.idempotent or unsent):
                error.retryable = False  # it may have been applied: a task retry could apply it twice
                raise error from err
            raise Retryable("transient", f"{type(err).__name__}", _caused_by(error, err)) from err
        return response, pause

    def _api_error(
        self,
        endpoint: Endpoint,
        response: requests.Response,
        subject: str,
        *,
        retry_after: float | None = None,
    ) -> SodaCloudAPIError:
        status = response.status_code
        error = ErrorBody.parse(response.text)
        code, message = error.code, error.message
        trace_id = response.headers.get(TRACE_ID_HEADER)
        if retry_after is None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        server = ": ".join(part for part in (code, message) if part)
        text = (
            f"Soda Cloud at {self.base_url} refused the {subject}: HTTP {status} {response.reason or ''}".rstrip()
            + (f" ({server})" if server else "")
            + f". {self._hint(endpoint, status, retry_after)}{_trace(response)}"
        )
        return api_error_class(status)(
            text,
            status_code=status,
            code=code,
            server_message=message,
            trace_id=trace_id,
            retry_after=retry_after,
            url=response.url,
        )

    def _hint(self, endpoint: Endpoint, status: int, retry_after: float | None) -> str:
        conn = repr(self.soda_cloud_conn_id)
        own = dict(endpoint.hints).get(status)
        if own is not None:
            return own.format(conn=conn, base_url=self.base_url)
        if status == 400:
            return "Check the values sent; Soda Cloud accepts only the documented fields and enum values."
        if status == 401:
            return (
                f"Check the API key ID and secret (or token) of connection {conn}: keys are created in Soda "
                "Cloud under Profile -> API Keys and only work in the region they were created in."
            )
        if status == 403:
            return f"The API key's user lacks permission: {endpoint.permission} (or a Soda Cloud Admin)."
        if status == 404:
            return (
                f"Check the {endpoint.subject} id, and that connection {conn} points at the region where the "
                f"{endpoint.subject} lives (now {self.base_url})."
            )
        if status == 429:
            return (
                f"The rate limit was still exceeded after retrying; try again in {retry_after or 0:.0f} s. "
                "Another client may be sharing this API key's quota."
            )
        if status >= 500 and not endpoint.idempotent:
            return f"Soda Cloud had a server error; the request was not repeated. {endpoint.unsure}"
        if status >= 500:
            return "Soda Cloud had a server error and retries did not help; try again later."
        return "See Soda Cloud's API documentation for this status."


def _page_size(page_size: Any, *, smallest: int) -> int:
    """Check a listing's page size against the endpoint's range (validated before any request)."""
    if (
        isinstance(page_size, bool)
        or not isinstance(page_size, int)
        or not smallest <= page_size <= MAX_LIST_ITEMS
    ):
        raise SodaCloudValidationError(
            f"page_size must be an integer from {smallest} to {MAX_LIST_ITEMS}, got {page_size!r}."
        )
    return page_size


def _masked_settings(conn: Any) -> SodaCloudSettings:
    """Return the settings of ``conn``, with every secret they hold registered with Airflow's masker."""
    from airflow.providers.common.compat.sdk import mask_secret

    settings = SodaCloudSettings.from_connection(conn)
    for secret in (settings.key_secret, settings.token):
        if secret:
            mask_secret(secret)
    return settings


@dataclass(frozen=True)
class _Request:
    """One API request as :meth:`SodaCloudClient._exchange` sends it (and sends again)."""

    endpoint: Endpoint
    path: str
    subject: str
    params: dict[str, str] | None
    json: dict[str, Any] | None
    form: dict[str, str] | None
    expect_json: bool


def _never_sent(err: BaseException) -> bool:
    """Tell whether a request failed before any byte reached the server (no connection was opened)."""
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(err, requests.ConnectTimeout):
        return True
    reason = getattr(err.args[0], "reason", None) if err.args else None
    return isinstance(reason, NewConnectionError)


def _trace(response: requests.Response) -> str:
    trace_id = response.headers.get(TRACE_ID_HEADER)
    return f" [Soda trace id: {trace_id}]" if trace_id else ""


def _parse(model: type[_M], body: Any, subject: str, base_url: str) -> _M:
    from pydantic import ValidationError

    try:
        return model.model_validate(body)
    except ValidationError as err:
        raise SodaCloudResponseError(
            f"Soda Cloud at {base_url} answered the {subject} with JSON of an unexpected shape: "
            f"{err.error_count()} problem(s), first: {err.errors()[0]['msg']}."
        ) from err


def _caused_by(error: SodaCloudError, cause: BaseException) -> SodaCloudError:
    """``error`` with ``cause`` as its ``__cause__``, for when it is raised after the retries."""
    error.__cause__ = cause
    return error


def _masked(err: BaseException) -> str:
    """Return the exception's message through Airflow's secrets masker (first line, shortened)."""
    from airflow.providers.common.compat.sdk import redact

    text = (str(err).strip().splitlines() or [""])[0][:300]
    return str(redact(text))
