"""Extra link from a task instance to the Soda Cloud scan it ran or waited for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey

#: XCom key under which scan tasks store the scan's ``cloudUrl`` for the link.
SCAN_URL_XCOM_KEY = "soda_cloud_scan_url"


class SodaCloudScanLink(BaseOperatorLink):
    """The "Soda Cloud scan" button: opens the scan's ``cloudUrl``, pushed as soon as the scan is known."""

    name = "Soda Cloud scan"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.providers.common.compat.sdk import XCom

        url = XCom.get_value(key=SCAN_URL_XCOM_KEY, ti_key=ti_key)
        return url if isinstance(url, str) else ""
