"""Extra links from a task instance to the Soda Cloud scan it ran or waited for, and to its contract."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey

#: XCom key under which scan tasks store the scan's ``cloudUrl`` for the link.
SCAN_URL_XCOM_KEY = "soda_cloud_scan_url"
#: XCom key of a contract verification's ``contractDatasetCloudUrl`` (the dataset's contract page).
CONTRACT_URL_XCOM_KEY = "soda_cloud_contract_url"


class SodaCloudScanLink(BaseOperatorLink):
    """The "Soda Cloud scan" button: opens the scan's ``cloudUrl``, pushed as soon as the scan is known."""

    name = "Soda Cloud scan"
    #: The XCom the URL is read from (see :func:`~airflow_provider_soda.links.reserve_link_urls`).
    url_xcom_key = SCAN_URL_XCOM_KEY

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.providers.common.compat.sdk import XCom

        url = XCom.get_value(key=self.url_xcom_key, ti_key=ti_key)
        return url if isinstance(url, str) else ""


class SodaCloudContractLink(SodaCloudScanLink):
    """The "Soda Cloud contract" button: the verified dataset's contract page (``contractDatasetCloudUrl``)."""

    name = "Soda Cloud contract"
    url_xcom_key = CONTRACT_URL_XCOM_KEY
