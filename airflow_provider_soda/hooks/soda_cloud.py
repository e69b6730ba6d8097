"""Hook for the Soda Cloud REST API: authentication, pacing, retries and error reporting."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from airflow.providers.common.compat.sdk import BaseHook
from pydantic import BaseModel

from airflow_provider_soda import __version__
from airflow_provider_soda.endpoints import (
    ENDPOINTS,
    LIST_DATASETS,
    LIST_INCIDENTS,
    MAX_LIST_ITEMS,
    TEST_LOGIN,
    TRACE_ID_HEADER,
    UPDATE_INCIDENT,
    Endpoint,
)
from airflow_provider_soda.exceptions import (
    SodaCloudAPIError,
    SodaCloudConfigError,
    SodaCloudConnectionError,
    SodaCloudError,
    SodaCloudNotFoundError,
    SodaCloudQueueTimeoutError,
    SodaCloudResponseError,
    SodaCloudValidationError,
    api_error_class,
)
from airflow_provider_soda.hooks.retry import Outcome, RetryLimits, classify, parse_retry_after
from airflow_provider_soda.hooks.settings import CONN_TYPE, SodaCloudSettings
from airflow_provider_soda.models import (
    MAX_INCIDENT_ID_LENGTH,
    Dataset,
    DatasetPage,
    ErrorBody,
    Incident,
    IncidentPage,
    IncidentUpdate,
    TestLogin,
    normalise_incident_id,
)

__all__ = ["MAX_INCIDENT_ID_LENGTH", "SodaCloudHook", "normalise_incident_id"]

if TYPE_CHECKING:
    import requests

    from airflow_provider_soda.pacing import Pacer, Ticket
    from airflow_provider_soda.selection import IncidentSelection

MAX_IDS_PER_LIST = MAX_LIST_ITEMS  # the name before 0.3.0

_M = TypeVar("_M", bound=BaseModel)

#: A listing of more than one page is read until two passes agree, at most this many times.
MAX_LISTING_PASSES = 4
#: How long the dataset ids a process read stay known to it (see :meth:`SodaCloudHook.unknown_dataset_ids`).
DATASETS_CACHE_SECONDS = 600.0
_KNOWN_DATASETS: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}


class SodaCloudHook(BaseHook):
    """Talks to Soda Cloud with the credentials of an Airflow connection of type ``soda_cloud``.

    The connection is read on first use, not at construction, so creating the hook in a DAG
    file costs nothing. ``requests`` is imported at the same moment for the same reason.

    :param soda_cloud_conn_id: Airflow connection holding the API key ID (login), the API key
        secret (password) and the region (extra ``region``: ``eu`` or ``us``) or a base URL (host).
    :param retry_limits: how often and how long to retry; the defaults suit production.
    """

    conn_name_attr = "soda_cloud_conn_id"
    default_conn_name = "soda_cloud_default"
    conn_type = CONN_TYPE
    hook_name = "Soda Cloud"

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

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form, for UIs that do not read ``conn-fields`` (before 3.2)."""
        from airflow_provider_soda.hooks.form import connection_form_widgets

        return connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden and relabelled standard fields, for UIs that do not read ``ui-field-behaviour``."""
        from airflow_provider_soda.hooks.form import ui_field_behaviour

        return ui_field_behaviour()

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

    # -- API operations ---------------------------------------------------------------------

    def update_incident(
        self,
        incident_id: str,
        *,
        status: str | None = None,
        severity: str | None = None,
        title: str | None = None,
        description: str | None = None,
        resolution_notes: str | None = None,
    ) -> Incident:
        """Update one incident, sending only the fields given, and return it as Soda Cloud now has it.

        Everything is validated before any request, so a typo costs no rate-limit slot.

        :param incident_id: the incident's id (blanks around it are dropped).
        :param status: ``reported``, ``investigating``, ``fixing`` or ``resolved``.
        :param severity: ``minor``, ``major`` or ``critical``.
        :param title: the new title.
        :param description: the new description (it replaces the old one).
        :param resolution_notes: how the incident was resolved.
        :return: the incident as Soda Cloud returned it.
        :raises SodaCloudValidationError: an unknown status or severity, or nothing to update.
        :raises SodaCloudAPIError: Soda Cloud refused the update (a subclass per status).
        :raises SodaCloudQueueTimeoutError: the rate-limit queue is longer than ``max_queue_wait``.
        :raises SodaCloudConnectionError: Soda Cloud could not be reached, retries included.
        """
        update = IncidentUpdate.build(
            status=status,
            severity=severity,
            title=title,
            description=description,
            resolution_notes=resolution_notes,
        )
        return self.apply_update(incident_id, update)

    def apply_update(
        self, incident_id: str, update: IncidentUpdate, *, ticket: Ticket | None = None
    ) -> Incident:
        """Send an already validated :class:`IncidentUpdate` to one incident.

        :param incident_id: the incident's id.
        :param update: the fields to set.
        :param ticket: a slot booked earlier with :meth:`reserve_slot` (a deferrable operator
            books before deferring and sends in that slot when it resumes); by default the
            request queues now.
        :return: the incident as Soda Cloud returned it.
        :raises SodaCloudError: as :meth:`update_incident`.
        """
        incident_id = normalise_incident_id(incident_id)
        path = UPDATE_INCIDENT.path.format(incident_id=quote(incident_id, safe=""))
        body = self._call(
            UPDATE_INCIDENT,
            path,
            json=update.to_payload(),
            subject=f"update of incident {incident_id!r}",
            ticket=ticket,
        )
        incident = _parse(Incident, body, f"update of incident {incident_id!r}", self.base_url)
        self.log.info(
            "Soda Cloud incident #%s %r is now %s: %s",
            incident.number if incident.number is not None else "?",
            incident.name or incident.id or incident_id,
            incident.status_value or "(status not returned)",
            incident.cloud_url or "(no link returned)",
        )
        return incident

    def list_incidents(
        self,
        *,
        status: str | Iterable[str] | None = None,
        severity: str | Iterable[str] | None = None,
        dataset_id: str | Iterable[str] | None = None,
        incident_ids: Iterable[str] | None = None,
        lead_id: str | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
        page_size: int = MAX_LIST_ITEMS,
    ) -> Iterator[Incident]:
        """Iterate over every incident that matches all the filters given, across pages.

        The filters are validated now, before any request; the requests are sent lazily, a page
        at a time, as the caller iterates, so stopping early saves rate-limit slots. See
        :class:`~airflow_provider_soda.models.IncidentSelection` for the filters; with none at all
        this lists every incident the API key's user may view.

        :param status: one status or several (``"open"``: every status but ``resolved``).
        :param severity: one severity or several.
        :param dataset_id: one dataset id or several (the id in the dataset page's URL).
        :param incident_ids: only these incidents (any number; 1,000 per request).
        :param lead_id: only incidents led by this user id.
        :param created_from: created at or after this timezone-aware datetime (or ISO 8601 string).
        :param created_to: created at or before this timezone-aware datetime (or ISO 8601 string).
        :param page_size: incidents per request, 1 to 1,000 (default 1,000: fewest requests).
        :return: an iterator of incidents, each once, in Soda's order within each request sequence.
        :raises SodaCloudValidationError: an invalid filter (nothing was sent).
        """
        from airflow_provider_soda.selection import IncidentSelection

        selection = IncidentSelection.build(
            status=status,
            severity=severity,
            dataset_id=dataset_id,
            incident_ids=None if incident_ids is None else _id_sequence(incident_ids),
            lead_id=lead_id,
            created_from=created_from,
            created_to=created_to,
        )
        return self.select_incidents(selection, page_size=page_size)

    def select_incidents(
        self, selection: IncidentSelection, *, page_size: int = MAX_LIST_ITEMS
    ) -> Iterator[Incident]:
        """Iterate over the incidents of an already validated selection (see :meth:`list_incidents`)."""
        return self._pages(selection, _page_size(page_size, smallest=1))

    def _pages(self, selection: IncidentSelection, page_size: int) -> Iterator[Incident]:
        seen: set[str | None] = set()
        subject = f"listing of incidents ({selection.describe()})"
        for query in selection.queries():
            for incident in self._listing(LIST_INCIDENTS, query, page_size, subject, IncidentPage):
                if incident.id not in seen:
                    seen.add(incident.id)
                    yield incident

    def _listing(
        self,
        endpoint: Endpoint,
        query: dict[str, str],
        page_size: int,
        subject: str,
        page_model: type[IncidentPage] | type[DatasetPage],
    ) -> Iterator[Any]:
        """Every item of a paginated listing, lazily; an item may come more than once.

        Soda numbers pages, so an item that leaves the listing while it is read shifts the later
        ones back by one, and the first of the next page would never be seen. A listing of one
        page is one consistent answer; a longer one is therefore read again until two passes
        agree (at most :data:`MAX_LISTING_PASSES`): an item that matches during the whole listing
        is always returned. Items that change meanwhile may be returned in either state, or not
        at all if they left the listing.
        """
        previous: list[Any] | None = None
        for _ in range(MAX_LISTING_PASSES):
            this_pass: list[Any] = []
            page = 0
            while True:
                params = {**query, "page": str(page), "size": str(page_size)}
                body = self._call(endpoint, endpoint.path, params=params, subject=subject)
                result: IncidentPage | DatasetPage = _parse(page_model, body, subject, self.base_url)
                content = result.content
                this_pass.extend(item.id for item in content)
                yield from content
                if result.last is not False or not content:
                    break
                page += 1
            if page == 0 or this_pass == previous:
                return
            previous = this_pass
        self.log.warning(
            "The %s changed during each of %d passes; items that changed meanwhile may be missing.",
            subject,
            MAX_LISTING_PASSES,
        )

    def list_datasets(self, *, page_size: int = MAX_LIST_ITEMS) -> Iterator[Dataset]:
        """Iterate over every dataset the API key's user may view (``GET /api/v1/datasets``, 10 per 60 s).

        :param page_size: datasets per request, 10 to 1,000 (default 1,000: fewest requests).
        """
        page_size = _page_size(page_size, smallest=10)
        seen: set[str] = set()
        for dataset in self._listing(LIST_DATASETS, {}, page_size, "listing of datasets", DatasetPage):
            if dataset.id not in seen:
                seen.add(dataset.id)
                yield dataset

    def unknown_dataset_ids(self, dataset_ids: Iterable[str]) -> list[str]:
        """Return those of ``dataset_ids`` that Soda Cloud does not list for the API key's user.

        The datasets listing allows 10 requests per 60 s and has no filter by id, so what it
        returned is kept for :data:`DATASETS_CACHE_SECONDS` in this process, per base URL and
        credential; the listing is read again only when an id is not in it.
        """
        wanted = list(dict.fromkeys(dataset_ids))
        key = (self.base_url, self.settings.credential_fingerprint)
        read_at, known = _KNOWN_DATASETS.get(key, (0.0, frozenset()))
        if time.monotonic() - read_at > DATASETS_CACHE_SECONDS or not known.issuperset(wanted):
            known = frozenset(dataset.id for dataset in self.list_datasets())
            _KNOWN_DATASETS[key] = (time.monotonic(), known)
        return [dataset_id for dataset_id in wanted if dataset_id not in known]

    def get_incident(self, incident_id: str) -> Incident:
        """Read one incident (Soda Cloud has no GET-one endpoint: this filters the list).

        :param incident_id: the incident's id.
        :return: the incident.
        :raises SodaCloudNotFoundError: no such incident in this organisation and region.
        """
        incident_id = normalise_incident_id(incident_id)
        found = self.get_incidents([incident_id])
        if incident_id not in found:
            raise self.not_found([incident_id])
        return found[incident_id]

    def get_incidents(self, incident_ids: Sequence[str]) -> dict[str, Incident]:
        """Read many incidents by id, 1,000 per request (the list endpoint's limit), every page.

        :param incident_ids: the ids to read.
        :return: the incidents found, by id (ids Soda Cloud does not know are simply absent).
        """
        from airflow_provider_soda.selection import IncidentSelection

        wanted = _id_sequence(incident_ids)
        selection = IncidentSelection(incident_ids=wanted)
        return {i.id: i for i in self.select_incidents(selection) if i.id in wanted}

    def not_found(self, incident_ids: Sequence[str]) -> SodaCloudNotFoundError:
        """Return the error for incidents that Soda Cloud does not list, with what to check."""
        shown = ", ".join(repr(i) for i in incident_ids[:10]) + (" ..." if len(incident_ids) > 10 else "")
        return SodaCloudNotFoundError(
            f"Soda Cloud at {self.base_url} has no incident {shown}. Check the incident id, that connection "
            f"{self.soda_cloud_conn_id!r} points at the region where it lives, and that the API key's user "
            "may view its dataset.",
            status_code=404,
            url=f"{self.base_url}{LIST_INCIDENTS.path}",
        )

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials with ``GET /api/v1/test-login``; used by the UI's Test button.

        The message says which region and URL were tried, because a key used against the wrong
        region fails with 401 exactly like a wrong key.

        :return: whether the credentials work, and a message for the UI (never raises).
        """
        try:
            where = self.settings.location
        except Exception as err:  # the UI must get an answer, whatever went wrong
            return False, f"Connection {self.soda_cloud_conn_id!r} is not usable: {err}"
        try:
            body = self._call(TEST_LOGIN, TEST_LOGIN.path, subject="credentials check")
            login = _parse(TestLogin, body, "credentials check", self.base_url)
        except Exception as err:
            reason = str(err) if isinstance(err, SodaCloudError) else f"{type(err).__name__}: {err}"
            return False, f"Could not connect to Soda Cloud, {where}: {reason}"
        org = login.organisation_name or "(unnamed organisation)"
        return True, f"Connected to {org} ({where}, {self.settings.auth_kind})."

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
        """Send one API request within the rate limit, retrying what can be retried; return the JSON body.

        tenacity runs the retry loop; :class:`_RetryBudget` decides, per kind of failure, how long
        to wait and when to stop, and the last failure's public error is raised when it does.
        """
        import tenacity

        budget = _RetryBudget(self.retry_limits)
        tickets = [ticket]  # the first attempt may use a booked slot; retries queue again

        def log_retry(state: tenacity.RetryCallState) -> None:
            failure = _failure(state)
            sleep = failure.delay if failure.kind == "rate_limit" else state.upcoming_sleep
            self.log.warning(
                "Soda Cloud %s: %s; retry %d/%d in %.1f s%s",
                subject, failure.reason, *budget.progress(failure), sleep or 0.0, failure.trace,
            )  # fmt: skip

        def attempt() -> Any:
            booked = tickets.pop() if tickets else None
            return self._attempt(endpoint, path, subject=subject, params=params, json=json, ticket=booked)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retryable),
            stop=budget.exhausted,
            wait=budget.wait,
            before_sleep=log_retry,
            sleep=time.sleep,
        )
        try:
            return retrying(attempt)
        except tenacity.RetryError as err:
            error = _failure(err.last_attempt).error
            raise error from error.__cause__

    def _attempt(
        self,
        endpoint: Endpoint,
        path: str,
        *,
        subject: str,
        params: dict[str, str] | None,
        json: dict[str, Any] | None,
        ticket: Ticket | None = None,
    ) -> Any:
        """One request: the JSON body, a final error, or :class:`_Retryable` when another try may pass."""
        response, pause = self._send(endpoint, path, subject=subject, params=params, json=json, ticket=ticket)
        status = response.status_code
        outcome = classify(status)
        if outcome is Outcome.OK:
            try:
                return response.json()
            except ValueError as err:
                # Cut short or replaced by a proxy page: the update is idempotent, so try again.
                raise _Retryable(
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
            raise _Retryable(
                "rate_limit",
                f"rate limit hit (HTTP 429, {source})",
                self._api_error(endpoint, response, subject, retry_after=delay),
                delay=delay,
                trace=_trace(response),
            )
        if outcome is Outcome.TRANSIENT:
            raise _Retryable(
                "transient",
                f"HTTP {status}",
                self._api_error(endpoint, response, subject),
                trace=_trace(response),
            )
        raise self._api_error(endpoint, response, subject)

    def _send(
        self,
        endpoint: Endpoint,
        path: str,
        *,
        subject: str,
        params: dict[str, str] | None,
        json: dict[str, Any] | None,
        ticket: Ticket | None,
    ) -> tuple[requests.Response, float | None]:
        """Send within a rate-limit slot; return the response and, for a 429, the schedule's pause."""
        import requests

        from airflow_provider_soda.pacing import QueueTooLong

        pause = None
        try:
            with self._pacer(endpoint).slot(ticket=ticket, max_wait=self.retry_limits.max_queue_wait) as slot:
                if slot.waited >= 1:
                    self.log.info("Waited %.1f s in line for Soda Cloud's rate limit.", slot.waited)
                response = self.get_conn().request(
                    endpoint.method,
                    f"{self.base_url}{path}",
                    params=params,
                    json=json,
                    timeout=self.settings.timeout,
                    allow_redirects=False,
                )
                if response.status_code == 429:
                    # The whole schedule pauses, in every process sharing it; retries queue behind that.
                    pause = slot.rejected(parse_retry_after(response.headers.get("Retry-After")))
        except QueueTooLong as err:
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
            raise _Retryable(
                "transient",
                f"{type(err).__name__}",
                _caused_by(
                    SodaCloudConnectionError(
                        f"Could not reach Soda Cloud at {self.base_url} for the {subject}, retries included: "
                        f"{type(err).__name__}: {_masked(err)}. Check the network, and the region or host "
                        f"of connection {self.soda_cloud_conn_id!r}."
                    ),
                    err,
                ),
            ) from err
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
                f"Check the incident id, and that connection {conn} points at the region where the incident "
                f"lives (now {self.base_url})."
            )
        if status == 429:
            return (
                f"The rate limit was still exceeded after retrying; try again in {retry_after or 0:.0f} s. "
                "Another client may be sharing this API key's quota."
            )
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


