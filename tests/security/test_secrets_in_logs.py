"""Secrets never reach the logs, and plain HTTP to a non-loopback host is refused.

With ``log_api_calls`` on (connection extra) every capability's operator runs against the sandbox with the
sandbox's credentials. Everything it logs is captured (Python logging records, raw message and arguments, and the
process's stdout/stderr at file-descriptor level, which is where Airflow's structlog writes) and searched for the
Track key, the App key, the Brevo key, the Basic-auth and Bearer header values, and the webhook signing key.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_customerio.exceptions import InsecureBaseUrlError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.hooks.customerio_app import CustomerIOAppHook
from airflow_provider_customerio.hooks.customerio_track import CustomerIOTrackHook
from airflow_provider_customerio.operators.campaigns import CustomerIOCampaignReportOperator
from airflow_provider_customerio.operators.connection_check import CustomerIOConnectionCheckOperator
from tests.integration import test_campaign_metrics_sandbox as metrics_it
from tests.integration import test_events_forwarding as events_it
from tests.integration import test_objects_sandbox as objects_it
from tests.integration import test_segments_sandbox as segments_it
from tests.integration import test_workflow_state_sandbox as workflow_it
from tests.integration.conftest import sandbox, sandbox_server  # noqa: F401 (fixtures)
from tests.integration.test_events_receiver import KEY as WEBHOOK_KEY
from tests.integration.test_reverse_helpers import Harness, utcnow, window_since

pytestmark = pytest.mark.integration
brevo_get_events = events_it.brevo_get_events  # fixture


def _log_api_calls(sb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn ``log_api_calls`` on in every sandbox connection (keeping the extras a test world set)."""
    import os

    for key in sb.info["airflow_conn_env"]:
        conn = json.loads(os.environ.get(key) or sb.info["airflow_conn_env"][key])
        extra = conn.get("extra") or {}
        extra = json.loads(extra) if isinstance(extra, str) else dict(extra)
        extra["log_api_calls"] = True
        conn["extra"] = extra
        monkeypatch.setenv(key, json.dumps(conn))


def _secrets(sb: Any) -> dict[str, str]:
    info = sb.info
    basic = base64.b64encode(f"{info['site_id']}:{info['track_api_key']}".encode()).decode()
    return {
        "track key": info["track_api_key"],
        "app key": info["app_api_key"],
        "brevo key": info["brevo_api_key"],
        "basic header": basic,
        "bearer header": f"Bearer {info['app_api_key']}",
        "webhook key": WEBHOOK_KEY,
    }


