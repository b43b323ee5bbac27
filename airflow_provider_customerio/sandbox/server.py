"""The sandbox server: one FastAPI app on one uvicorn port serving Track, App, Brevo and the control plane.

Prefixes: ``/track`` (+ ``/track-eu``), ``/app`` (+ ``/app-eu``), ``/brevo/v3``, ``/_sandbox`` (with
``/_sandbox/brevo`` and ``/_sandbox/webhooks`` from their modules), and ``/files`` (signed export downloads).
In-process use::

    server = SandboxServer(host="127.0.0.1", port=0, seed_people=1000)
    server.start()
    server.info["app_url"]  # http://127.0.0.1:<port>/app
    server.reset()
    server.stop()

The region model: the workspace has a region (default ``us``; ``PUT /_sandbox/customerio/settings
{"region": "eu"}``). ``/track`` and ``/app`` are the US hosts, ``/track-eu`` and ``/app-eu`` the EU hosts. An
App request on the other region's host gets 401; a Track request for an EU workspace on the US host gets a 301
"wrong datacenter" redirect to ``/track-eu``; a US workspace called on ``/track-eu`` gets 401.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import urllib.request
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from airflow_provider_customerio.sandbox.brevo import routes as brevo_routes
from airflow_provider_customerio.sandbox.brevo.errors import render_error
from airflow_provider_customerio.sandbox.context import SandboxContext
from airflow_provider_customerio.sandbox.control import ControlError, build_control_router
from airflow_provider_customerio.sandbox.core import SandboxASGI, classify
from airflow_provider_customerio.sandbox.customerio import routes_app, routes_reports, routes_track
from airflow_provider_customerio.sandbox.customerio.errors import (
    AppError,
    CustomerIOError,
    TrackError,
    json_response,
)

log = logging.getLogger(__name__)


def _vendor_error(path: str, status: int, message: str) -> Response:
    vendor, _ = classify(path)
    if vendor == "track":
        return TrackError(message, status).render()
    if vendor in ("app", "files"):
        return AppError(message, status).render()
    if vendor == "brevo":
        code = {404: "document_not_found", 405: "method_not_allowed"}.get(status, "invalid_parameter")
        return render_error(status, message, code)
    return json_response({"error": message}, status)


def create_app(ctx: SandboxContext) -> SandboxASGI:
    """Build the ASGI application (FastAPI routes wrapped by the core layer)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, title="airflow-provider-customerio sandbox")
    # the routes are module-level handlers; they reach the worlds through app.state
    app.state.ctx, app.state.cio, app.state.brevo = ctx, ctx.cio, ctx.brevo
    app.include_router(routes_track.router, prefix="/track")
    app.include_router(routes_track.router, prefix="/track-eu")
    app.include_router(routes_app.router, prefix="/app")
    app.include_router(routes_app.router, prefix="/app-eu")
    app.include_router(routes_reports.files_router)
    app.include_router(build_control_router(), prefix="/_sandbox")
    app.include_router(brevo_routes.router, prefix="/brevo/v3")

    @app.exception_handler(CustomerIOError)
    async def cio_error(request: Request, exc: CustomerIOError) -> Response:
        return exc.render()

    @app.exception_handler(ControlError)
    async def control_error(request: Request, exc: ControlError) -> Response:
        return exc.render()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = "Not Found" if exc.status_code == 404 else str(exc.detail)
        return _vendor_error(request.url.path, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errs = exc.errors()
        first = errs[0] if errs else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("path", "query", "body"))
        return _vendor_error(request.url.path, 400, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("sandbox: unhandled error on %s %s", request.method, request.url.path)
        return _vendor_error(request.url.path, 500, f"internal error in the sandbox: {type(exc).__name__}")

    return SandboxASGI(app, ctx)


def build_info(host: str, port: int, ctx: SandboxContext) -> dict[str, Any]:
    """The info JSON of the contract (URLs, fake credentials and the AIRFLOW_CONN_* variables)."""
    base = f"http://{host}:{port}"
    info: dict[str, Any] = {
        "track_url": f"{base}/track",
        "app_url": f"{base}/app",
        "brevo_url": f"{base}/brevo/v3",
        "control_url": f"{base}/_sandbox",
        "site_id": ctx.site_id,
        "track_api_key": ctx.track_api_key,
        "app_api_key": ctx.app_api_key,
        "brevo_api_key": ctx.brevo_api_key,
    }
    info["airflow_conn_env"] = {
        "AIRFLOW_CONN_CUSTOMERIO_TRACK_DEFAULT": json.dumps(
            {
                "conn_type": "customerio_track",
                "host": info["track_url"],
                "login": ctx.site_id,
                "password": ctx.track_api_key,
                "extra": {"region": "us"},
            }
        ),
        "AIRFLOW_CONN_CUSTOMERIO_APP_DEFAULT": json.dumps(
            {
                "conn_type": "customerio_app",
                "host": info["app_url"],
                "password": ctx.app_api_key,
                "extra": {"region": "us"},
            }
        ),
        "AIRFLOW_CONN_BREVO_DEFAULT": json.dumps(
            {
                "conn_type": "brevo",
                "host": info["brevo_url"],
                "password": ctx.brevo_api_key,
            }
        ),
    }
    return info


class _NotifyingServer(uvicorn.Server):
    """uvicorn server that sets an event once its sockets accept connections."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready.set()


def make_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket (port 0 picks a free port)."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"host: {host!r} refused; the sandbox binds to loopback only (use 127.0.0.1)")
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto is TCP;
    # without it every response pays the 40 ms delayed-ACK penalty (headers and body are two writes).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def uvicorn_config(app: Any) -> uvicorn.Config:
    try:
        import httptools  # noqa: F401

        http = "httptools"
    except ImportError:  # pragma: no cover
        http = "h11"
    return uvicorn.Config(
        app,
        http=http,
        lifespan="off",
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # keep uvicorn's raw send (dropped-connection faults need it)
        timeout_graceful_shutdown=2,
        timeout_keep_alive=30,
    )


class SandboxServer:
    """The sandbox in a background thread (tests, benchmarks). ``port=0`` picks a free port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed_people: int = 0,
        rate_limits: bool = True,
        processing: dict[str, Any] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.ctx = SandboxContext(seed_people=seed_people, rate_limits=rate_limits, processing=processing)
        self._server: _NotifyingServer | None = None
        self._thread: threading.Thread | None = None
        self.info: dict[str, Any] = {}

    @property
    def control_url(self) -> str:
        return str(self.info["control_url"])

    def start(self, timeout: float = 60.0) -> SandboxServer:
        if self._thread is not None:
            raise RuntimeError("sandbox server already started")
        self.ctx.reset()
        sock = make_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        self.info = build_info(self.host, self.port, self.ctx)
        self.ctx.info = self.info
        ready = threading.Event()
        self._server = _NotifyingServer(uvicorn_config(create_app(self.ctx)), ready)

        def run() -> None:
            asyncio.run(self._server.serve(sockets=[sock]))  # type: ignore[union-attr]

        self._thread = threading.Thread(target=run, name=f"sandbox-{self.port}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"sandbox did not start within {timeout} s on {self.host}:{self.port}")
        return self

    def reset(self) -> None:
        """Reset through the control plane (runs on the server's event loop, so it never races a request)."""
        req = urllib.request.Request(f"{self.control_url}/reset", data=b"{}", method="POST")  # noqa: S310
        with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310 (loopback URL built above)
            resp.read()

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
