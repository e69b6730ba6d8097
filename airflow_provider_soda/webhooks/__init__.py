"""Soda Cloud webhooks to Airflow asset events (Airflow 3 API server; docs: webhooks).

One small interface: :func:`~airflow_provider_soda.webhooks.app.create_app` builds the FastAPI
app the provider's plugin mounts at ``/soda-cloud``. Inside: :mod:`.events` (a delivery to the
events it makes, pure), :mod:`.asset_events` (those events in Airflow's database, at most once),
:mod:`.receiver` (the steps of one delivery) and :mod:`.app` (HTTP).
"""
