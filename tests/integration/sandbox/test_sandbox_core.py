"""The sandbox core: CLI contract, reset, request log, fault injection and rate limits, over real HTTP."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_customerio.sandbox.core import decode_cursor, encode_cursor, parse_basic

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
INFO_KEYS = {
    "track_url",
    "app_url",
    "brevo_url",
    "control_url",
    "site_id",
    "track_api_key",
    "app_api_key",
    "brevo_api_key",
    "airflow_conn_env",
}


def _check_info(info: dict[str, Any]) -> None:
    assert INFO_KEYS <= set(info)
    assert info["track_url"].endswith("/track") and info["app_url"].endswith("/app")
    assert info["brevo_url"].endswith("/brevo/v3") and info["control_url"].endswith("/_sandbox")
    assert info["track_url"].startswith("http://127.0.0.1:")
    assert not info["brevo_api_key"].startswith("xkeysib-")
    assert all(info[k].startswith("sandbox-") for k in ("site_id", "track_api_key", "app_api_key", "brevo_api_key"))
    env = {k: json.loads(v) for k, v in info["airflow_conn_env"].items()}
    track = env["AIRFLOW_CONN_CUSTOMERIO_TRACK_DEFAULT"]
    assert track == {
        "conn_type": "customerio_track",
        "host": info["track_url"],
        "login": info["site_id"],
        "password": info["track_api_key"],
        "extra": {"region": "us"},
    }
    assert env["AIRFLOW_CONN_CUSTOMERIO_APP_DEFAULT"]["conn_type"] == "customerio_app"
    assert env["AIRFLOW_CONN_BREVO_DEFAULT"] == {
        "conn_type": "brevo",
        "host": info["brevo_url"],
        "password": info["brevo_api_key"],
    }


def _run_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_customerio.sandbox", "--host", "127.0.0.1", "--port", "0", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_prints_info_serves_seeded_people_and_stops_on_sigterm() -> None:
    proc = _run_cli("--seed-people", "50")
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]  # blocks until the server is ready
        info = json.loads(line)
        _check_info(info)
        resp = requests.post(
            f"{info['app_url']}/v1/customers/attributes",
            params={"id_type": "cio_id"},
            json={"ids": ["a3000001"]},
            headers={"Authorization": f"Bearer {info['app_api_key']}"},
            timeout=30,
        )
        assert resp.status_code == 200
        resp = requests.get(f"{info['brevo_url']}/contacts", headers={"api-key": info["brevo_api_key"]}, timeout=30)
        assert resp.status_code == 200 and "x-sib-ratelimit-limit" in resp.headers
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0
    assert proc.stdout.read() == ""  # type: ignore[union-attr]  # exactly ONE JSON object was written


def test_cli_info_file_and_refuses_non_loopback(tmp_path: Path) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "airflow_provider_customerio.sandbox", "--host", "0.0.0.0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "loopback" in bad.stderr
    info_file = tmp_path / "info.json"
    proc = _run_cli("--info-file", str(info_file), "--no-rate-limits")
    try:
        deadline = time.monotonic() + 60  # readiness wait, not a timing assertion
        while not info_file.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        info = json.loads(info_file.read_text())
        _check_info(info)
        limits = requests.get(f"{info['control_url']}/ratelimits", timeout=30).json()
        assert limits["enabled"] is False
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_fixture_info_and_reset_clears_world_log_and_faults(sandbox: Any) -> None:
    _check_info(sandbox.info)
    requests.put(f"{sandbox.track_url}/api/v1/customers/r1", json={"a": 1}, auth=sandbox.track_auth, timeout=30)
    sandbox.faults(vendor="app", kind="500", count=5)
    assert sandbox.person("r1") is not None and sandbox.requests()
    sandbox.reset()
    assert sandbox.person("r1") is None
    assert sandbox.requests() == []
    assert requests.get(f"{sandbox.control_url}/faults", timeout=30).json()["faults"] == []


def test_request_log_masks_secrets_and_records_calls(sandbox: Any) -> None:
    requests.put(
        f"{sandbox.track_url}/api/v1/customers/m1",
        params={"x": "1"},
        json={"plan": "pro"},
        auth=sandbox.track_auth,
        timeout=30,
    )
    requests.get(f"{sandbox.app_url}/v1/campaigns", headers=sandbox.app_headers, timeout=30)
    requests.get(f"{sandbox.brevo_url}/account", headers=sandbox.brevo_headers, timeout=30)
    log = sandbox.requests()
    assert [(e["vendor"], e["method"], e["status"]) for e in log] == [
        ("track", "PUT", 200),
        ("app", "GET", 200),
        ("brevo", "GET", log[2]["status"]),
    ]
    assert log[0]["path"] == "/track/api/v1/customers/m1" and log[0]["query"] == "x=1"
    assert log[0]["headers"]["authorization"] == "Basic ***"
    assert log[1]["headers"]["authorization"] == "Bearer ***"
    assert log[2]["headers"]["api-key"] == "***"
    assert json.loads(log[0]["body"]) == {"plan": "pro"} and log[0]["duration"] >= 0
    dumped = json.dumps(log)
    for secret in (
        sandbox.info["track_api_key"],
        sandbox.info["app_api_key"],
        sandbox.info["brevo_api_key"],
        base64.b64encode(f"{sandbox.info['site_id']}:{sandbox.info['track_api_key']}".encode()).decode(),
    ):
        assert secret not in dumped
    assert len(sandbox.requests(vendor="app")) == 1
    assert len(sandbox.requests(path_contains="/customers/")) == 1


# ---------------------------------------------------------------------------------------------- faults


def test_fault_429_by_count_with_retry_after_then_recovers(sandbox: Any) -> None:
    sandbox.faults(vendor="app", kind="429", count=2)
    statuses = []
    for _ in range(3):
        r = requests.get(f"{sandbox.app_url}/v1/segments", headers=sandbox.app_headers, timeout=30)
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1 and r.json()["errors"][0]["status"] == "429"
    assert statuses == [429, 429, 200]
    assert [e["fault"] for e in sandbox.requests(vendor="app")] == ["429", "429", None]


def test_fault_5xx_bodies_per_vendor_and_path_filter(sandbox: Any) -> None:
    sandbox.faults(vendor="track", kind="503", count=1, path_contains="/api/v2/")
    sandbox.faults(vendor="brevo", kind="502", count=1)
    sandbox.faults(vendor="app", kind="500", count=1)
    ok = requests.put(f"{sandbox.track_url}/api/v1/customers/f1", json={}, auth=sandbox.track_auth, timeout=30)
    assert ok.status_code == 200  # path filter: v1 untouched
    r = requests.post(f"{sandbox.track_url}/api/v2/batch", json={"batch": []}, auth=sandbox.track_auth, timeout=30)
    assert r.status_code == 503 and r.json()["meta"]["errors"]
    r = requests.get(f"{sandbox.brevo_url}/account", headers=sandbox.brevo_headers, timeout=30)
    assert r.status_code == 502 and set(r.json()) == {"code", "message"}
    r = requests.get(f"{sandbox.app_url}/v1/campaigns", headers=sandbox.app_headers, timeout=30)
    assert r.status_code == 500 and r.json()["errors"][0]["status"] == "500"


def test_fault_rate_is_deterministic(sandbox: Any) -> None:
    def pattern() -> list[int]:
        sandbox.clear_faults()
        sandbox.faults(vendor="app", kind="503", rate=0.5, seed=3)
        return [
            requests.get(f"{sandbox.app_url}/v1/campaigns", headers=sandbox.app_headers, timeout=30).status_code
            for _ in range(8)
        ]

    sandbox.ratelimits(enabled=False)
    first = pattern()
    assert first == pattern() and {200, 503} == set(first)


def test_fault_drop_closes_the_connection_without_response(sandbox: Any) -> None:
    sandbox.faults(vendor="all", kind="drop", count=2)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{sandbox.app_url}/v1/campaigns", headers=sandbox.app_headers, timeout=30)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{sandbox.brevo_url}/account", headers=sandbox.brevo_headers, timeout=30)
    r = requests.get(f"{sandbox.app_url}/v1/campaigns", headers=sandbox.app_headers, timeout=30)
    assert r.status_code == 200
    assert [e["status"] for e in sandbox.requests()][:2] == [0, 0]


def test_fault_timeout_and_slow(sandbox: Any) -> None:
    sandbox.faults(vendor="app", kind="timeout", count=1, delay_s=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{sandbox.app_url}/v1/campaigns", headers=sandbox.app_headers, timeout=0.5)
    sandbox.faults(vendor="track", kind="slow", count=1, delay_s=0.01)
    r = requests.put(f"{sandbox.track_url}/api/v1/customers/slow", json={}, auth=sandbox.track_auth, timeout=30)
    assert r.status_code == 200 and sandbox.person("slow") is not None
    assert sandbox.requests(vendor="track")[0]["fault"] == "slow"


def test_fault_partial_207_rejects_even_ops_and_applies_the_rest(sandbox: Any) -> None:
    sandbox.faults(vendor="track", kind="partial_207", count=1)
    ops = [
        {"type": "person", "identifiers": {"id": f"p{i}"}, "action": "identify", "attributes": {"n": i}}
        for i in range(4)
    ]
    entity = requests.post(f"{sandbox.track_url}/api/v2/entity", json=ops[0], auth=sandbox.track_auth, timeout=30)
    assert entity.status_code == 200  # partial_207 only applies to /api/v2/batch
    r = requests.post(f"{sandbox.track_url}/api/v2/batch", json={"batch": ops}, auth=sandbox.track_auth, timeout=30)
    assert r.status_code == 207 and [e["batch_index"] for e in r.json()["errors"]] == [0, 2]
    assert sandbox.person("p1") is not None and sandbox.person("p3") is not None and sandbox.person("p2") is None


def test_fault_spec_errors_name_the_field(sandbox: Any) -> None:
    for spec, word in (
        ({"vendor": "app", "kind": "418", "count": 1}, "kind"),
        ({"vendor": "x", "kind": "429", "count": 1}, "vendor"),
        ({"vendor": "app", "kind": "429"}, "rate"),
        ({"vendor": "app", "kind": "429", "rate": 2}, "rate"),
    ):
        r = requests.post(f"{sandbox.control_url}/faults", json=spec, timeout=30)
        assert r.status_code == 400 and word in r.json()["error"]
    r = requests.post(f"{sandbox.control_url}/seed", json={"people": -1}, timeout=30)
    assert r.status_code == 400 and r.json()["error"].startswith("people")


# ----------------------------------------------------------------------------------------- rate limits


def test_rate_limits_are_on_by_default_at_documented_values(sandbox: Any) -> None:
    limits = requests.get(f"{sandbox.control_url}/ratelimits", timeout=30).json()
    assert limits["enabled"] is True and limits["app"] == 10 and limits["track"] == 1000
    assert limits["brevo_contacts"] == 10 and limits["brevo_other_per_hour"] == 100


def test_app_and_track_rate_limits_answer_429_with_retry_after(sandbox: Any) -> None:
    sandbox.ratelimits(app=0.001, track=0.001)  # one request, then empty for ~1000 s: deterministic
    get = lambda: requests.get(f"{sandbox.app_url}/v1/campaigns", headers=sandbox.app_headers, timeout=30)
    assert get().status_code == 200
    r = get()
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    put = lambda: requests.put(
        f"{sandbox.track_url}/api/v1/customers/x",
        json={},
        auth=sandbox.track_auth,
        timeout=30,
    )
    assert put().status_code == 200
    r = put()
    assert r.status_code == 429 and "Retry-After" in r.headers and r.json()["meta"]["errors"]
    sandbox.ratelimits(enabled=False)
    assert get().status_code == 200


def test_the_request_counts_show_every_429_the_limiter_answered(sandbox: Any) -> None:
    requests.delete(f"{sandbox.control_url}/requests", timeout=30)
    sandbox.ratelimits(app=0.001)
    get = lambda: requests.get(f"{sandbox.app_url}/v1/campaigns", headers=sandbox.app_headers, timeout=30)
    assert [get().status_code for _ in range(3)] == [200, 429, 429]
    counts = requests.get(f"{sandbox.control_url}/requests/counts", timeout=30).json()
    assert counts["by_vendor"]["app"] == {"200": 1, "429": 2}
    assert counts["by_status"]["429"] == 2 and counts["total"] == 3
    sandbox.ratelimits(enabled=False)


def test_brevo_rate_limit_families_and_headers(sandbox: Any) -> None:
    sandbox.ratelimits(brevo_other_per_hour=2)
    codes = [requests.get(f"{sandbox.brevo_url}/account", headers=sandbox.brevo_headers, timeout=30) for _ in range(3)]
    assert [c.headers["x-sib-ratelimit-remaining"] for c in codes[:2]] == ["1", "0"]
    assert codes[2].status_code == 429 and codes[2].headers["x-sib-ratelimit-limit"] == "2"
    assert 0 < int(codes[2].headers["x-sib-ratelimit-reset"]) <= 3600
    assert set(codes[2].json()) >= {"message"}
    contacts = requests.get(f"{sandbox.brevo_url}/contacts", headers=sandbox.brevo_headers, timeout=30)
    assert contacts.status_code == 200 and contacts.headers["x-sib-ratelimit-limit"] == "10"  # own family
    bad = requests.put(f"{sandbox.control_url}/ratelimits", json={"app": -1}, timeout=30)
    assert bad.status_code == 400 and "app" in bad.json()["error"]


def test_the_sandbox_acts_as_a_brevo_plan(sandbox: Any) -> None:
    """``PUT /_sandbox/ratelimits {"plan": ...}``: every Brevo limit to the plan's
    (developers.brevo.com/docs/api-limits), Customer.io's untouched; a bad plan is a 400 naming the field and the
    allowed values."""
    assert requests.get(f"{sandbox.control_url}/ratelimits", timeout=30).json()["plan"] == "general"
    put = requests.put(f"{sandbox.control_url}/ratelimits", json={"plan": "advanced"}, timeout=30)
    assert put.status_code == 200 and put.json()["plan"] == "advanced" and put.json()["app"] == 10
    contacts = requests.get(f"{sandbox.brevo_url}/contacts", headers=sandbox.brevo_headers, timeout=30)
    assert contacts.status_code == 200 and contacts.headers["x-sib-ratelimit-limit"] == "20"
    account = requests.get(f"{sandbox.brevo_url}/account", headers=sandbox.brevo_headers, timeout=30)
    assert account.headers["x-sib-ratelimit-limit"] == "200"
    assert account.headers["x-sib-ratelimit-remaining"] == "199"
    bad = requests.put(f"{sandbox.control_url}/ratelimits", json={"plan": "gold"}, timeout=30)
    assert bad.status_code == 400 and "plan" in bad.json()["error"] and "extended" in bad.json()["error"]
    assert requests.get(f"{sandbox.control_url}/ratelimits", timeout=30).json()["plan"] == "advanced"


# ----------------------------------------------------------------------------------------- helpers


def test_basic_auth_accepts_both_base64_alphabets() -> None:
    raw = b"site>?:key~~>"  # encodes with '+' / '/' in the standard alphabet
    std = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode()
    assert std != url
    assert parse_basic(f"Basic {std}") == parse_basic(f"Basic {url}") == ("site>?", "key~~>")
    assert parse_basic("Bearer x") is None and parse_basic(None) is None


def test_cursor_round_trip_and_bad_tokens() -> None:
    assert decode_cursor(encode_cursor(12345)) == 12345 and decode_cursor("") == 0
    with pytest.raises(ValueError, match="next"):
        decode_cursor("garbage!")


def test_unknown_vendor_paths_use_vendor_404_bodies(sandbox: Any) -> None:
    r = requests.get(f"{sandbox.brevo_url}/nope", headers=sandbox.brevo_headers, timeout=30)
    assert r.status_code == 404 and r.json().get("code") == "document_not_found"
    r = requests.get(f"{sandbox.track_url}/nope", auth=sandbox.track_auth, timeout=30)
    assert r.status_code == 404 and "meta" in r.json()
    assert os.environ.get("AIRFLOW_CONN_CUSTOMERIO_APP_DEFAULT") is None  # the fixture leaks no env


def test_cli_processing_flags_set_the_start_state_that_every_reset_returns_to() -> None:
    import argparse

    from airflow_provider_customerio.sandbox.__main__ import add_processing_arguments, processing_settings
    from airflow_provider_customerio.sandbox.context import SandboxContext

    parser = argparse.ArgumentParser()
    add_processing_arguments(parser)
    args = parser.parse_args(
        ["--import-rate", "500", "--import-queue-s", "3", "--parallel-imports", "--export-rate", "0"]
    )
    processing = processing_settings(parser, args)
    assert processing == {"rate_per_s": 500.0, "queue_s": 3.0, "serial": False, "export_rate_per_s": None}
    ctx = SandboxContext(processing=processing)
    ctx.reset()
    ctx.brevo.set_process_settings({"rate_per_s": 1})  # a test changes it through the control plane ...
    ctx.reset()  # ... and a reset goes back to the flags, not to the built-in defaults
    assert ctx.brevo.process_settings == {
        "polls_to_complete": 2,
        "running_status": "processing",
        "rate_per_s": 500.0,
        "queue_s": 3.0,
        "serial": False,
    }
    assert ctx.cio.settings["export_rate_per_s"] is None and ctx.cio.settings["export_queue_s"] == 0.2
    with pytest.raises(SystemExit):
        processing_settings(parser, parser.parse_args(["--import-queue-s", "-1"]))
