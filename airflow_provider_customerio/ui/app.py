"""The status page's FastAPI app, served by the Airflow api-server (see :mod:`.plugin`) and read from the store.

Routes (under the plugin's prefix, ``/customerio-brevo``):

* ``GET /`` - the page (``from``/``to`` date range of the campaign charts; ``reason`` and ``before`` page through
  the rejected records of one reason);
* ``GET /rejects.csv`` - rejected records as CSV (``reason`` optional), streamed;
* ``GET /api/status`` and ``GET /api/rejects`` - the same figures as JSON.

Access: every route needs an authenticated Airflow user: the JWT the Airflow UI holds (its ``_token`` cookie, or
an ``Authorization: Bearer`` header), validated by Airflow's own auth manager. The user sees the records of the
DAGs the auth manager lets them read, and is refused (403) when the provider's DAGs are all hidden from them.
Without a session the answer is 401 and carries no data. The webhook receiver (``/customerio/webhooks``) is a
different app and stays public (HMAC-signed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from sqlalchemy.engine import Engine

from airflow_provider_customerio.store.engine import store_label
from airflow_provider_customerio.store.status import PAGE_SIZE, StatusQueries
from airflow_provider_customerio.ui.page import render_page
from airflow_provider_customerio.ui.queries import recent_runs

#: Days of campaign metrics shown when no range is given.
DEFAULT_DAYS = 14
MAX_DAYS = 366
DAGS_TTL_S = 60.0


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a name, and the DAG ids they may read (``None``: every DAG)."""

    name: str
    dag_ids: frozenset[str] | None


#: Names the viewer of a request and which of the given DAG ids they may read; raises 401/403 otherwise.
Authorize = Callable[[Request, frozenset[str]], Awaitable[Viewer]]


async def airflow_viewer(request: Request, dag_ids: frozenset[str]) -> Viewer:
    """The Airflow user of the request, by Airflow's auth manager (401 without a valid token: the UI's ``_token``
    cookie or a bearer token), with those of ``dag_ids`` they may read."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.security import HTTPBearer

    bearer = await HTTPBearer(auto_error=False)(request)
    user = await get_user(request, None, bearer)
    manager = get_auth_manager()
    allowed = await asyncio.to_thread(
        lambda: manager.filter_authorized_dag_ids(dag_ids=set(dag_ids), user=user, method="GET")
    )
    return Viewer(name=str(user.get_name()), dag_ids=frozenset(allowed))


def _login_url() -> str:
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return str(get_auth_manager().get_url_login())
    except Exception:
        return "/"


def _day(value: str | None, default: date, name: str) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"{name}: {value!r} is not a date; use YYYY-MM-DD, e.g. 2026-01-31") from None


def _date_range(first: str | None, last: str | None, today: date) -> tuple[date, date]:
    """The page's ``[from, to]`` days (default: the last :data:`DEFAULT_DAYS` days up to ``today``)."""
    end = _day(last, today, "to")
    start = _day(first, end - timedelta(days=DEFAULT_DAYS - 1), "from")
    if start > end:
        raise HTTPException(400, f"from ({start}) is after to ({end}): swap them")
    if (end - start).days >= MAX_DAYS:
        raise HTTPException(400, f"the date range is over {MAX_DAYS} days: narrow it")
    return start, end


def _viewer_dependency(engine: Callable[[], Engine], authorize: Authorize) -> Callable[[Request], Awaitable[Viewer]]:
    """The FastAPI dependency naming the viewer: 401 (a login link for browsers) or 403 when not allowed."""
    dags_cache: list[tuple[float, frozenset[str]]] = []

    def provider_dags() -> frozenset[str]:
        """The DAGs the store has records of (cached for a minute: they change with new DAGs only)."""
        now = time.monotonic()
        if not dags_cache or now - dags_cache[0][0] > DAGS_TTL_S:
            dags_cache[:] = [(now, frozenset(StatusQueries(engine()).provider_dag_ids()))]
        return dags_cache[0][1]

    async def viewer(request: Request) -> Viewer:
        dags = await asyncio.to_thread(provider_dags)
        try:
            who = await authorize(request, dags)
        except HTTPException as exc:
            if exc.status_code in (401, 403) and "text/html" in request.headers.get("accept", ""):
                raise HTTPException(401, "login") from None
            raise HTTPException(
                401 if exc.status_code in (401, 403) else exc.status_code, "Not authenticated"
            ) from None
        if who.dag_ids is not None and dags and not dags & who.dag_ids:
            raise HTTPException(403, "You may not read any of the Customer.io sync DAGs.")
        return who

    return viewer


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Errors as JSON; a 401 ``login`` as an HTML page linking to Airflow's login."""
    if exc.status_code == 401 and exc.detail == "login":
        login = _login_url()
        return HTMLResponse(
            f'<!DOCTYPE html><html><body><p>Log in to Airflow to see this page: <a href="{login}" '
            'target="_top">log in</a>.</p></body></html>',
            status_code=401,
        )
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


