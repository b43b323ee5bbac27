"""Local sandbox: a stateful emulator of the Customer.io (Track + App) and Brevo v3 APIs.

Run it with ``python -m airflow_provider_customerio.sandbox --host 127.0.0.1 --port 0 --seed-people N``, or
in-process with :class:`airflow_provider_customerio.sandbox.server.SandboxServer`.
"""

from __future__ import annotations

__all__ = ["SandboxServer"]


def __getattr__(name: str) -> object:
    # Lazy: importing the package must not import FastAPI/uvicorn (the provider's hooks never need them).
    if name == "SandboxServer":
        from airflow_provider_customerio.sandbox.server import SandboxServer

        return SandboxServer
    raise AttributeError(name)