def _id_sequence(incident_ids: Iterable[str]) -> tuple[str, ...]:
    """Return the ids checked and de-duplicated, in order; a lone string is refused (not a list of ids)."""
    if isinstance(incident_ids, str):
        raise SodaCloudValidationError(
            f"incident_ids must be a list of incident ids, got the string {incident_ids[:200]!r}."
        )
    return tuple(dict.fromkeys(normalise_incident_id(i) for i in incident_ids))


class _Retryable(Exception):
    """Internal: an attempt failed in a way another attempt may not; ``error`` is raised if none is left."""

    def __init__(
        self, kind: str, reason: str, error: SodaCloudError, *, delay: float | None = None, trace: str = ""
    ) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.error, self.delay, self.trace = kind, reason, error, delay, trace


def _failure(attempt: Any) -> _Retryable:
    """Return the :class:`_Retryable` of a tenacity attempt (a RetryCallState or a Future)."""
    outcome = getattr(attempt, "outcome", attempt)
    failure = outcome.exception()
    assert isinstance(failure, _Retryable)
    return failure


class _RetryBudget:
    """Per-call retry accounting for :meth:`SodaCloudHook._call`, kept apart for 429s and transient faults.

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
        failure = _failure(state)
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
        failure = _failure(state)
        if failure.kind == "rate_limit":
            return 0.0  # the pause is kept by the pacing schedule; the next attempt queues behind it
        return self.limits.backoff(self.transient)

    def progress(self, failure: _Retryable) -> tuple[int, int]:
        if failure.kind == "rate_limit":
            return self.rate_limited, self.limits.max_rate_limit_retries
        return self.transient, self.limits.max_transient_retries


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