def create_app(
    engine_factory: Callable[[], Engine],
    *,
    authorize: Authorize = airflow_viewer,
    today: Callable[[], date] = date.today,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The app. ``engine_factory`` opens the store (once, on the first request); ``authorize`` names the viewer
    or raises 401/403."""
    app = FastAPI(title="Customer.io ↔ Brevo status", docs_url=None, redoc_url=None, openapi_url=None)
    engine_box: list[Engine] = []

    def engine() -> Engine:
        if not engine_box:
            engine_box.append(engine_factory())
        return engine_box[0]

    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    viewer = _viewer_dependency(engine, authorize)
    _add_page_routes(app, engine, viewer, today, clock)
    _add_api_routes(app, engine, viewer, today)
    return app


def _add_page_routes(
    app: FastAPI,
    engine: Callable[[], Engine],
    viewer: Callable[[Request], Awaitable[Viewer]],
    today: Callable[[], date],
    clock: Callable[[], float],
) -> None:
    """``/`` (the HTML page) and ``/rejects.csv``."""

    @app.get("/", response_class=HTMLResponse)
    def page(
        who: Viewer = Depends(viewer),
        first: str | None = Query(None, alias="from"),
        last: str | None = Query(None, alias="to"),
        reason: str | None = None,
        before: int | None = None,
    ) -> HTMLResponse:
        eng = engine()
        reads = StatusQueries(eng)
        start, end = _date_range(first, last, today())
        counts = reads.reject_counts(who.dag_ids)
        chosen = reason or next(iter(counts), None)
        html = render_page(
            user=who.name,
            runs=recent_runs(reads, who.dag_ids),
            reject_counts=counts,
            reject_page=reads.reject_page(who.dag_ids, chosen, before=before) if chosen else None,
            metrics=reads.metrics_rows(start, end),
            first=start,
            last=end,
            health=reads.webhook_health(),
            store_location=store_label(eng),
            now=clock(),
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.get("/rejects.csv")
    def rejects_csv(who: Viewer = Depends(viewer), reason: str | None = None) -> StreamingResponse:
        name = f"rejected_records{'_' + reason if reason else ''}.csv"
        return StreamingResponse(
            StatusQueries(engine()).iter_rejects_csv(who.dag_ids, reason),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )


def _add_api_routes(
    app: FastAPI,
    engine: Callable[[], Engine],
    viewer: Callable[[Request], Awaitable[Viewer]],
    today: Callable[[], date],
) -> None:
    """``/api/status`` and ``/api/rejects`` (JSON)."""

    @app.get("/api/status")
    def status(
        who: Viewer = Depends(viewer),
        first: str | None = Query(None, alias="from"),
        last: str | None = Query(None, alias="to"),
    ) -> dict[str, Any]:
        eng = engine()
        reads = StatusQueries(eng)
        start, end = _date_range(first, last, today())
        health = reads.webhook_health()
        return {
            "user": who.name,
            "runs": {
                cap: [{**asdict(r), "api_calls": r.api_calls} for r in rows]
                for cap, rows in recent_runs(reads, who.dag_ids).items()
            },
            "rejects_by_reason": reads.reject_counts(who.dag_ids),
            "campaign_metrics": reads.metrics_rows(start, end),
            "webhooks": {**asdict(health), "received": health.received, "refused": health.refused},
        }

    @app.get("/api/rejects")
    def rejects(
        reason: str, who: Viewer = Depends(viewer), before: int | None = None, size: int = PAGE_SIZE
    ) -> dict[str, Any]:
        return asdict(StatusQueries(engine()).reject_page(who.dag_ids, reason, before=before, size=size))


__all__ = ["Viewer", "airflow_viewer", "create_app"]
