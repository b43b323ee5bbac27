"""What the sandbox's routes share (``sandbox/context.py``): a reset returns to the start state; the request log."""

from __future__ import annotations

from airflow_provider_customerio.sandbox.context import BREVO_API_KEY, RequestLog, SandboxContext


def test_the_request_log_numbers_entries_and_filters_them():
    log = RequestLog(maxlen=2)
    for path in ("/a", "/brevo/v3/contacts", "/b"):
        log.add({"vendor": "brevo" if "brevo" in path else "app", "path": path})
    assert [e["seq"] for e in log.entries()] == [2, 3]  # bounded: the oldest went
    assert [e["path"] for e in log.entries(vendor="brevo")] == ["/brevo/v3/contacts"]
    assert [e["seq"] for e in log.entries(path_contains="contacts")] == [2]
    log.clear()
    assert log.entries() == []


def test_a_reset_clears_the_log_and_the_read_lag():
    ctx = SandboxContext()
    assert ctx.brevo_api_key == BREVO_API_KEY
    ctx.log.add({"vendor": "app", "path": "/x"})
    ctx.set_lag({"cio_people": 5})
    assert ctx.lag()["cio_people"] == 5
    ctx.reset()
    assert ctx.log.entries() == [] and ctx.lag()["cio_people"] == 0


def test_the_request_counts_miss_nothing_the_bounded_log_dropped():
    log = RequestLog(maxlen=2)
    for vendor, status in (("brevo", 429), ("brevo", 202), ("app", 429), ("app", 200)):
        log.add({"vendor": vendor, "path": "/x", "status": status})
    assert len(log.entries()) == 2  # the log kept the newest two
    counts = log.counts()
    assert counts["total"] == 4
    assert counts["by_status"] == {"200": 1, "202": 1, "429": 2}
    assert counts["by_vendor"] == {"app": {"200": 1, "429": 1}, "brevo": {"202": 1, "429": 1}}
    log.clear()
    assert log.counts() == {"total": 0, "by_status": {}, "by_vendor": {}}
