"""Checks: the listing, by dataset or by id, with the incidents linked to each (``/api/v1/checks``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from airflow_provider_soda.endpoints import LIST_CHECKS, MAX_LIST_ITEMS
from airflow_provider_soda.exceptions import SodaCloudResponseError, SodaCloudValidationError
from airflow_provider_soda.hooks.transport import SodaCloudClient, _page_size, _parse
from airflow_provider_soda.models import Check, CheckPage, normalise_id


class ChecksAPI(SodaCloudClient):
    """The checks listing, on the one call path of :class:`SodaCloudClient`."""

    def list_checks(
        self,
        *,
        dataset_id: str | None = None,
        check_ids: Iterable[str] | None = None,
        page_size: int = MAX_LIST_ITEMS,
    ) -> Iterator[Check]:
        """Iterate over checks, each with the datasets it is about and the incidents linked to it.

        Arguments are validated now; requests go lazily, as the caller iterates.

        :param dataset_id: only the checks of this dataset (paged, ``page_size`` per request).
        :param check_ids: only these checks, 1,000 ids per request (Soda answers such a request
            in one page and takes no other parameter with it; an answer marked ``last: false``
            raises :class:`SodaCloudResponseError` rather than drop checks). Not combinable with ``dataset_id``.
            An empty list lists nothing (it never widens to every check).
        :param page_size: checks per request of a listing by dataset or of every check, 10 to 1,000.
        :return: an iterator of checks, each once.
        :raises SodaCloudValidationError: an invalid argument (nothing was sent).
        """
        if dataset_id is not None and check_ids is not None:
            raise SodaCloudValidationError(
                "list_checks takes dataset_id or check_ids, not both: Soda Cloud does not combine checkIds "
                "with other parameters."
            )
        if check_ids is not None:
            if isinstance(check_ids, str):
                raise SodaCloudValidationError(
                    f"check_ids must be a list of check ids, got the string {check_ids[:200]!r}."
                )
            ids = list(dict.fromkeys(normalise_id(i, "check id") for i in check_ids))
            return self._checks_by_id(ids)
        query = {} if dataset_id is None else {"datasetId": normalise_id(dataset_id, "dataset_id")}
        size = _page_size(page_size, smallest=10)
        subject = f"listing of checks{f' of dataset {dataset_id!r}' if dataset_id else ''}"
        return self._unique(self._listing(LIST_CHECKS, query, size, subject, CheckPage))

    def _checks_by_id(self, ids: list[str]) -> Iterator[Check]:
        seen: set[str] = set()
        for start in range(0, len(ids), MAX_LIST_ITEMS):
            chunk = ids[start : start + MAX_LIST_ITEMS]
            subject = f"listing of {len(chunk)} check(s) by id"
            body = self._call(
                LIST_CHECKS, LIST_CHECKS.path, params={"checkIds": ",".join(chunk)}, subject=subject
            )
            page = _parse(CheckPage, body, subject, self.base_url)
            if page.last is False:
                # checkIds takes no page parameter: a paged answer cannot be read to its end, and
                # a check left out would look like a check with no incident.
                raise SodaCloudResponseError(
                    f"Soda Cloud at {self.base_url} answered the {subject} with one page of {len(page.content)} "
                    "and more to come (last: false), but a listing by checkIds cannot be paged. Nothing was "
                    "decided from the partial answer; report this to Soda support."
                )
            for check in page.content:
                if check.id not in seen:
                    seen.add(check.id)
                    yield check

    @staticmethod
    def _unique(checks: Iterator[Check]) -> Iterator[Check]:
        seen: set[str] = set()
        for check in checks:
            if check.id not in seen:
                seen.add(check.id)
                yield check
