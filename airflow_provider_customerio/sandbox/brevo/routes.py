"""Brevo v3 routes of the sandbox (mounted under ``/brevo/v3``): module-level handlers on :data:`router`.

Handlers only parse requests and shape JSON; behaviour lives in :class:`~.state.BrevoState`, reached through the
:data:`State` dependency (``request.app.state.brevo``). Errors are :mod:`.errors` classes, rendered as Brevo bodies
by :class:`BrevoRoute`. The sandbox-only control routes (``/_sandbox/brevo``) are in
:mod:`airflow_provider_customerio.sandbox.control.brevo`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from airflow_provider_customerio.sandbox.brevo.errors import (
    BrevoError,
    InvalidParameter,
    MethodNotAllowed,
    OutOfRange,
    PathNotFound,
    Unauthorized,
    render_error,
)
from airflow_provider_customerio.sandbox.brevo.state import BrevoState

_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


# --------------------------------------------------------------------------------------------------------------
# Request helpers
# --------------------------------------------------------------------------------------------------------------


async def brevo_state(request: Request) -> BrevoState:
    """FastAPI dependency: the app's Brevo state (``app.state.brevo``)."""
    state: BrevoState = request.app.state.brevo
    return state


State = Annotated[BrevoState, Depends(brevo_state)]


class BrevoRoute(APIRoute):
    """An APIRoute that checks the ``api-key`` header and renders :class:`BrevoError` as Brevo bodies."""

    auth = True

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        auth = self.auth

        async def handler(request: Request) -> Response:
            try:
                if auth:
                    key = request.headers.get("api-key")
                    if not key:
                        raise Unauthorized("authentication not found in headers")
                    if key != request.app.state.brevo.api_key:
                        raise Unauthorized("Key not found")
                return await original(request)
            except BrevoError as exc:
                return render_error(exc.status, exc.message, exc.code, exc.metadata)

        return handler


class BrevoControlRoute(BrevoRoute):
    """A :class:`BrevoRoute` without the ``api-key`` check (the sandbox's control plane)."""

    auth = False


async def _body(request: Request) -> tuple[Any, int]:
    raw = await request.body()
    if not raw.strip():
        raise InvalidParameter("Request body is required (JSON)")
    try:
        return json.loads(raw), len(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"Request body is not valid JSON: {exc}") from None


