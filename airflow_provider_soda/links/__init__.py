"""Extra links from task instances to Soda Cloud, each read from an XCom its task pushes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


def reserve_link_urls(task: Any, context: Context) -> None:
    """Push an empty URL under the XCom key of each Soda Cloud link of ``task``; the real one replaces it.

    Airflow 3's worker asks every extra link for its URL whenever the task stops (deferrals and
    failures included). A key the task has not pushed yet is a 404 from the API server, logged
    as ``[error] XCom not found``: a false alarm for a sensor that defers, or an update that
    fails. An empty URL shows no link, as before. Called from ``execute`` only, never on resume,
    so that a URL pushed before a deferral is kept.
    """
    from airflow_provider_soda.version_compat import AIRFLOW_V_3_0_PLUS

    ti = context.get("ti")
    if ti is None or not AIRFLOW_V_3_0_PLUS:  # Airflow 2 asks for links in the web server: no 404
        return
    for link in getattr(task, "operator_extra_links", ()):
        key = getattr(link, "url_xcom_key", None)
        if key:
            ti.xcom_push(key=key, value="")
