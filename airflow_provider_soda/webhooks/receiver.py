"""What the receiver does with a delivery, without HTTP: blocking, so the app runs it in a thread.

:func:`webhook_settings` finds the connection and its token, :func:`authorized` checks the
token, :func:`deliver` parses the body and records its asset events, and :func:`link_back` adds
the link to the incident in Soda Cloud afterwards. The HTTP layer (:mod:`.app`) only maps their
results to status codes.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_soda import metrics
from airflow_provider_soda.hooks.settings import WebhookSettings
from airflow_provider_soda.models.webhooks import WebhookDelivery
from airflow_provider_soda.webhooks.asset_events import record
from airflow_provider_soda.webhooks.events import fingerprint, plan

log = logging.getLogger(__name__)

#: The largest body accepted (Soda's deliveries are a few KiB; a contract's contents is the biggest).
MAX_BODY_BYTES = 1024 * 1024
#: Seconds within which an equal delivery is the same delivery (``[soda_cloud] webhook_duplicate_window``).
DEFAULT_DUPLICATE_WINDOW = 86400.0
#: The deepest nesting accepted: Soda's deliveries are a few levels deep, and a deeper body would
#: only cost recursion in every step after parsing.
MAX_DEPTH = 32
#: Results, as metrics name them (docs: metrics).
DELIVERED, DUPLICATE, IGNORED, REJECTED = "delivered", "duplicate", "ignored", "rejected"
LINK_SENT, LINK_REFUSED = "sent", "refused"
#: What an Airflow connection id may look like; anything else cannot name one (answered 404).
_CONN_ID = re.compile(r"[\w.-]{1,250}")


@dataclass
class Answer:
    """The receiver's answer: an HTTP status, a JSON body, and a link back to send afterwards."""

    status: int
    body: dict[str, Any]
    link_back: tuple[str, str, str] | None = None  # (callback URL, link URL, text)
    headers: dict[str, str] = field(default_factory=dict)


NOT_FOUND = Answer(404, {"detail": "Not Found"})
UNAUTHORIZED = Answer(401, {"detail": "Unauthorized"}, headers={"WWW-Authenticate": "Bearer"})


class LookupFailed(Exception):
    """A secrets backend failed while looking for the connection: the answer is 503, not 404."""


def webhook_settings(conn_id: str) -> WebhookSettings | None:
    """Return the webhook settings of connection ``conn_id``, or None when it does not receive webhooks.

    An unknown connection, another type of connection, one without ``webhook_token`` and one
    whose token is unusable all read as None, so that the receiver answers them alike. A secrets
    backend that fails (and no later one has the connection) raises :class:`LookupFailed`:
    Airflow's own lookup would report that as "not defined", and Soda would not retry.
    """
    if not _CONN_ID.fullmatch(conn_id):
        return None
    conn = _find_connection(conn_id)
    if conn is None:
        return None
    settings = WebhookSettings.from_connection(conn)
    if settings is not None and settings.token_problem:
        log.error(
            "Connection %r has a webhook_token that %s; Soda webhook deliveries to it are refused until "
            "it is fixed.",
            conn_id, settings.token_problem,
        )  # fmt: skip
        return None
    return settings


def _find_connection(conn_id: str) -> Any:
    """Ask each secrets backend in Airflow's order; None when none has it and none failed."""
    from airflow.configuration import ensure_secrets_loaded

    failed: list[str] = []
    for backend in ensure_secrets_loaded():
        try:
            conn = backend.get_connection(conn_id=conn_id)
        except Exception as err:
            failed.append(f"{type(backend).__name__}: {type(err).__name__}")
            continue
        if conn is not None:
            return conn
    if failed:
        raise LookupFailed(f"connection {conn_id!r} could not be looked up ({'; '.join(failed)})")
    return None


def authorized(settings: WebhookSettings, header: str | None) -> bool:
    """Whether ``header`` is ``Bearer <the connection's webhook_token>``, compared in constant time."""
    scheme, _, given = (header or "").strip().partition(" ")
    expected = settings.token.encode()
    # Compared even when the scheme is wrong, so that the answer takes as long either way.
    match = hmac.compare_digest(given.strip().encode(), expected)
    return scheme.lower() == "bearer" and match


