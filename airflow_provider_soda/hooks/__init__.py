"""Hooks of the Soda Cloud provider (:class:`~airflow_provider_soda.hooks.soda_cloud.SodaCloudHook`)."""

#: The connection every hook, operator and notifier uses unless told otherwise.
DEFAULT_CONN_ID = "soda_cloud_default"
