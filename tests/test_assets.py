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
        ("soda-cloud://checks/", "must be soda-cloud://checks/<dataset id>"),
        ("soda-cloud://checks/a/b", "must be soda-cloud://checks/<dataset id>"),
        ("soda-cloud://contracts/", "dataset qualified name"),
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


def test_the_webhook_forms_are_stored_as_the_receiver_emits_them() -> None:
    from airflow.providers.common.compat.sdk import Asset

    from airflow_provider_soda.assets import contracts_uri

    assert Asset("soda-cloud://CHECKS/ds-orders").uri == "soda-cloud://checks/ds-orders"
    assert create_asset(dataset_id="ds-orders", checks=True).uri == "soda-cloud://checks/ds-orders"
    # A contract's dataset written as is, or encoded, is the asset the receiver emits on.
    emitted = contracts_uri("dw/db/public/My Table")
    assert emitted == "soda-cloud://contracts/dw/db/public/My%20Table"
    assert sanitize_uri(urlsplit("soda-cloud://contracts/dw/db/public/My Table")).geturl() == emitted
    assert sanitize_uri(urlsplit(emitted)).geturl() == emitted
    assert create_asset(contract_dataset="dw/db/public/My Table").uri == emitted
    with pytest.raises(ValueError, match="Pass dataset_id"):
        create_asset()