class Captured:
    def __init__(self, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
        self.caplog, self.capfd = caplog, capfd
        self.text: list[str] = []

    def collect(self) -> str:
        out, err = self.capfd.readouterr()
        self.text += [out, err]
        for rec in self.caplog.records:
            self.text.append(rec.getMessage())
            self.text.append(repr(rec.args))
            self.text.append(str(rec.msg))
            if rec.exc_info:
                self.text.append(logging.Formatter().formatException(rec.exc_info))
        self.caplog.clear()
        return "\n".join(self.text)


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Captured:
    caplog.set_level(logging.DEBUG)
    return Captured(caplog, capfd)


def test_every_capability_logs_its_api_calls_without_any_secret(
    sandbox,
    captured,
    monkeypatch,
    airflow_conn,
    brevo_get_events,
    tmp_path,
):
    ran: list[str] = []

    def step(name: str, fn: Any) -> None:
        try:
            fn()
        finally:
            ran.append(name)

    # people both ways (shared state, as in production)
    sandbox.reset()
    (tmp_path / "people").mkdir()
    h = Harness(sandbox, tmp_path / "people", monkeypatch)
    _log_api_calls(sandbox, monkeypatch)
    sandbox.seed(people=60, seed=2)
    sandbox.settings(export_polls=1)
    sandbox._call("POST", "/brevo/processes/settings", json={"polls_to_complete": 1})
    start = utcnow() - timedelta(days=2)
    step("people cio->brevo", lambda: h.forward(*window_since(start)))
    h.seed_brevo(20, seed=1)
    step("people brevo->cio", lambda: h.reverse(*window_since(start)))
    step("connection check", lambda: CustomerIOConnectionCheckOperator(task_id="check").execute(context={}))

    # segments
    sandbox.reset()
    (tmp_path / "seg").mkdir()
    sw = segments_it.World(sandbox, tmp_path / "seg", monkeypatch)
    sw.seed(people=80, segments=[30])
    _log_api_calls(sandbox, monkeypatch)
    step("segments", lambda: sw.run(segments_it.SEGMENT_BIG, 13))

    # events: the webhook outbox to Brevo, and Track events
    sandbox.reset()
    (tmp_path / "ev").mkdir()
    ew = events_it.World(sandbox, tmp_path / "ev", monkeypatch, airflow_conn)
    _log_api_calls(sandbox, monkeypatch)
    ew.add_webhooks(30, seed=1)
    step("events", lambda: ew.forward())

    # objects both ways
    sandbox.reset()
    (tmp_path / "obj").mkdir()
    ow = objects_it.World(sandbox, tmp_path / "obj", monkeypatch)
    objects_it.seeded(ow, people=8, objects=2)
    _log_api_calls(sandbox, monkeypatch)
    step("objects", lambda: ow.run())

    # campaign metrics, report and workflow state
    sandbox.reset()
    (tmp_path / "cm").mkdir()
    mw = metrics_it.World(sandbox, tmp_path / "cm", monkeypatch, airflow_conn)
    _log_api_calls(sandbox, monkeypatch)
    step("campaign metrics", lambda: mw.load(mw.today - timedelta(days=1)))
    step(
        "campaign report",
        lambda: CustomerIOCampaignReportOperator(
            task_id="report", report_days=3, report_dir=str(tmp_path / "cm" / "rep")
        ).execute(context={}),
    )
    sandbox.reset()
    (tmp_path / "wf").mkdir()
    ww = workflow_it.World(sandbox, tmp_path / "wf", monkeypatch)
    _log_api_calls(sandbox, monkeypatch)
    step("workflow state", lambda: ww.run())

    # the capture sees what the provider's loggers and Airflow's task loggers emit (checked with a canary)
    logging.getLogger("airflow_provider_customerio.sync.people.sync").warning("canary-%s", "c4n4ry")
    text = captured.collect()
    assert "canary-c4n4ry" in text
    assert len(ran) == 9
    # the API-call log is really on: each vendor's calls are logged, with their method and redacted URL
    api_lines = [line for line in text.splitlines() if "API " in line and "127.0.0.1" in line]
    for part in ("/track/", "/app/", "/brevo/v3/"):
        assert any(part in line for line in api_lines), f"no API-call log line for {part}"
    leaks = {name: text.count(secret) for name, secret in _secrets(sandbox).items() if secret in text}
    assert leaks == {}, f"secrets found in the logs: {leaks}"


def test_a_failing_call_logs_no_secret_either(sandbox, captured, monkeypatch):
    """Errors carry URLs, bodies and headers: a 401 and a 5xx with logging on must still leak nothing."""
    sandbox.set_airflow_env(monkeypatch)
    _log_api_calls(sandbox, monkeypatch)
    sandbox.faults(vendor="all", kind="500", count=20)
    calls = [
        (CustomerIOTrackHook(), lambda h: h.identify("p1", {"plan": "pro"})),
        (CustomerIOAppHook(), lambda h: h.list_campaigns()),
        (BrevoHook(), lambda h: h.get_account()),
    ]
    for hook, call in calls:
        hook.retry_policy.backoff_base = hook.retry_policy.backoff_cap = 0.01
        with pytest.raises(Exception) as info:
            call(hook)
        captured.text.append(repr(info.value) + str(info.value) + repr(vars(info.value)))
    text = captured.collect()
    assert "500" in text
    leaks = [name for name, secret in _secrets(sandbox).items() if secret in text and name != "webhook key"]
    assert leaks == []


REFUSED = [
    "http://example.com",
    "http://10.0.0.1:8080/prefix",
    "http://127.0.0.1.nip.io",
    "http://localhost.evil.com",
    "http://[::ffff:8.8.8.8]",
    "http://0x7f.1",
    "http://169.254.169.254",
    "HTTP://api.brevo.com",
]
ALLOWED = [
    "http://127.0.0.1:9",
    "http://localhost:9/track",
    "http://[::1]:9",
    "http://127.8.9.10",
    "https://example.com",
]
HOOKS = [
    (CustomerIOTrackHook, "customerio_track_default", "customerio_track"),
    (CustomerIOAppHook, "customerio_app_default", "customerio_app"),
    (BrevoHook, "brevo_default", "brevo"),
]


@pytest.mark.parametrize("hook_cls,conn_id,conn_type", HOOKS)
@pytest.mark.parametrize("host", REFUSED)
def test_plain_http_to_a_non_loopback_host_is_refused(hook_cls, conn_id, conn_type, host, airflow_conn):
    airflow_conn(conn_id, conn_type=conn_type, login="site", password="secret-key-123", host=host)
    hook = hook_cls()
    with pytest.raises(InsecureBaseUrlError, match="plain HTTP"):
        _ = hook.base_url


@pytest.mark.parametrize("hook_cls,conn_id,conn_type", HOOKS)
def test_plain_http_given_as_schema_is_refused_too(hook_cls, conn_id, conn_type, airflow_conn):
    airflow_conn(
        conn_id, conn_type=conn_type, login="site", password="secret-key-123", host="example.com", schema="http"
    )
    with pytest.raises(InsecureBaseUrlError):
        _ = hook_cls().base_url


@pytest.mark.parametrize("hook_cls,conn_id,conn_type", HOOKS)
@pytest.mark.parametrize("host", ALLOWED)
def test_loopback_http_and_https_are_accepted(hook_cls, conn_id, conn_type, host, airflow_conn):
    airflow_conn(conn_id, conn_type=conn_type, login="site", password="secret-key-123", host=host)
    assert hook_cls().base_url.lower().startswith(host.split("/")[0].lower())


@pytest.mark.parametrize("hook_cls,conn_id,conn_type", HOOKS)
def test_refused_before_any_request_is_sent(hook_cls, conn_id, conn_type, airflow_conn, requests_mock):
    airflow_conn(conn_id, conn_type=conn_type, login="site", password="secret-key-123", host="http://example.com")
    ok, message = hook_cls().test_connection()  # Airflow's contract: (ok, message), no exception
    assert ok is False and "plain HTTP" in message and "secret-key-123" not in message
    assert requests_mock.call_count == 0
