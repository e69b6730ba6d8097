"""The FastAPI app the API server mounts at ``/soda-cloud``: ``POST /webhooks/{conn_id}``.

Only HTTP lives here: the body is read with a size limit on the event loop, and everything that
blocks (the connection lookup, parsing, the database) runs in a worker thread
(:mod:`.receiver`), so that a burst of deliveries never stalls the API server. The link back to
Soda runs after the answer is sent.
"""

from __future__ import annotations

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

# Imported only by the plugin's first request, on the API server (which has FastAPI), so the
# imports above cost nothing anywhere else; FastAPI resolves the route's annotations from here.
from airflow_provider_soda.webhooks import receiver

_UNAVAILABLE = receiver.Answer(
    503, {"detail": "Not recorded; send it again later."}, headers={"Retry-After": "60"}
)


class BodyTooLarge(Exception):
    """The body is over :data:`~.receiver.MAX_BODY_BYTES`."""


def create_app() -> FastAPI:
    """Build the receiver's app (the plugin builds it on the first request)."""
    app = FastAPI(
        title="Soda Cloud webhook receiver",
        description="Soda Cloud webhook deliveries to Airflow asset events (airflow-provider-soda).",
        # No schema or docs pages: nothing here is for browsing, and the routes are not secret
        # but need not be advertised either.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )

    def respond(answer: receiver.Answer) -> JSONResponse:
        return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)

    @app.post("/webhooks/{conn_id}")
    async def receive(conn_id: str, request: Request) -> JSONResponse:
        try:
            settings = await anyio.to_thread.run_sync(receiver.webhook_settings, conn_id)
        except receiver.LookupFailed as err:
            # A secrets backend failed: Soda should send the delivery again later.
            receiver.log.error("Soda webhook not received: %s.", err)
            return respond(_UNAVAILABLE)
        except Exception:
            receiver.log.exception("Could not read connection %r for a Soda webhook.", conn_id)
            return respond(_UNAVAILABLE)
        if settings is None:
            return respond(receiver.NOT_FOUND)
        if not receiver.authorized(settings, request.headers.get("authorization")):
            return respond(receiver.UNAUTHORIZED)
        try:
            raw = await _read_body(request)
        except BodyTooLarge:
            return respond(
                receiver.Answer(413, {"detail": f"The body is over {receiver.MAX_BODY_BYTES} bytes."})
            )
        except ClientDisconnect:  # the sender went away mid-body: nobody reads this answer
            return respond(receiver.Answer(400, {"detail": "The body was cut off."}))
        try:
            answer = await anyio.to_thread.run_sync(
                lambda: receiver.deliver(
                    settings, raw, window=receiver.duplicate_window(), asset_url=receiver.airflow_base_url()
                )
            )
        except Exception:
            receiver.log.exception("Soda webhook for connection %r could not be recorded.", conn_id)
            return respond(_UNAVAILABLE)
        if answer.link_back is not None:
            receiver.queue_link_back(settings, answer.link_back)
        return respond(answer)

    return app


async def _read_body(request: Request) -> bytes:
    """Read the body chunk by chunk so that an oversized one is refused before it is all in memory."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > receiver.MAX_BODY_BYTES:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > receiver.MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
