"""The ``soda-cloud://`` asset URI scheme as Airflow applies it when a DAG file is parsed."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from airflow_provider_soda.assets import create_asset, sanitize_uri


def test_airflow_normalises_soda_cloud_uris_with_the_providers_handler() -> None:
    from airflow.providers.common.compat.sdk import Asset

    assert (
        Asset("soda-cloud://INCIDENTS/ds-orders/Critical/").uri == "soda-cloud://incidents/ds-orders/critical"
    )
    assert Asset("soda-cloud://incidents/ds-orders").uri == "soda-cloud://incidents/ds-orders"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("soda-cloud://datasets/ds-orders", "must be soda-cloud://incidents/<dataset id>"),
        ("soda-cloud://incidents/", "the dataset id is in its Soda Cloud URL"),
        ("soda-cloud://incidents/ds-orders/urgent", "must be one of minor, major, critical"),
        ("soda-cloud://incidents/a/b/c", "must be soda-cloud://incidents/<dataset id>"),
    ],
)
def test_a_uri_airflow_cannot_watch_fails_when_the_dag_is_parsed(uri: str, message: str) -> None:
    from airflow.providers.common.compat.sdk import Asset

    from airflow_provider_soda.version_compat import AIRFLOW_V_3_0_PLUS

    with pytest.raises(ValueError, match=message):
        sanitize_uri(urlsplit(uri))
    if AIRFLOW_V_3_0_PLUS:
        with pytest.raises(ValueError, match=message):
            Asset(uri)
    else:  # Airflow 2 warns that 3.0 will refuse it (unless [core] strict_dataset_uri_validation)
        with pytest.warns(UserWarning, match=message):
            Asset(uri)


def test_the_factory_builds_the_normalised_uri() -> None:
    assert (
        create_asset(dataset_id="ds-orders", severity="Critical").uri
        == "soda-cloud://incidents/ds-orders/critical"
    )
    assert create_asset(dataset_id="ds-orders").uri == "soda-cloud://incidents/ds-orders"
