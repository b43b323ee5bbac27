"""The "connectors test": one line per check, each failure with its troubleshooting hint.

Free of Airflow: the checks receive hook-like objects, so they run the same from the connection-check DAG,
from the demo and from tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

from airflow_provider_customerio.exceptions import AuthError, CustomerIOProviderError, WrongRegionError


@dataclass
class CheckResult:
    """Outcome of one check: ``ok``, a one-line ``detail`` and, on failure, a ``hint``."""

    name: str
    ok: bool
    detail: str
    hint: str = ""

    def line(self) -> str:
        """The report line, e.g. ``✓ Track API: ...``."""
        mark = "✓" if self.ok else "✗"
        text = f"{mark} {self.name}: {self.detail}"
        if not self.ok and self.hint:
            text += f"\n    hint: {self.hint}"
        return text


HINTS = {
    "Track API": "Check the Site ID (login) and Track API key (password) of the customerio_track connection; an App "
    "API key does not work on the Track API; EU workspaces need region 'eu'.",
    "App API": "Check the App API key (password) of the customerio_app connection (Settings > API credentials > App "
    "API keys) and its region: the App API answers 401 when an EU key is sent to the US host.",
    "people accessible": "The App API key needs the people/customers scope; create a key with full access or add it.",
    "campaigns readable": "The App API key needs the campaigns scope.",
    "segments listable": "The App API key needs the segments scope.",
    "Brevo reachable": "Check the Brevo API key (password) of the brevo connection, and that the worker's IP is "
    "authorised if the account restricts API keys by IP (Brevo > Security > Authorised IPs).",
}


class ConnectionTester(Protocol):
    """What every checked hook offers: ``test_connection() -> (ok, message)``."""

    def test_connection(self) -> tuple[bool, str]: ...


class AppReader(ConnectionTester, Protocol):
    """The App API calls the checks make (as :class:`~.hooks.customerio_app.CustomerIOAppHook` offers them)."""

    def search_people(self, filter: dict[str, Any] | None = None, *, limit: int = ...) -> Iterator[dict[str, Any]]: ...

    def list_campaigns(self) -> list[dict[str, Any]]: ...

    def list_segments(self) -> list[dict[str, Any]]: ...


def _run(name: str, probe: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(name, True, probe())
    except WrongRegionError as exc:
        return CheckResult(name, False, exc.message, HINTS.get(name, ""))
    except AuthError as exc:
        return CheckResult(name, False, f"HTTP {exc.status} {exc.message}", HINTS.get(name, ""))
    except CustomerIOProviderError as exc:
        return CheckResult(name, False, str(exc).splitlines()[0][:300], HINTS.get(name, ""))
    except Exception as exc:  # a check must report, not crash the report
        return CheckResult(name, False, f"{type(exc).__name__}: {exc}"[:300], HINTS.get(name, ""))


def run_checks(track: ConnectionTester, app: AppReader, brevo: ConnectionTester) -> list[CheckResult]:
    """Run every check, in the order users read them."""

    def track_probe() -> str:
        ok, message = track.test_connection()
        if not ok:
            raise CustomerIOProviderError(message)
        return message

    def app_probe() -> str:
        ok, message = app.test_connection()
        if not ok:
            raise CustomerIOProviderError(message)
        return message

    def people_probe() -> str:
        first = list(islice(app.search_people(limit=1), 1))
        return "people search works" + (
            f" (e.g. cio_id {first[0].get('cio_id')})" if first else " (workspace is empty)"
        )

    def campaigns_probe() -> str:
        return f"{len(app.list_campaigns())} campaigns"

    def segments_probe() -> str:
        segments = app.list_segments()
        building = sum(1 for s in segments if s.get("state") not in (None, "finished"))
        return f"{len(segments)} segments ({building} still building)"

    def brevo_probe() -> str:
        ok, message = brevo.test_connection()
        if not ok:
            raise CustomerIOProviderError(message)
        return message

    return [
        _run("Track API", track_probe),
        _run("App API", app_probe),
        _run("people accessible", people_probe),
        _run("campaigns readable", campaigns_probe),
        _run("segments listable", segments_probe),
        _run("Brevo reachable", brevo_probe),
    ]
