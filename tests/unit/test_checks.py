"""The connection-check report (no network): one line per check, and a hint on each failure."""

from __future__ import annotations

from airflow_provider_customerio.checks import run_checks
from airflow_provider_customerio.exceptions import AuthError


class _Hook:
    def __init__(self, ok=True, fail_with=None):
        self.ok = ok
        self.fail_with = fail_with

    def test_connection(self):
        return (self.ok, "fine" if self.ok else "401 nope")

    def search_people(self, limit):
        if self.fail_with:
            raise self.fail_with
        yield {"cio_id": "c1"}

    def list_campaigns(self):
        return [{"id": 1}, {"id": 2}]

    def list_segments(self):
        return [{"id": 1, "state": "finished"}, {"id": 2, "state": "build"}]


def test_all_checks_pass_with_one_line_each():
    results = run_checks(_Hook(), _Hook(), _Hook())
    assert [r.name for r in results] == [
        "Track API",
        "App API",
        "people accessible",
        "campaigns readable",
        "segments listable",
        "Brevo reachable",
    ]
    assert all(r.ok for r in results)
    assert results[3].detail == "2 campaigns"
    assert results[4].detail == "2 segments (1 still building)"
    assert results[0].line().startswith("✓ Track API")


def test_failures_carry_their_hint():
    app = _Hook(fail_with=AuthError("forbidden", status=403))
    results = run_checks(_Hook(ok=False), app, _Hook())
    track, _, people = results[0], results[1], results[2]
    assert not track.ok and "App API key does not work on the Track API" in track.hint
    assert not people.ok and "HTTP 403" in people.detail and "scope" in people.hint
    assert "✗ people accessible" in people.line() and "hint:" in people.line()
