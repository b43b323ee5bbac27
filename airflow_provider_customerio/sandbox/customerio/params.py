"""What the Customer.io routes share: the state dependency (:data:`Cio`) and the App API's query and body parsing."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request

from airflow_provider_customerio.sandbox.core import decode_cursor, encode_cursor
from airflow_provider_customerio.sandbox.customerio.errors import AppBadRequest
from airflow_provider_customerio.sandbox.customerio.state import CustomerIOState

ID_TYPES = ("id", "email", "phone", "cio_id")


def int_param(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise AppBadRequest(f"{name}: {raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise AppBadRequest(f"{name}: {value} is out of range; use {lo}..{hi}")
    return value


def cursor(request: Request) -> int:
    try:
        return decode_cursor(request.query_params.get("start"))
    except ValueError as exc:
        raise AppBadRequest(str(exc)) from None


def bool_param(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("true", "1")


async def body_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise AppBadRequest("request body is not valid JSON") from None


def page(items: list[Any], nxt: int | None) -> str:
    return encode_cursor(nxt) if nxt is not None else ""


async def customerio_state(request: Request) -> CustomerIOState:
    """FastAPI dependency: the Customer.io state (``app.state.cio``)."""
    state: CustomerIOState = request.app.state.cio
    return state


Cio = Annotated[CustomerIOState, Depends(customerio_state)]


def id_type_param(request: Request, default: str = "id") -> str:
    id_type = request.query_params.get("id_type", default)
    if id_type not in ID_TYPES:
        raise AppBadRequest(f"id_type: {id_type!r} must be one of id, email, phone, cio_id")
    return id_type


def identifier_list(state: CustomerIOState, idxs: list[int]) -> dict[str, Any]:
    """``identifiers``/``ids`` of a result page; an empty page gives null arrays (live quirk)."""
    if not idxs:
        return {"identifiers": None, "ids": None}
    idents = [state.read_identifiers(i) for i in idxs]
    return {"identifiers": idents, "ids": [x["id"] or "" for x in idents]}
