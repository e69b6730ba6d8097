"""Extra link from a task instance to the Soda Cloud incident it updated."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey

#: XCom key under which operators store the incident's ``cloudUrl`` for the link.
INCIDENT_URL_XCOM_KEY = "soda_cloud_incident_url"


class SodaCloudIncidentLink(BaseOperatorLink):
    """The "Soda Cloud incident" button: opens the ``cloudUrl`` Soda returned for the updated incident.

    Airflow 3 calls ``get_link`` in the worker when the task finishes and stores the result for
    the UI, so the URL is read back from the XCom the operator pushed while it ran.
    """

    name = "Soda Cloud incident"
    #: The XCom the URL is read from (see :func:`~airflow_provider_soda.links.reserve_link_urls`).
    url_xcom_key = INCIDENT_URL_XCOM_KEY

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.providers.common.compat.sdk import XCom

        url = XCom.get_value(key=self.url_xcom_key, ti_key=ti_key)
        return url if isinstance(url, str) else ""
