"""Scans: start one on a Soda Agent, read its status and logs, cancel it (``/api/v1/scans``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_soda.endpoints import (
    CANCEL_SCAN,
    GET_SCAN,
    MAX_LIST_ITEMS,
    NEXT_POLL_HEADER,
    SCAN_ID_HEADER,
    SCAN_LOGS,
    TRIGGER_SCAN,
)
from airflow_provider_soda.exceptions import (
    SodaCloudBadRequestError,
    SodaCloudResponseError,
    SodaCloudValidationError,
)
from airflow_provider_soda.hooks.transport import SodaCloudClient, _page_size, _parse
from airflow_provider_soda.models import ENDING_STATES, Scan, ScanLog, ScanLogPage, normalise_id

if TYPE_CHECKING:
    import requests

    from airflow_provider_soda.endpoints import Endpoint
    from airflow_provider_soda.pacing import Ticket

#: Longer names are refused before any request (Soda's names are short identifiers).
MAX_SCAN_DEFINITION_LENGTH = 512


class ScansAPI(SodaCloudClient):
    """The scan endpoints, on the one call path of :class:`SodaCloudClient`."""

    def trigger_scan(self, scan_definition: str, *, data_timestamp: datetime | str | None = None) -> str:
        """Start a scan of a scan definition that runs on a Soda Agent; return the scan's id.

        The request is not repeated once it may have reached Soda Cloud (a second attempt could
        start a second scan): a 5xx or a read timeout fails at once, says to look in Soda Cloud,
        and its error is not ``retryable``, so that a task's retries do not start another scan.

        :param scan_definition: the scan definition's name: the smaller text under its label on
            Soda Cloud's Scans page (``weekday_scan_schedule``), not the label.
        :param data_timestamp: the moment the scan is dated with in Soda Cloud: a timezone-aware
            datetime or an ISO 8601 string with an offset (``"{{ data_interval_end }}"``).
        :return: the scan id (``X-Soda-Scan-Id``).
        :raises SodaCloudValidationError: an empty name or a naive or unreadable timestamp (nothing sent).
        :raises SodaCloudAPIError: Soda Cloud refused (a 400 or 404 names where to find the name).
        """
        name = scan_definition_name(scan_definition)
        form = {"scanDefinition": name}
        if data_timestamp is not None:
            form["dataTimestamp"] = iso_instant(data_timestamp, "data_timestamp")
        subject = f"start of a scan of scan definition {name!r}"
        response = self._exchange(
            TRIGGER_SCAN, TRIGGER_SCAN.path, form=form, subject=subject, expect_json=False
        )
        scan_id = self._started_scan_id(response, TRIGGER_SCAN, subject)
        self.log.info("Started Soda Cloud scan %s of scan definition %r.", scan_id, name)
        return scan_id

    def _started_scan_id(self, response: requests.Response, endpoint: Endpoint, subject: str) -> str:
        """Return the scan id of a start's answer: ``X-Soda-Scan-Id``, else the last segment of ``Location``."""
        scan_id = response.headers.get(SCAN_ID_HEADER) or _last_segment(response.headers.get("Location"))
        if not scan_id:
            error = SodaCloudResponseError(
                f"Soda Cloud at {self.base_url} accepted the {subject} (HTTP {response.status_code}) without "
                f"saying which scan it started (no {SCAN_ID_HEADER} or Location header). {endpoint.unsure}"
            )
            error.retryable = False  # a scan did start: a task retry would start another
            raise error
        return scan_id

    def get_scan(self, scan_id: str, *, ticket: Ticket | None = None) -> Scan:
        """Read a scan's state, counts and checks (60 per 60 s).

        ``next_poll_at`` on the result is Soda Cloud's ``X-Soda-Next-Poll-Time``, when it sent one.

        :param ticket: a slot of the ``get_scan`` schedule booked with :meth:`reserve_slot` (the
            trigger books, sleeps on the event loop, then sends); by default the request queues now.
        """
        scan_id = normalise_id(scan_id, "scan_id")
        subject = f"status of scan {scan_id!r}"
        response = self._exchange(
            GET_SCAN, _scan_path(GET_SCAN.path, scan_id), subject=subject, ticket=ticket
        )
        scan = _parse(Scan, response.json(), subject, self.base_url)
        return scan.model_copy(
            update={"next_poll_at": next_poll_time(response.headers.get(NEXT_POLL_HEADER))}
        )

    def scan_logs(self, scan_id: str, *, page_size: int = MAX_LIST_ITEMS) -> Iterator[ScanLog]:
        """Iterate over every line of a scan's log, oldest first, a page per request, lazily.

        :param page_size: lines per request, 100 to 1,000 (default 1,000: fewest requests).
        """
        scan_id = normalise_id(scan_id, "scan_id")
        size = _page_size(page_size, smallest=100)
        path = _scan_path(SCAN_LOGS.path, scan_id)
        return self._listing(
            SCAN_LOGS, {}, size, f"logs of scan {scan_id!r}", ScanLogPage, path=path, settled=True
        )

    def scan_log_tail(self, scan_id: str, lines: int) -> tuple[int | None, Iterator[ScanLog]]:
        """Return ``(lines in the whole log, an iterator over its last lines)`` for a scan.

        The first page (1,000 lines) is read now; its ``totalElements`` tells which pages hold the
        tail, and only those are read, lazily. Without ``totalElements`` every page is read and
        the caller keeps the last lines. The total is None then.
        """
        scan_id = normalise_id(scan_id, "scan_id")
        if isinstance(lines, bool) or not isinstance(lines, int) or lines < 0:
            raise SodaCloudValidationError(f"lines must be a whole number >= 0, got {lines!r}.")
        size = MAX_LIST_ITEMS
        path = _scan_path(SCAN_LOGS.path, scan_id)
        subject = f"logs of scan {scan_id!r}"

        def page(number: int) -> ScanLogPage:
            params = {"page": str(number), "size": str(size)}
            body = self._call(SCAN_LOGS, path, params=params, subject=subject)
            return _parse(ScanLogPage, body, subject, self.base_url)

        first = page(0)
        total = first.total_elements

        def tail() -> Iterator[ScanLog]:
            start = 0 if total is None else max(total - lines, 0)
            number, current = 0, first
            if start >= size:  # the tail begins on a later page: skip the ones before it
                number = start // size
                current = page(number)
            while True:
                yield from current.content[max(start - number * size, 0) :]
                if current.last is not False or not current.content:
                    return
                number += 1
                current = page(number)

        return total, tail()

    def cancel_scan(self, scan_id: str) -> bool:
        """Ask Soda Cloud to cancel a scan; a scan that already ended is not an error.

        :return: True if the cancellation was asked for, False if the scan had already ended
            (Soda answers 400 then; the scan's state is read to tell that from a real 400).
        """
        scan_id = normalise_id(scan_id, "scan_id")
        try:
            self._exchange(
                CANCEL_SCAN,
                _scan_path(CANCEL_SCAN.path, scan_id),
                subject=f"cancellation of scan {scan_id!r}",
                expect_json=False,
            )
        except SodaCloudBadRequestError:
            # Soda refuses to cancel a scan that ended or is already ending (a cancel sent again
            # after its answer was lost, or the Agent's own time limit): nothing left to do then.
            scan = self.get_scan(scan_id)
            if not (scan.is_final or scan.state in ENDING_STATES):
                raise
            self.log.info(
                "Soda Cloud scan %s is %s; nothing to cancel: %s",
                scan_id, scan.state_value, scan.cloud_url or "(no link)",
            )  # fmt: skip
            return False
        self.log.info("Asked Soda Cloud to cancel scan %s.", scan_id)
        return True


