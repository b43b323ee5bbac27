"""Customer.io Track API routes (v1 and v2) on :data:`router`, mounted under ``/track`` and ``/track-eu``.

Handlers only parse requests and shape JSON; the world changes in :class:`CustomerIOState`. Auth (Basic,
either base64 alphabet), region and rate limits are checked by the outer ASGI layer (``core.SandboxASGI``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from starlette.responses import Response

from airflow_provider_customerio.sandbox.customerio.errors import (
    InvalidOperation,
    TrackMergeError,
    TrackNotFound,
    TrackV2Error,
    TrackValidationError,
    json_response,
)
from airflow_provider_customerio.sandbox.customerio.params import Cio
from airflow_provider_customerio.sandbox.customerio.state import CustomerIOState

MAX_OP_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
PERSON_ACTIONS = {
    "identify",
    "delete",
    "event",
    "screen",
    "page",
    "add_relationships",
    "delete_relationships",
    "add_device",
    "delete_device",
    "merge",
    "suppress",
    "unsuppress",
}
OBJECT_ACTIONS = {"identify", "identify_anonymous", "delete", "add_relationships", "delete_relationships"}
PERSON_ID_KEYS = ("id", "email", "phone", "cio_id")


def ok() -> Response:
    """Track success: always 200 with ``{}`` (the Go client rejects any other 2xx)."""
    return Response(b"{}", status_code=200, media_type="application/json")


def raw_segments(request: Request, after: str) -> list[str]:
    """Path segments after ``after``, split on the RAW path, then percent-decoded one by one.

    ``%2F`` inside an identifier therefore stays inside it, and a raw ``+`` stays a plus (docs/vendor-behaviour.md).
    """
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    text = raw.decode("latin-1").split("?", 1)[0]
    _, _, rest = text.partition(after)
    return [unquote(s, encoding="utf-8") for s in rest.split("/")] if rest else []


async def json_body(request: Request, allow_empty: bool = False) -> Any:
    raw = await request.body()
    if not raw.strip():
        if allow_empty:
            return {}
        raise TrackValidationError("request body is empty: send a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise TrackValidationError("request body is not valid JSON") from None


#: Track v1 + v2 routes.
router = APIRouter()


def v1(exc: InvalidOperation) -> TrackValidationError:
    return TrackValidationError(exc.message)


@router.get("/api/v1/accounts/region")
async def region(request: Request, state: Cio) -> Response:
    region_name = state.settings["region"]
    # The document makes ``url`` an enum of the two vendor hosts, so the sandbox answers the vendor URL
    # (never its own). A client with a host override must keep its host and use only ``region``.
    url = "https://track-eu.customer.io" if region_name == "eu" else "https://track.customer.io"
    return json_response({"url": url, "region": region_name, "environment_id": state.settings["environment_id"]})


@router.api_route("/api/v1/customers/{rest:path}", methods=["PUT", "DELETE", "POST"])
async def customers(request: Request, rest: str, state: Cio) -> Response:
    segs = raw_segments(request, "/api/v1/customers/")
    if not segs or not segs[0]:
        raise TrackNotFound("Not found")
    identifier, tail, method = segs[0], segs[1:], request.method
    kind, value, idx = state.find_by_path(identifier)
    try:
        if not tail and method == "PUT":
            body = await json_body(request, allow_empty=True)
            if not isinstance(body, dict):
                raise TrackValidationError("body must be a JSON object of attributes")
            state.identify(kind, value, body)
            return ok()
        if not tail and method == "DELETE":
            await request.body()  # the Python client sends {} with DELETE
            if idx is not None:
                state.delete_person(idx)
            return ok()
        if tail == ["events"] and method == "POST":
            body = await json_body(request)
            if not isinstance(body, dict):
                raise TrackValidationError("body must be a JSON object with a name")
            if idx is None:
                if kind == "cio_id":
                    return ok()
                idx = state.identify(kind, value, {})  # an event for an unknown person creates them
                if idx is None:
                    return ok()
            state.track_event(idx, body)
            return ok()
        if tail == ["devices"] and method == "PUT":
            body = await json_body(request)
            device = body.get("device") if isinstance(body, dict) else None
            if idx is None:
                idx = state.identify(kind, value, {}) if kind != "cio_id" else None
            if idx is not None:
                state.set_device(idx, device)  # type: ignore[arg-type]
            return ok()
        if len(tail) == 2 and tail[0] == "devices" and method == "DELETE":
            if idx is not None:
                state.delete_device(idx, tail[1])
            return ok()
        if tail in (["suppress"], ["unsuppress"]) and method == "POST":
            await request.body()
            if tail == ["suppress"]:
                state.suppress(idx, kind, value)
            else:
                state.unsuppress(idx, kind, value)
            return ok()
    except InvalidOperation as exc:
        raise v1(exc) from None
    raise TrackNotFound("Not found")


@router.post("/api/v1/events")
async def anonymous_event(request: Request, state: Cio) -> Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise TrackValidationError("body must be a JSON object with a name")
    try:
        state.track_event(None, body, anonymous_id=body.get("anonymous_id"))
    except InvalidOperation as exc:
        raise v1(exc) from None
    return ok()


@router.post("/api/v1/merge_customers")
async def merge(request: Request, state: Cio) -> Response:
    body = await json_body(request)
    sides = []
    for side in ("primary", "secondary"):
        ident = body.get(side) if isinstance(body, dict) else None
        if not isinstance(ident, dict) or len(ident) != 1 or next(iter(ident)) not in ("id", "email", "cio_id"):
            raise TrackMergeError(f"{side} must carry exactly one of id, email or cio_id")
        ((k, v),) = ident.items()
        sides.append((k, str(v)))
    state.merge(sides[0], sides[1])
    return ok()


@router.post("/api/v1/segments/{segment_id}/{op}")
async def manual_segment(request: Request, segment_id: str, op: str, state: Cio) -> Response:
    if op not in ("add_customers", "remove_customers"):
        raise TrackNotFound("Not found")
    id_type = request.query_params.get("id_type", "id")
    if id_type not in ("id", "email", "cio_id"):
        raise TrackValidationError(f"id_type {id_type!r} must be id, email or cio_id")
    body = await json_body(request)
    try:
        state.manual_segment_change(
            int(segment_id) if segment_id.isdigit() else -1,
            id_type,
            body.get("ids") if isinstance(body, dict) else None,  # type: ignore[arg-type]
            add=op == "add_customers",
        )
    except InvalidOperation as exc:
        if exc.reason == "not_found":
            raise TrackNotFound(exc.message) from None
        raise v1(exc) from None
    return ok()


# ------------------------------------------------------------------------------------------ v2


def apply_op(state: CustomerIOState, op: Any) -> None:
    """Apply one v2 operation; raises InvalidOperation naming the field."""
    if not isinstance(op, dict):
        raise InvalidOperation("each operation must be an object", "", "invalid")
    size = len(json.dumps(op, separators=(",", ":")).encode())
    if size > MAX_OP_BYTES:
        raise InvalidOperation(f"operation is {size} bytes; the limit is 32 KB", "", "too_large")
    otype, action = op.get("type"), op.get("action")
    if otype == "person":
        if action not in PERSON_ACTIONS:
            raise InvalidOperation(f"action {action!r} is not a person action", "action", "invalid")
        apply_person(state, action, op)
    elif otype == "object":
        if action not in OBJECT_ACTIONS:
            raise InvalidOperation(f"action {action!r} is not an object action", "action", "invalid")
        ident = op.get("identifiers")
        if not isinstance(ident, dict):
            raise InvalidOperation("identifiers is required", "identifiers", "required")
        state.object_op(action, ident, op)
    elif otype == "delivery":
        if action != "event" or op.get("name") not in ("opened", "converted", "delivered"):
            raise InvalidOperation("delivery ops need action event and name opened|converted|delivered", "name")
        if not isinstance(op.get("identifiers"), dict) or "id" not in op["identifiers"]:
            raise InvalidOperation("identifiers.id (the delivery id) is required", "identifiers", "required")
    else:
        raise InvalidOperation(f"type {otype!r} must be person, object or delivery", "type", "invalid")


def person_identifier(op: dict[str, Any]) -> tuple[str, str]:
    ident = op.get("identifiers")
    if not isinstance(ident, dict):
        raise InvalidOperation("identifiers is required", "identifiers", "required")
    keys = [k for k in ident if k in PERSON_ID_KEYS]
    if len(keys) != 1 or len(ident) != 1:
        raise InvalidOperation(
            "identifiers must contain exactly one of id, email, phone, cio_id", "identifiers", "invalid"
        )
    value = ident[keys[0]]
    if value is None or str(value) == "":
        raise InvalidOperation(f"identifiers.{keys[0]} is empty", f"identifiers.{keys[0]}", "required")
    return keys[0], str(value)


def apply_person(state: CustomerIOState, action: str, op: dict[str, Any]) -> None:
    if action == "merge":
        sides = []
        for side in ("primary", "secondary"):
            ident = op.get(side)
            if not isinstance(ident, dict) or len(ident) != 1:
                raise InvalidOperation(f"{side} must carry exactly one identifier", side, "invalid")
            ((k, v),) = ident.items()
            sides.append((k, str(v)))
        state.merge(sides[0], sides[1])
        return
    kind, value = person_identifier(op)
    idx = state.find(kind, value)
    if action == "identify":
        attrs = op.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise InvalidOperation("attributes must be an object", "attributes", "invalid")
        body = dict(attrs)
        if op.get("timestamp") is not None:
            body["_timestamp"] = op["timestamp"]
        if op.get("cio_relationships") is not None:
            body["cio_relationships"] = op["cio_relationships"]
        state.identify(kind, value, body)
    elif action == "delete":
        if idx is not None:
            state.delete_person(idx)
    elif action in ("event", "screen", "page"):
        if idx is None and kind != "cio_id":
            idx = state.identify(kind, value, {})
        if idx is not None:
            ev = {"name": op.get("name"), "type": action, "id": op.get("id"), "data": op.get("attributes")}
            if op.get("timestamp") is not None:
                ev["timestamp"] = op["timestamp"]
            state.track_event(idx, ev)
    elif action in ("add_relationships", "delete_relationships"):
        rels = op.get("cio_relationships")
        if not isinstance(rels, list):
            raise InvalidOperation("cio_relationships is required", "cio_relationships", "required")
        if idx is None and action == "add_relationships" and kind != "cio_id":
            idx = state.identify(kind, value, {})
        if idx is not None:
            state.relationships_op(idx, rels, action)
    elif action == "add_device":
        if idx is None and kind != "cio_id":
            idx = state.identify(kind, value, {})
        if idx is not None:
            state.set_device(idx, op.get("device"), token_key="token")  # type: ignore[arg-type]  # noqa: S106 (a field name)
    elif action == "delete_device":
        device = op.get("device")
        if not isinstance(device, dict) or not device.get("token"):
            raise InvalidOperation("device.token is required", "device.token", "required")
        if idx is not None:
            state.delete_device(idx, str(device["token"]))
    elif action == "suppress":
        state.suppress(idx, kind, value)
    elif action == "unsuppress":
        state.unsuppress(idx, kind, value)


@router.post("/api/v2/entity")
async def entity(request: Request, state: Cio) -> Response:
    raw = await request.body()
    if len(raw) > MAX_OP_BYTES:
        raise TrackV2Error(f"request is {len(raw)} bytes; the limit is 32 KB", "too_large", "")
    try:
        op = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise TrackV2Error("request body is not valid JSON", "invalid", "") from None
    try:
        apply_op(state, op)
    except InvalidOperation as exc:
        raise TrackV2Error(exc.message, exc.reason, exc.field) from None
    return ok()


@router.post("/api/v2/batch")
async def batch(request: Request, state: Cio) -> Response:
    raw = await request.body()
    if len(raw) > MAX_BATCH_BYTES:
        raise TrackV2Error(f"request is {len(raw)} bytes; the limit is 500 KB", "too_large", "batch")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise TrackV2Error("request body is not valid JSON", "invalid", "") from None
    ops = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(ops, list):
        raise TrackV2Error("batch must be an array of operations", "required", "batch")
    partial = bool(request.scope.get("state", {}).get("partial_207"))
    errors = []
    for n, op in enumerate(ops):
        if partial and n % 2 == 0:
            # injected partial failure: the op is NOT applied, the caller must retry it
            errors.append(
                {
                    "batch_index": n,
                    "reason": "internal",
                    "field": "",
                    "message": "temporary failure processing this operation; retry it",
                }
            )
            continue
        try:
            apply_op(state, op)
        except InvalidOperation as exc:
            errors.append({"batch_index": n, "reason": exc.reason, "field": exc.field, "message": exc.message})
    if errors:
        return json_response({"errors": errors}, 207)
    return ok()
