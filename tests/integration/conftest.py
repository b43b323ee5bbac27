"""Integration fixtures: one real sandbox server per test session (127.0.0.1, ephemeral port, in a thread).

``sandbox`` resets the server before each test that uses it and hands out a :class:`SandboxClient`::

    def test_x(sandbox):
        sandbox.seed(people=100, seed=7)
        sandbox.faults(vendor="app", kind="429", count=1)
        ... real HTTP against sandbox.info["app_url"] ...
        assert [r["status"] for r in sandbox.requests(vendor="app")] == [429, 200]

Rate limits are ON (vendor defaults) after every reset; ``sandbox.ratelimits(enabled=False)`` turns them off
for one test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from airflow_provider_customerio.sandbox.server import SandboxServer


class SandboxClient:
    """Test-side handle on the running sandbox: info, control-plane helpers and auth helpers."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.info: dict[str, Any] = dict(server.info)
        self.control_url: str = server.control_url
        self.track_url: str = self.info["track_url"]
        self.app_url: str = self.info["app_url"]
        self.brevo_url: str = self.info["brevo_url"]
        self.http = requests.Session()

    # ---------------------------------------------------------------------------------- control plane

    def _call(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        resp = self.http.request(method, f"{self.control_url}{path}", json=json, params=params, timeout=300)
        if resp.status_code >= 400:
            raise AssertionError(f"sandbox control {method} {path} -> {resp.status_code}: {resp.text}")
        return resp.json() if resp.content else None

    def reset(self) -> None:
        self._call("POST", "/reset")

    def seed(self, **params: Any) -> dict[str, Any]:
        """``POST /_sandbox/seed`` (people, segments, campaigns, days, objects, seed, now)."""
        return self._call("POST", "/seed", json=params)

    def faults(self, **spec: Any) -> list[dict[str, Any]]:
        """Add one fault rule (vendor, kind, rate|count, delay_s, path_contains, method)."""
        return self._call("POST", "/faults", json=spec)["faults"]

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def ratelimits(self, **limits: Any) -> dict[str, Any]:
        return self._call("PUT", "/ratelimits", json=limits)

    def settings(self, **values: Any) -> dict[str, Any]:
        """Customer.io workspace settings (region, export_polls, fail_exports, wrap_customer_items, ...)."""
        return self._call("PUT", "/customerio/settings", json=values)

    def requests(self, vendor: str | None = None, path_contains: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("vendor", vendor), ("path_contains", path_contains)) if v}
        return self._call("GET", "/requests", params=params)["requests"]

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def person(self, identifier: str, id_type: str | None = None) -> dict[str, Any] | None:
        """Typed state of one Customer.io person (``None`` if absent)."""
        params = {"id_type": id_type} if id_type else None
        path = quote(identifier, safe="")
        resp = self.http.get(f"{self.control_url}/state/customerio/people/{path}", params=params, timeout=30)
        return None if resp.status_code == 404 else resp.json()

    def summary(self) -> dict[str, Any]:
        return self._call("GET", "/state/customerio/summary")

    # ---------------------------------------------------------------------------------- auth helpers

    @property
    def track_auth(self) -> tuple[str, str]:
        return (self.info["site_id"], self.info["track_api_key"])

    @property
    def app_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.info['app_api_key']}"}

    @property
    def brevo_headers(self) -> dict[str, str]:
        return {"api-key": self.info["brevo_api_key"]}

    def set_airflow_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point the three default Airflow connections at the sandbox (no database needed)."""
        for key, value in self.info["airflow_conn_env"].items():
            monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    server = SandboxServer(host="127.0.0.1", port=0, seed_people=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxClient:
    """The session's sandbox, reset to an empty world with default rate limits and no faults."""
    sandbox_server.reset()
    return SandboxClient(sandbox_server)