def scan_definition_name(value: Any) -> str:
    """Check a scan definition's name before any request; blanks around it are dropped."""
    if not isinstance(value, str):
        raise SodaCloudValidationError(
            f"scan_definition must be the scan definition's name (a string), got {type(value).__name__}: {value!r}."
        )
    name = value.strip()
    if not name:
        raise SodaCloudValidationError(
            "scan_definition is empty. Give the scan definition's name: the smaller text under its label "
            "on the Scans page of Soda Cloud (for example weekday_scan_schedule)."
        )
    if len(name) > MAX_SCAN_DEFINITION_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise SodaCloudValidationError(
            f"scan_definition {name[:80]!r} is not a scan definition name (too long or control characters)."
        )
    return name


def iso_instant(value: datetime | str, name: str) -> str:
    """Return an instant as ISO 8601 with its offset; refuse a naive datetime or an unreadable string."""
    if isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise SodaCloudValidationError(
                f"{name} {value!r} is not an ISO 8601 date-time (2026-11-30T06:00:00+00:00)."
            ) from None
    elif isinstance(value, datetime):
        moment = value
    else:
        raise SodaCloudValidationError(
            f"{name} must be a timezone-aware datetime or an ISO 8601 string, got {type(value).__name__}."
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise SodaCloudValidationError(
            f"{name} {value!s} has no timezone: Soda Cloud would read it in an unknown zone. Give an aware "
            "datetime (pendulum, or datetime(..., tzinfo=timezone.utc)) or an ISO 8601 string with an offset."
        )
    return moment.isoformat()


def next_poll_time(header: str | None) -> datetime | None:
    """``X-Soda-Next-Poll-Time`` as an aware datetime; None when absent or unreadable (never relied on)."""
    if not header:
        return None
    try:
        moment = datetime.fromisoformat(header.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _scan_path(template: str, scan_id: str) -> str:
    return template.format(scan_id=quote(scan_id, safe=""))


def _last_segment(location: str | None) -> str | None:
    if not location:
        return None
    segment = location.rstrip("/").rpartition("/")[2]
    return segment or None
