"""Operators that change Soda Cloud incidents."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_soda.exceptions import SodaCloudError
from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook
from airflow_provider_soda.links.incidents import INCIDENT_URL_XCOM_KEY, SodaCloudIncidentLink

if TYPE_CHECKING:
    from airflow.sdk import Context


class UpdateIncidentOperator(BaseOperator):
    """Update the status, severity, title, description or resolution notes of one Soda Cloud incident.

    Only the fields given are changed. Values are validated after templates are rendered, so
    ``status="{{ params.status }}"`` works and a typo fails the task with the list of valid values.
    Errors that retrying cannot fix (bad input, 400/401/403/404) fail the task at once
    without using its Airflow retries; rate limits and outages are retried by the hook first.

    The updated incident is returned (and so pushed to XCom) as a dict with snake_case keys,
    including ``cloud_url``, the incident's page in Soda Cloud, which the task's
    "Soda Cloud incident" extra link opens.

    :param incident_id: id of the incident (templated).
    :param status: ``reported``, ``investigating``, ``fixing`` or ``resolved`` (templated).
    :param severity: ``minor``, ``major`` or ``critical`` (templated).
    :param title: new title (templated).
    :param description: new description (templated).
    :param resolution_notes: how the incident was resolved (templated).
    :param soda_cloud_conn_id: Airflow connection of type ``soda_cloud`` (templated).
    """

    template_fields: Sequence[str] = (
        "incident_id",
        "status",
        "severity",
        "title",
        "description",
        "resolution_notes",
        "soda_cloud_conn_id",
    )
    template_fields_renderers = {"description": "md", "resolution_notes": "md"}
    ui_color = "#e6f4ea"
    operator_extra_links = (SodaCloudIncidentLink(),)

    def __init__(
        self,
        *,
        incident_id: str,
        status: str | None = None,
        severity: str | None = None,
        title: str | None = None,
        description: str | None = None,
        resolution_notes: str | None = None,
        soda_cloud_conn_id: str = SodaCloudHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.incident_id = incident_id
        self.status = status
        self.severity = severity
        self.title = title
        self.description = description
        self.resolution_notes = resolution_notes
        self.soda_cloud_conn_id = soda_cloud_conn_id

    @cached_property
    def hook(self) -> SodaCloudHook:
        return SodaCloudHook(soda_cloud_conn_id=self.soda_cloud_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            incident = self.hook.update_incident(
                self.incident_id,
                status=self.status,
                severity=self.severity,
                title=self.title,
                description=self.description,
                resolution_notes=self.resolution_notes,
            )
        except SodaCloudError as err:
            if err.retryable:
                raise
            raise AirflowFailException(str(err)) from err
        finally:
            self.hook.close()
        if incident.cloud_url:
            context["ti"].xcom_push(key=INCIDENT_URL_XCOM_KEY, value=incident.cloud_url)
        return incident.to_xcom()
