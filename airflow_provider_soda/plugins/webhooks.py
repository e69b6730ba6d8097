"""The provider's Airflow plugin: mounts the Soda webhook receiver on the Airflow 3 API server.

Registered through the provider info (``plugins``), so there is nothing to copy into a plugins
folder. Every Airflow process that loads plugins imports this module, so it imports nothing
heavy: the FastAPI app is built on the first request the API server hands it. On Airflow 2 the
plugin has nothing to mount (docs: webhooks, for the polling watcher instead).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import AirflowPlugin

URL_PREFIX = "/soda-cloud"


class _LazyReceiverApp:
    """An ASGI app that builds the receiver's FastAPI app when the first request arrives."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from airflow_provider_soda.webhooks.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class SodaCloudWebhookPlugin(AirflowPlugin):
    """``POST /soda-cloud/webhooks/{conn_id}``: Soda Cloud webhook deliveries become asset events."""

    name = "soda_cloud_webhooks"
    fastapi_apps = [{"app": _LazyReceiverApp(), "url_prefix": URL_PREFIX, "name": "Soda Cloud webhooks"}]
