"""What every control-plane module shares: the error, the JSON body reader and the state dependencies."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from starlette.responses import Response

from airflow_provider_customerio.sandbox.customerio.errors import json_response
from airflow_provider_customerio.sandbox.customerio.params import Cio

if TYPE_CHECKING:
    from airflow_provider_customerio.sandbox.context import SandboxContext


class ControlError(Exception):
    """A bad control-plane request; rendered as 400/404 ``{"error": message}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def render(self) -> Response:
        return json_response({"error": self.message}, self.status)


async def read_body(request: Request) -> Any:
    """The request's JSON body (``{}`` when empty); :class:`ControlError` when it is not JSON."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ControlError("body: not valid JSON") from None


async def sandbox_context(request: Request) -> SandboxContext:
    """FastAPI dependency: the sandbox's shared context (``app.state.ctx``)."""
    ctx: SandboxContext = request.app.state.ctx
    return ctx


if TYPE_CHECKING:
    Ctx = Annotated[SandboxContext, Depends(sandbox_context)]
else:  # the context's module imports this one: FastAPI only needs the dependency at runtime
    Ctx = Annotated[Any, Depends(sandbox_context)]

__all__ = ["Cio", "ControlError", "Ctx", "read_body", "sandbox_context"]
