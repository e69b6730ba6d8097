"""Incidents: update one, list by selection, read by id (``/api/v1/incidents``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

from airflow_provider_soda.endpoints import INCIDENT_LINK, LIST_INCIDENTS, MAX_LIST_ITEMS, UPDATE_INCIDENT
from airflow_provider_soda.exceptions import SodaCloudNotFoundError, SodaCloudValidationError
from airflow_provider_soda.hooks.transport import SodaCloudClient, _page_size, _parse
from airflow_provider_soda.models import Incident, IncidentPage, IncidentUpdate, normalise_incident_id

if TYPE_CHECKING:
    from airflow_provider_soda.pacing import Ticket
    from airflow_provider_soda.selection import IncidentSelection


class IncidentsAPI(SodaCloudClient):
    """The incident endpoints, on the one call path of :class:`SodaCloudClient`."""

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
        :class:`~airflow_provider_soda.selection.IncidentSelection` for the filters; with none at all
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

    def add_incident_link(self, callback_url: str, *, url: str, text: str) -> None:
        """Add a link to an incident through the callback a webhook delivery offered.

        :param callback_url: the delivery's ``incidentLinkCallbackUrl``; it must be on this
            connection's Soda Cloud (:func:`callback_path`), or nothing is sent.
        :param url: where the link points (the Airflow asset's page).
        :param text: the link's text in Soda Cloud.
        :raises SodaCloudValidationError: the callback is on another host; nothing was sent.
        """
        path = callback_path(self.base_url, callback_url)
        # Its path and query may hold a token: masked in every log line and error that quotes them.
        from airflow.providers.common.compat.sdk import mask_secret

        mask_secret(path)
        self._exchange(
            INCIDENT_LINK, path, subject="incident link", json={"url": url, "text": text}, expect_json=False
        )

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


def callback_path(base_url: str, callback_url: str) -> str:
    """Return the path (and query) of ``callback_url`` on the Soda Cloud at ``base_url``; refuses any other URL.

    A webhook delivery is only as trustworthy as its token, so a callback URL is used only when
    it is on the connection's own Soda Cloud: same scheme (https, or http for a loopback test
    server the connection itself names), host and port, under the base URL's path, with no user
    info. Anything else (an internal address in a forged payload, say) is refused: no request
    goes to any other host.
    """
    base, url = urlsplit(base_url), urlsplit(callback_url.strip())
    try:
        same_port = (url.port or _DEFAULT_PORTS.get(url.scheme)) == (
            base.port or _DEFAULT_PORTS.get(base.scheme)
        )
    except ValueError:
        same_port = False
    prefix = base.path.rstrip("/") + "/"
    ok = (
        url.scheme == base.scheme
        and url.scheme in _DEFAULT_PORTS
        and url.username is None
        and url.password is None
        and (url.hostname or "").lower() == (base.hostname or "").lower()
        and same_port
        and url.path.startswith(prefix)
        and not _dot_segments(url.path)
        and not url.fragment
    )
    if not ok:
        raise SodaCloudValidationError(
            # Scheme and host only: a callback's path and query may hold a token.
            f"Refused the incident link callback on {url.scheme}://{url.hostname}: it is not on "
            f"this connection's Soda Cloud ({base_url}). Only callbacks on that host are called."
        )
    return url.path[len(base.path.rstrip("/")) :] + (f"?{url.query}" if url.query else "")


_DEFAULT_PORTS = {"https": 443, "http": 80}


def _dot_segments(path: str) -> bool:
    """Whether ``path`` could leave its prefix once decoded: dot segments (also ``%2e``), ``%2f``, backslashes."""
    decoded = unquote(path)
    return "\\" in decoded or "%2f" in path.lower() or any(part in (".", "..") for part in decoded.split("/"))


def _id_sequence(incident_ids: Iterable[str]) -> tuple[str, ...]:
    """Return the ids checked and de-duplicated, in order; a lone string is refused (not a list of ids)."""
    if isinstance(incident_ids, str):
        raise SodaCloudValidationError(
            f"incident_ids must be a list of incident ids, got the string {incident_ids[:200]!r}."
        )
    return tuple(dict.fromkeys(normalise_incident_id(i) for i in incident_ids))
