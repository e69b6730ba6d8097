"""The ``soda-cloud://`` asset URI scheme, registered with Airflow (provider info ``asset-uris``).

``soda-cloud://incidents/<dataset id>[/<severity>]`` names the incidents of one dataset (of one
severity), as the event-driven example watches them. Airflow calls :func:`sanitize_uri` on every
such URI when a DAG file is parsed (Airflow 3), so that a typo fails there, naming the fix, and
equal URIs are stored alike (``INCIDENTS`` and ``incidents``, ``Critical`` and ``critical``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from urllib.parse import SplitResult

SCHEME = "soda-cloud"
SEVERITIES = ("minor", "major", "critical")
_FORM = "soda-cloud://incidents/<dataset id>[/<severity>]"


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Normalise a ``soda-cloud://`` URI (Airflow's asset URI handler); ValueError says what is wrong."""
    resource = uri.netloc.lower()
    if resource != "incidents":
        raise ValueError(f"A Soda Cloud asset URI must be {_FORM}, got {uri.geturl()!r}.")
    parts = [part for part in uri.path.split("/") if part]
    if not 1 <= len(parts) <= 2:
        raise ValueError(f"A Soda Cloud asset URI must be {_FORM} (the dataset id is in its Soda Cloud URL).")
    if len(parts) == 2:
        parts[1] = parts[1].lower()
        if parts[1] not in SEVERITIES:
            raise ValueError(f"The severity in {uri.geturl()!r} must be one of {', '.join(SEVERITIES)}.")
    return uri._replace(netloc=resource, path="/" + "/".join(parts), query="", fragment="")


def create_asset(*, dataset_id: str, severity: str | None = None, extra: dict[str, Any] | None = None) -> Any:
    """Return the asset of a dataset's incidents (of one severity), as Airflow's asset factories do."""
    from airflow.providers.common.compat.sdk import Asset

    uri = f"{SCHEME}://incidents/{dataset_id}" + (f"/{severity.lower()}" if severity else "")
    return Asset(uri=uri, extra=extra)
