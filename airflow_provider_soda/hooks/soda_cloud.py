"""Hook for the Soda Cloud REST API: one class for every resource a DAG acts on.

Each resource lives in a module of its own over the one call path of
:class:`~airflow_provider_soda.hooks.transport.SodaCloudClient` (auth, pacing, retries, errors):
:mod:`airflow_provider_soda.hooks.incidents`, ``datasets``, ``checks``, ``scans`` and
``contracts`` (Soda v4).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_soda.endpoints import MAX_LIST_ITEMS, TEST_LOGIN
from airflow_provider_soda.exceptions import SodaCloudError
from airflow_provider_soda.hooks.checks import ChecksAPI
from airflow_provider_soda.hooks.contracts import ContractsAPI
from airflow_provider_soda.hooks.datasets import DatasetsAPI
from airflow_provider_soda.hooks.incidents import IncidentsAPI
from airflow_provider_soda.hooks.transport import _parse
from airflow_provider_soda.models import MAX_INCIDENT_ID_LENGTH, TestLogin, normalise_incident_id

__all__ = ["MAX_INCIDENT_ID_LENGTH", "SodaCloudHook", "normalise_incident_id"]

#: Names kept for compatibility: old name -> (replacement, its dotted path, removed in).
_DEPRECATED = {"MAX_IDS_PER_LIST": ("airflow_provider_soda.endpoints.MAX_LIST_ITEMS", "1.0.0")}


def __getattr__(name: str) -> Any:
    """Serve a deprecated name with a warning that names its replacement (PEP 562)."""
    if name in _DEPRECATED:
        import warnings

        from airflow.exceptions import AirflowProviderDeprecationWarning

        replacement, removed_in = _DEPRECATED[name]
        warnings.warn(
            f"{__name__}.{name} is deprecated since 0.3.0 and will be removed in {removed_in}; "
            f"use {replacement}.",
            AirflowProviderDeprecationWarning,
            stacklevel=2,
        )
        return MAX_LIST_ITEMS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class SodaCloudHook(IncidentsAPI, ContractsAPI, ChecksAPI, DatasetsAPI):
    """Talks to Soda Cloud with the credentials of an Airflow connection of type ``soda_cloud``.

    The connection is read on first use, not at construction, so creating the hook in a DAG
    file costs nothing. ``requests`` is imported at the same moment for the same reason.

    :param soda_cloud_conn_id: Airflow connection holding the API key ID (login), the API key
        secret (password) and the region (extra ``region``: ``eu`` or ``us``) or a base URL (host).
    :param retry_limits: how often and how long to retry; the defaults suit production.
    """

    hook_name = "Soda Cloud"

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form, for UIs that do not read ``conn-fields`` (before 3.2)."""
        from airflow_provider_soda.hooks.form import connection_form_widgets

        return connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden and relabelled standard fields, for UIs that do not read ``ui-field-behaviour``."""
        from airflow_provider_soda.hooks.form import ui_field_behaviour

        return ui_field_behaviour()

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials with ``GET /api/v1/test-login``; used by the UI's Test button.

        The message says which region and URL were tried, because a key used against the wrong
        region fails with 401 exactly like a wrong key.

        :return: whether the credentials work, and a message for the UI (never raises).
        """
        try:
            where = self.settings.location
        except Exception as err:  # the UI must get an answer, whatever went wrong
            return False, f"Connection {self.soda_cloud_conn_id!r} is not usable: {err}"
        try:
            body = self._call(TEST_LOGIN, TEST_LOGIN.path, subject="credentials check")
            login = _parse(TestLogin, body, "credentials check", self.base_url)
        except Exception as err:
            reason = str(err) if isinstance(err, SodaCloudError) else f"{type(err).__name__}: {err}"
            return False, f"Could not connect to Soda Cloud, {where}: {reason}"
        org = login.organisation_name or "(unnamed organisation)"
        return True, f"Connected to {org} ({where}, {self.settings.auth_kind})."
