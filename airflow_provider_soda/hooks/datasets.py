"""Datasets: the listing, and which dataset ids Soda Cloud does not know (``/api/v1/datasets``)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from airflow_provider_soda.endpoints import LIST_DATASETS, MAX_LIST_ITEMS
from airflow_provider_soda.hooks.transport import SodaCloudClient, _page_size
from airflow_provider_soda.models import Dataset, DatasetPage

#: How long the dataset ids a process read stay known to it (see :meth:`DatasetsAPI.unknown_dataset_ids`).
DATASETS_CACHE_SECONDS = 600.0
_KNOWN_DATASETS: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}


class DatasetsAPI(SodaCloudClient):
    """The datasets listing, on the one call path of :class:`SodaCloudClient`."""

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
