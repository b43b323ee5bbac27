"""The route Brevo calls when a background process ends (the ``notifyUrl`` of an import or export).

Mounted by the provider's plugin next to the Customer.io webhook receiver, so on the api-server it is
``<api-server>/customerio/brevo/processes/<token>``; set the Brevo connection's extra ``notify_url`` to
``https://<api-server>/customerio`` to turn it on. Brevo documents that it "calls the notify URL" on completion
(https://developers.brevo.com/reference/import-contacts) but neither the method nor the body, so the route
accepts ``POST`` and ``GET`` with any body, keeps the body for diagnosis and relies only on the token.

Brevo retries a call only when the receiver does not answer or answers **429**; "4xx response codes, with the
exception of 429, and any 5xx" discard it (https://developers.brevo.com/docs/retry-mechanism; retries 10 min, 1 h,
2 h and 8 h later). So when the notice cannot be stored (the store is down) the route answers **429**, never a 5xx:
Brevo calls again, and the notice lands once the store is back. An unknown token gets 404: dropped, as it should.

The token (256 random bits, one per process, issued by :class:`~airflow_provider_customerio.store.notices.
ProcessNotices`) is the only credential: the store keeps its SHA-256, so looking it up compares digests, and an
unknown or malformed token gets the same bare 404 as a wrong path. No Airflow login is involved (Brevo has none).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_provider_customerio.store.notices import NOTIFY_PATH, ProcessNotices, notice_url
from airflow_provider_customerio.store.sync_store import SyncStore

log = logging.getLogger(__name__)

#: A notice body larger than this is cut (it is diagnostic only).
MAX_NOTICE_BYTES = 64 * 1024
#: The answer when the notice cannot be stored: the only status Brevo retries (https://developers.brevo.com/docs/
#: retry-mechanism).
STORE_DOWN_STATUS = 429
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


class _Notices:
    """Opens the store once, on the first notice (the plugin is imported before any connection is readable)."""

    def __init__(self, store_factory: Callable[[], SyncStore]) -> None:
        self._factory = store_factory
        self._notices: ProcessNotices | None = None

    def get(self) -> ProcessNotices:
        if self._notices is None:
            self._notices = self._factory().notices()
        return self._notices


async def _body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk[: max(0, MAX_NOTICE_BYTES - size)])
        size += len(chunk)
        if size >= MAX_NOTICE_BYTES:
            break
    return b"".join(chunks)


def build_notify_router(store_factory: Callable[[], SyncStore]) -> APIRouter:
    """The notice route on a router, for the plugin's app (``store_factory`` opens the shared sync store)."""
    router = APIRouter()
    notices = _Notices(store_factory)

    async def receive_notice(token: str, request: Request) -> JSONResponse:
        if not _TOKEN.match(token):
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        body = await _body(request)
        try:
            known = await run_in_threadpool(notices.get().record, token, body)
        except Exception as exc:  # the store is down: 429, the one answer Brevo retries (a 5xx is discarded)
            log.error(
                "Brevo process notice could not be stored (%s); answered 429 so that Brevo retries", type(exc).__name__
            )
            return JSONResponse(
                {"detail": "notice not stored, try again later"},
                status_code=STORE_DOWN_STATUS,
                headers={"Retry-After": "600"},
            )
        if not known:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        return JSONResponse({"received": True})

    router.add_api_route(
        f"{NOTIFY_PATH}/{{token}}",
        receive_notice,
        methods=["POST", "GET"],
        name="brevo_process_notice",
        include_in_schema=False,
    )
    return router


def create_notify_app(store_factory: Callable[[], SyncStore]) -> FastAPI:
    """A standalone app serving only the notice route (benchmarks, tests; the plugin mounts the router)."""
    app = FastAPI(title="Brevo process notices", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(build_notify_router(store_factory))
    return app


__all__ = [
    "MAX_NOTICE_BYTES",
    "NOTIFY_PATH",
    "STORE_DOWN_STATUS",
    "build_notify_router",
    "create_notify_app",
    "notice_url",
]