def deliver(settings: WebhookSettings, raw: bytes, *, window: float, asset_url: str | None) -> Answer:
    """Parse a delivery and record its asset events; never raises for what the body holds."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        metrics.incr(f"webhooks.{REJECTED}")
        return Answer(400, {"detail": "The body is not JSON."})
    if not isinstance(body, dict):
        metrics.incr(f"webhooks.{REJECTED}")
        return Answer(400, {"detail": "The body is not a JSON object."})
    if _too_deep(body):
        metrics.incr(f"webhooks.{REJECTED}")
        return Answer(400, {"detail": f"The body is nested deeper than {MAX_DEPTH} levels."})
    try:
        key = fingerprint(settings.identity, body)
    except UnicodeEncodeError:  # "\ud800": JSON escapes that are no Unicode text
        metrics.incr(f"webhooks.{REJECTED}")
        return Answer(400, {"detail": "The body holds text that is not valid Unicode."})
    try:
        delivery = WebhookDelivery.model_validate(body)
    except (ValueError, RecursionError):  # pydantic refuses nothing a lenient model reads; belt and braces
        metrics.incr(f"webhooks.{REJECTED}")
        return Answer(400, {"detail": "The body is not a Soda webhook delivery."})
    wanted = plan(delivery)
    if not wanted.emissions:
        log.info("Soda webhook for connection %r: nothing to emit (%s).", settings.conn_id, wanted.ignored)
        metrics.incr(f"webhooks.{IGNORED}")
        return Answer(200, {"event": wanted.event, "asset_events": 0, "ignored": wanted.ignored})
    done = record(wanted.emissions, fingerprint=key, conn_id=settings.conn_id, window=window)
    log.info(
        "Soda webhook %s for connection %r (delivery %s): %d asset event(s), %d already emitted by an "
        "earlier delivery, %d asset(s) no DAG uses.",
        wanted.event, settings.conn_id, key, len(done.created), len(done.duplicates), len(done.unused),
    )  # fmt: skip
    metrics.incr("webhooks.asset_events", len(done.created))
    metrics.incr(f"webhooks.{DELIVERED if done.created else DUPLICATE if done.duplicates else IGNORED}")
    answer = Answer(
        200,
        {
            "event": wanted.event,
            "delivery": key,
            "asset_events": len(done.created),
            "duplicates": len(done.duplicates),
            "unused_assets": len(done.unused),
        },
    )
    if done.created and wanted.link_callback_url and settings.link_back:
        uri, asset_id = next(iter(done.created.items()))
        link = f"{asset_url.rstrip('/')}/assets/{asset_id}" if asset_url else None
        if link:
            answer.link_back = (wanted.link_callback_url, link, f"Airflow asset {uri}")
    return answer


#: The longest duplicate window taken: a year (an unbounded one would fail every date computation).
MAX_DUPLICATE_WINDOW = 365 * 86400.0


def duplicate_window() -> float:
    """Return ``[soda_cloud] webhook_duplicate_window`` in seconds: capped, and the default when unusable."""
    from airflow.providers.common.compat.sdk import conf

    default = DEFAULT_DUPLICATE_WINDOW
    try:
        window = float(conf.getfloat("soda_cloud", "webhook_duplicate_window", fallback=default))
    except Exception:  # Airflow's own error for a value that is no number
        window = math.nan
    if math.isnan(window) or window < 0:
        log.error(
            "[soda_cloud] webhook_duplicate_window must be a number of seconds >= 0; using %g s.", default
        )
        return default
    return min(window, MAX_DUPLICATE_WINDOW)


def airflow_base_url() -> str | None:
    """Return the Airflow UI's address, for links to asset pages (``[api] base_url``)."""
    from airflow.providers.common.compat.sdk import conf

    return conf.get("api", "base_url", fallback=None) or None


def _too_deep(body: Any) -> bool:
    """Whether ``body`` nests deeper than :data:`MAX_DEPTH` (iteratively: no recursion to exhaust)."""
    stack = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


#: Link backs wait here, sent one at a time by one thread of their own: they wait for the rate limit
#: (10 per 60 s), and must never hold the API server's shared worker threads meanwhile.
MAX_PENDING_LINKS = 100
#: The longest a link back waits in the rate-limit queue before it is given up (and logged).
LINK_QUEUE_WAIT = 60.0
_links_lock = threading.Lock()
_links_pending = 0
_links_executor: ThreadPoolExecutor | None = None


def queue_link_back(settings: WebhookSettings, link: tuple[str, str, str]) -> bool:
    """Queue a link back for the link thread; False (and a warning) when too many are waiting."""
    global _links_pending, _links_executor
    with _links_lock:
        if _links_pending >= MAX_PENDING_LINKS:
            log.warning(
                "Soda webhook for connection %r: %d links back already wait; this one is dropped.",
                settings.conn_id, _links_pending,
            )  # fmt: skip
            metrics.incr(f"webhooks.link_back.{LINK_REFUSED}")
            return False
        if _links_executor is None:
            _links_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="soda-webhook-links")
        _links_pending += 1
    _links_executor.submit(_send_link_back, settings, link)
    return True


def _send_link_back(settings: WebhookSettings, link: tuple[str, str, str]) -> None:
    global _links_pending
    try:
        link_back(settings, link)
    finally:
        with _links_lock:
            _links_pending -= 1


def link_back(settings: WebhookSettings, link: tuple[str, str, str]) -> bool:
    """Add the link to the incident through its callback; log, never raise (the delivery is done).

    Sent with the connection's API key, and only to its own Soda Cloud host.
    """
    from airflow_provider_soda.exceptions import SodaCloudError
    from airflow_provider_soda.hooks.retry import RetryLimits
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

    callback, url, text = link
    limits = RetryLimits(max_queue_wait=LINK_QUEUE_WAIT, max_wait=LINK_QUEUE_WAIT, max_transient_retries=1)
    hook = SodaCloudHook(soda_cloud_conn_id=settings.conn_id, retry_limits=limits)
    try:
        conn = _find_connection(settings.conn_id)
        if conn is None:
            raise LookupFailed(f"connection {settings.conn_id!r} is gone")
        hook.use_connection(conn)
        hook.add_incident_link(callback, url=url, text=text)
    except Exception as err:
        if not isinstance(err, (SodaCloudError, LookupFailed)):
            log.exception("Soda webhook for connection %r: the link back failed.", settings.conn_id)
            metrics.incr(f"webhooks.link_back.{LINK_REFUSED}")
            return False
        log.warning("Soda webhook for connection %r: no link back to the incident: %s", settings.conn_id, err)
        metrics.incr(f"webhooks.link_back.{LINK_REFUSED}")
        return False
    finally:
        hook.close()
    log.info("Soda webhook for connection %r: linked the incident to %s.", settings.conn_id, url)
    metrics.incr(f"webhooks.link_back.{LINK_SENT}")
    return True
