"""The ``soda-cloud://`` asset URI scheme, registered with Airflow (provider info ``asset-uris``).

Three forms, each fed by the polling watcher or by Soda's webhooks (docs: triggers, webhooks):

- ``soda-cloud://incidents/<dataset id>[/<severity>]``: the incidents of one dataset (of one
  severity);
- ``soda-cloud://checks/<dataset id>``: check results of one dataset (webhook ``checkEvaluation``);
- ``soda-cloud://contracts/<dataset qualified name>``: contracts published for one dataset
  (webhook ``contractPublished``), e.g. ``soda-cloud://contracts/warehouse/analytics/public/orders``.

Airflow calls :func:`sanitize_uri` on every such URI when a DAG file is parsed (Airflow 3), so
that a typo fails there, naming the fix, and equal URIs are stored alike (``INCIDENTS`` and
``incidents``, ``Critical`` and ``critical``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    from urllib.parse import SplitResult

SCHEME = "soda-cloud"
SEVERITIES = ("minor", "major", "critical")
INCIDENTS, CHECKS, CONTRACTS = "incidents", "checks", "contracts"
_FORMS = (
    f"{SCHEME}://incidents/<dataset id>[/<severity>], {SCHEME}://checks/<dataset id> or "
    f"{SCHEME}://contracts/<dataset qualified name>"
)


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Normalise a ``soda-cloud://`` URI (Airflow's asset URI handler); ValueError says what is wrong."""
    resource = uri.netloc.lower()
    parts = [part for part in uri.path.split("/") if part]
    if resource == INCIDENTS:
        if not 1 <= len(parts) <= 2:
            raise ValueError(
                f"A Soda Cloud incidents asset URI must be {SCHEME}://incidents/<dataset id>[/<severity>] "
                "(the dataset id is in its Soda Cloud URL)."
            )
        if len(parts) == 2:
            parts[1] = parts[1].lower()
            if parts[1] not in SEVERITIES:
                raise ValueError(f"The severity in {uri.geturl()!r} must be one of {', '.join(SEVERITIES)}.")
    elif resource == CHECKS:
        if len(parts) != 1:
            raise ValueError(
                f"A Soda Cloud checks asset URI must be {SCHEME}://checks/<dataset id>, got {uri.geturl()!r}."
            )
    elif resource == CONTRACTS:
        # Stored percent-encoded, as the receiver builds them: "My Table" and "My%20Table" are one.
        parts = [quote(unquote(part), safe="") for part in parts]
        if not parts:
            raise ValueError(
                f"A Soda Cloud contracts asset URI must be {SCHEME}://contracts/<dataset qualified name> "
                "(datasource/database/schema/table, as the contract names its dataset)."
            )
    else:
        raise ValueError(f"A Soda Cloud asset URI must be {_FORMS}, got {uri.geturl()!r}.")
    return uri._replace(netloc=resource, path="/" + "/".join(parts), query="", fragment="")


def incidents_uri(dataset_id: str, severity: str | None = None) -> str:
    """Return the URI of a dataset's incidents (of one severity), in the form Airflow stores it."""
    return f"{SCHEME}://{INCIDENTS}/{dataset_id}" + (f"/{severity.lower()}" if severity else "")


def checks_uri(dataset_id: str) -> str:
    """Return the URI of a dataset's check results, in the form Airflow stores it."""
    return f"{SCHEME}://{CHECKS}/{dataset_id}"


def contracts_uri(dataset: str) -> str:
    """Return the URI of the contracts of a dataset named ``datasource/db/schema/table`` (parts percent-encoded)."""
    parts = [quote(part, safe="") for part in dataset.split("/") if part]
    return f"{SCHEME}://{CONTRACTS}/" + "/".join(parts)


def create_asset(
    *,
    dataset_id: str | None = None,
    severity: str | None = None,
    checks: bool = False,
    contract_dataset: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Any:
    """Return a ``soda-cloud://`` asset, as Airflow's asset factories do.

    ``dataset_id`` alone: the dataset's incidents (``severity``: of one severity); with
    ``checks=True``: its check results; ``contract_dataset``: the contracts published for that
    dataset qualified name.
    """
    from airflow.providers.common.compat.sdk import Asset

    if contract_dataset is not None:
        uri = contracts_uri(contract_dataset)
    elif dataset_id is None:
        raise ValueError("Pass dataset_id (incidents or checks of a dataset) or contract_dataset.")
    elif checks:
        uri = checks_uri(dataset_id)
    else:
        uri = incidents_uri(dataset_id, severity)
    return Asset(uri=uri, extra=extra)