def _int_param(
    request: Request, name: str, default: int | None, *, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if default is None:
            raise InvalidParameter(f"{name} is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise OutOfRange(f"{name} must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise OutOfRange(f"{name} exceeds max value {maximum}")
    return value


def _sort(request: Request) -> str:
    sort = request.query_params.get("sort", "desc")
    if sort not in ("asc", "desc"):
        raise InvalidParameter("sort must be asc or desc")
    return sort


def _int_list(request: Request, name: str) -> list[int]:
    out: list[int] = []
    for raw in request.query_params.getlist(name):
        for part in raw.split(","):
            if part.strip():
                try:
                    out.append(int(part))
                except ValueError:
                    raise InvalidParameter(f"{name} must hold integers, got {part!r}") from None
    return out


def json_response(body: Any, status: int = 200) -> Response:
    """A compact JSON response (Brevo's bodies)."""
    return Response(json.dumps(body, separators=(",", ":")), status_code=status, media_type="application/json")


def empty_response(status: int) -> Response:
    """An empty-bodied response: 204 (and attribute 201), as documented."""
    return Response(status_code=status)


# --------------------------------------------------------------------------------------------------------------
# Vendor routes, relative to /brevo/v3
# --------------------------------------------------------------------------------------------------------------

router = APIRouter(route_class=BrevoRoute)

# ------------------------------------------------------------------ contacts (static paths before {identifier})


@router.get("/contacts")
async def get_contacts(request: Request, state: State) -> Response:
    q = request.query_params
    limit = _int_param(request, "limit", 50, maximum=1000)
    offset = _int_param(request, "offset", 0)
    modified = state.filter_time_ms(q["modifiedSince"], "modifiedSince") if q.get("modifiedSince") else None
    created = state.filter_time_ms(q["createdSince"], "createdSince") if q.get("createdSince") else None
    list_ids = _int_list(request, "listIds")
    ids = _int_list(request, "ids")
    if q.get("segmentId"):
        if list_ids:
            raise InvalidParameter("Pass either segmentId or listIds, not both")
        raise InvalidParameter(f"segmentId {q['segmentId']} does not exist (the sandbox has no segments)")
    if len(ids) > 20:
        raise OutOfRange("ids accepts at most 20 contact ids")
    unknown = [lid for lid in list_ids if lid not in state.lists]
    if unknown:  # GET /contacts declares no 404
        raise InvalidParameter(f"listIds: list id(s) {unknown} do not exist")
    contacts, count = state.query_contacts(
        limit=limit,
        offset=offset,
        sort=_sort(request),
        modified_since=modified,
        created_since=created,
        list_ids=list_ids or None,
        ids=ids or None,
        filter_expr=q.get("filter") or None,
    )
    return json_response({"contacts": contacts, "count": count})


@router.post("/contacts")
async def create_contact(request: Request, state: State) -> Response:
    body, _ = await _body(request)
    new_id = state.create_contact(body)
    return empty_response(204) if new_id is None else json_response({"id": new_id}, 201)


@router.get("/contacts/attributes")
async def list_attributes(request: Request, state: State) -> Response:
    return json_response({"attributes": state.list_attributes()})


@router.post("/contacts/attributes/{category}/{name}")
async def create_attribute(category: str, name: str, request: Request, state: State) -> Response:
    raw = await request.body()
    body = (await _body(request))[0] if raw.strip() else {}
    state.create_attribute(category, name, body)
    return empty_response(201)


@router.get("/contacts/folders")
async def get_folders(request: Request, state: State) -> Response:
    folders, count = state.folders_page(
        _int_param(request, "limit", 10, maximum=50), _int_param(request, "offset", 0), _sort(request)
    )
    return json_response({"count": count, "folders": folders})


@router.post("/contacts/folders")
async def create_folder(request: Request, state: State) -> Response:
    body, _ = await _body(request)
    return json_response({"id": state.create_folder(body.get("name") if isinstance(body, dict) else None)}, 201)


@router.get("/contacts/lists")
async def get_lists(request: Request, state: State) -> Response:
    lists, count = state.lists_page(
        _int_param(request, "limit", 10, maximum=50), _int_param(request, "offset", 0), _sort(request)
    )
    return json_response({"count": count, "lists": lists})


@router.post("/contacts/lists")
async def create_list(request: Request, state: State) -> Response:
    body, _ = await _body(request)
    if not isinstance(body, dict):
        raise InvalidParameter("Request body must be a JSON object with name and folderId")
    return json_response({"id": state.create_list(body.get("name"), body.get("folderId"))}, 201)


@router.get("/contacts/lists/{list_id}")
async def get_list(list_id: str, request: Request, state: State) -> Response:
    return json_response(state.get_list(list_id))


@router.get("/contacts/lists/{list_id}/contacts")
async def get_list_contacts(list_id: str, request: Request, state: State) -> Response:
    lid = state.list_id_checked(list_id)
    q = request.query_params
    limit = _int_param(request, "limit", 50, maximum=500)
    offset = _int_param(request, "offset", 0)
    modified = state.filter_time_ms(q["modifiedSince"], "modifiedSince") if q.get("modifiedSince") else None
    contacts, count = state.query_contacts(
        limit=limit, offset=offset, sort=_sort(request), modified_since=modified, list_ids=[lid]
    )
    return json_response({"contacts": contacts, "count": count})


@router.post("/contacts/lists/{list_id}/contacts/add")
async def add_to_list(list_id: str, request: Request, state: State) -> Response:
    body, _ = await _body(request)
    return json_response(state.change_list_members(list_id, body, add=True), 201)


@router.post("/contacts/lists/{list_id}/contacts/remove")
async def remove_from_list(list_id: str, request: Request, state: State) -> Response:
    body, _ = await _body(request)
    return json_response(state.change_list_members(list_id, body, add=False), 201)


@router.post("/contacts/import")
async def import_contacts(request: Request, state: State) -> Response:
    raw = await request.body()
    if len(raw) > 10 * 1024 * 1024:  # check the size before parsing 10+ MB of JSON
        return json_response(
            {"code": "out_of_range", "message": "Maximum allowed body size is 10MB; split the import"}, 400
        )
    body, size = await _body(request)
    return json_response({"processId": state.start_import(body, size)}, 202)


@router.get("/contacts/{identifier}")
async def get_contact(identifier: str, request: Request, state: State) -> Response:
    return json_response(state.get_contact(identifier, request.query_params.get("identifierType")))


@router.put("/contacts/{identifier}")
async def update_contact(identifier: str, request: Request, state: State) -> Response:
    body, _ = await _body(request)
    state.update_contact(identifier, request.query_params.get("identifierType"), body)
    return empty_response(204)


@router.delete("/contacts/{identifier}")
async def delete_contact(identifier: str, request: Request, state: State) -> Response:
    state.delete_contact(identifier, request.query_params.get("identifierType"))
    return empty_response(204)


# ------------------------------------------------------------------ processes


@router.get("/processes")
async def get_processes(request: Request, state: State) -> Response:
    processes, count = state.processes_page(
        _int_param(request, "limit", 10, maximum=50), _int_param(request, "offset", 0), _sort(request)
    )
    return json_response({"count": count, "processes": processes})


@router.get("/processes/{process_id}")
async def get_process(process_id: str, request: Request, state: State) -> Response:
    return json_response(state.poll_process(process_id))


# ------------------------------------------------------------------ events


@router.get("/events")
async def list_events(request: Request, state: State) -> Response:
    names = [n for raw in request.query_params.getlist("event_name") for n in raw.split(",") if n]
    return json_response(
        state.list_events(
            event_names=names,
            contact_ids=_int_list(request, "contact_id"),
            start=request.query_params.get("startDate"),
            end=request.query_params.get("endDate"),
            limit=_int_param(request, "limit", 100, minimum=1, maximum=10000),
            offset=_int_param(request, "offset", 0),
        )
    )


@router.post("/events")
async def create_event(request: Request, state: State) -> Response:
    body, _ = await _body(request)
    state.create_event(body)
    return empty_response(204)


@router.post("/events/batch")
async def create_events_batch(request: Request, state: State) -> Response:
    raw = await request.body()
    if len(raw) > 512 * 1024:
        raise OutOfRange("Batch body exceeds 512 KB; send at most 200 events and 512 KB per request")
    body, size = await _body(request)
    status, payload = state.create_events_batch(body, size)
    return json_response(payload, status)


# ------------------------------------------------------------------ custom objects


@router.post("/objects/{object_type}/batch/upsert")
async def upsert_objects(object_type: str, request: Request, state: State) -> Response:
    raw = await request.body()
    if len(raw) > 1024 * 1024:
        raise OutOfRange("Max request body size is 1 MB")
    body, size = await _body(request)
    pid = state.start_object_upsert(object_type, body, size)
    return json_response({"message": "Batch object records are being processed", "processId": pid}, 202)


@router.post("/objects/{object_type}/batch/delete")
async def delete_objects(object_type: str, request: Request, state: State) -> Response:
    body, _size = await _body(request)
    pid = state.start_object_delete(object_type, body)
    return json_response({"message": "Batch object records are being processed for deletion.", "processId": pid}, 202)


@router.get("/objects/{object_type}/records")
async def get_object_records(object_type: str, request: Request, state: State) -> Response:
    limit = _int_param(request, "limit", None, maximum=1000)
    page_num = _int_param(request, "page_num", None, minimum=1)
    association = request.query_params.get("association", "false")
    if association not in ("true", "false"):
        raise InvalidParameter("association must be 'true' or 'false'")
    records, count = state.object_records_page(object_type, limit, page_num, _sort(request), association == "true")
    return json_response({"count": count, "records": records})


# ------------------------------------------------------------------ account


@router.get("/account")
async def get_account(request: Request, state: State) -> Response:
    return json_response(state.account())


# ------------------------------------------------------------------ everything else: Brevo-shaped 404 / 405

_KNOWN = [route for route in router.routes if isinstance(route, APIRoute)]


@router.api_route("/{path:path}", methods=_ALL_METHODS, include_in_schema=False)
async def not_found(path: str, request: Request) -> Response:
    target = "/" + path
    if any(route.path_regex.match(target) for route in _KNOWN):
        # spec's own example message for method_not_allowed
        raise MethodNotAllowed(f"{request.method} Method is not allowed on this path")
    raise PathNotFound(f"Invalid path {target}")
