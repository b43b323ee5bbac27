"""Pure workflow-state logic: folding messages and webhook events, change detection, the resumable writer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_customerio.store.ledger import Ledger, read_ledger
from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.workflow import (
    DEFAULT_ATTRIBUTES,
    STAGED_KIND,
    WORKFLOW_DIRECTION,
    StateBuilder,
    WorkflowStateError,
    WorkflowStateWriter,
    attribute_names,
    compare_token,
    derive_changes,
    import_problem_count,
    missing_attributes,
)

NAMES = {"1": "Onboarding", "2": "Digest"}


def msg(
    mid: str,
    person: str,
    created: int,
    metrics: dict[str, int],
    campaign: int = 1,
    action: int = 11,
    email: str | None = "default",
) -> dict[str, Any]:
    em = f"{person}@example.com" if email == "default" else email
    return {
        "id": mid,
        "customer_id": person,
        "customer_identifiers": {"id": person, "email": em, "cio_id": f"cio_{person}"},
        "created": created,
        "metrics": {"created": created, **metrics},
        "campaign_id": campaign,
        "action_id": action,
        "newsletter_id": None,
        "broadcast_id": None,
        "type": "email",
    }


def event(eid: str, delivery: str, person: str, metric: str, ts: int, campaign: int = 1) -> dict[str, Any]:
    return {
        "event_id": eid,
        "object_type": "email",
        "metric": metric,
        "timestamp": ts,
        "data": {
            "delivery_id": delivery,
            "campaign_id": campaign,
            "action_id": 12,
            "identifiers": {"id": person, "email": f"{person}@example.com", "cio_id": f"cio_{person}"},
        },
    }


def states(messages: list[dict[str, Any]], events: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    b = StateBuilder()
    for m in messages:
        b.add_message(m)
    for e in events:
        b.add_event(e)
    return {s.person_key: s for s in b.states()}


def test_the_last_message_wins_and_its_latest_metric_is_the_state() -> None:
    got = states(
        [
            msg("m2", "ann", 2000, {"sent": 2005, "delivered": 2030}, campaign=2, action=21),
            msg("m1", "ann", 1000, {"sent": 1005, "delivered": 1030, "opened": 5000, "clicked": 6000}),
            msg("m3", "bob", 1500, {"bounced": 1540}),
        ]
    )
    ann = got["cio_ann"]
    assert (ann.delivery_id, ann.parent_id, ann.action_id, ann.status, ann.at) == ("m2", "2", "21", "delivered", 2030)
    assert ann.values(NAMES) == {
        "campaign": "Digest",
        "campaign_id": "2",
        "action": "21",
        "status": "delivered",
        "at": "1970-01-01T00:33:50Z",
    }
    assert got["cio_bob"].status == "bounced"


def test_same_second_metrics_are_ordered_by_progress() -> None:
    got = states([msg("m1", "ann", 1000, {"sent": 1005, "delivered": 1005, "opened": 1005})])
    assert got["cio_ann"].status == "opened"


def test_webhook_events_advance_the_state_of_the_last_message() -> None:
    got = states(
        [msg("m1", "ann", 1000, {"sent": 1005, "delivered": 1030})],
        [event("e1", "m1", "ann", "opened", 9000), event("e2", "m1", "ann", "clicked", 9100)],
    )
    assert (got["cio_ann"].status, got["cio_ann"].at) == ("clicked", 9100)


def test_an_event_for_an_unseen_delivery_can_be_the_last_message() -> None:
    got = states([msg("m1", "ann", 1000, {"sent": 1005})], [event("e1", "m9", "ann", "sent", 5000, campaign=2)])
    assert (got["cio_ann"].delivery_id, got["cio_ann"].parent_id) == ("m9", "2")


def test_customer_events_and_broken_events_are_ignored_and_counted() -> None:
    b = StateBuilder()
    b.add_event(
        {
            "event_id": "c1",
            "object_type": "customer",
            "metric": "subscribed",
            "timestamp": 1,
            "data": {"identifiers": {"id": "x"}},
        }
    )
    b.add_event({"event_id": "c2", "object_type": "email", "metric": "opened", "data": {}})
    assert (b.events_read, b.events_ignored, list(b.states())) == (2, 2, [])


def test_newsletter_messages_name_their_kind() -> None:
    m = msg("m1", "ann", 1000, {"sent": 1005})
    m["campaign_id"], m["newsletter_id"] = None, 5
    s = states([m])["cio_ann"]
    assert s.values(NAMES)["campaign"] == "newsletter 5" and s.values(NAMES)["campaign_id"] == "newsletter:5"


# ------------------------------------------------------------------------------------------- settings
def test_attribute_names_defaults_overrides_and_errors() -> None:
    assert attribute_names() == dict(DEFAULT_ATTRIBUTES)
    names = attribute_names({"status": "JOURNEY_STATUS", "campaign_id": None})
    assert names["status"] == "JOURNEY_STATUS" and "campaign_id" not in names
    with pytest.raises(WorkflowStateError, match="attribute_names.stage: unknown"):
        attribute_names({"stage": "X"})
    with pytest.raises(WorkflowStateError, match="'LAST_STATUS'"):
        attribute_names({"status": "last status"})
    with pytest.raises(WorkflowStateError, match="already used"):
        attribute_names({"status": "CIO_LAST_ACTION"})


def test_missing_attributes_are_listed_with_their_type() -> None:
    assert missing_attributes(
        {"status": "CIO_LAST_MESSAGE_STATUS", "at": "CIO_LAST_MESSAGE_AT"}, ["email", "cio_last_message_status"]
    ) == [("CIO_LAST_MESSAGE_AT", "text")]


# ------------------------------------------------------------------------------------------- changes
def derive(msgs: list[dict[str, Any]], stored: Mapping[str, str] | None = None):  # type: ignore[no-untyped-def]
    b = StateBuilder()
    for m in msgs:
        b.add_message(m)
    return derive_changes(
        b.states(),
        names=attribute_names(),
        campaign_names=NAMES,
        stored_tokens=lambda keys: {k: v for k, v in (stored or {}).items() if k in keys},
    )


def test_only_changed_people_are_written() -> None:
    first = derive([msg("m1", "ann", 1000, {"sent": 1005}), msg("m2", "bob", 1000, {"sent": 1005})])
    assert first.counts()["new"] == 2
    stored = {k: t for k, t, _ in first.changes}
    again = derive(
        [msg("m1", "ann", 1000, {"sent": 1005}), msg("m2", "bob", 1000, {"sent": 1005, "opened": 3000})], stored
    )
    assert (again.unchanged, again.changed, [k for k, _, _ in again.changes]) == (1, 1, ["cio_bob"])
    assert again.changes[0][2] == {
        "email": "bob@example.com",
        "attributes": {
            "CIO_LAST_CAMPAIGN": "Onboarding",
            "CIO_LAST_CAMPAIGN_ID": "1",
            "CIO_LAST_ACTION": "11",
            "CIO_LAST_MESSAGE_STATUS": "opened",
            "CIO_LAST_MESSAGE_AT": "1970-01-01T00:50:00Z",
        },
    }


def test_an_older_window_never_overwrites_a_newer_state() -> None:
    newer = derive([msg("m2", "ann", 5000, {"sent": 5005})])
    stored = {k: t for k, t, _ in newer.changes}
    older = derive([msg("m1", "ann", 1000, {"sent": 1005, "clicked": 9000})], stored)
    assert (older.stale, older.changes) == (1, [])
    assert compare_token("000000001000.000000001005:aa", None) == "new"


def test_people_without_identifier_or_with_a_bad_email_go_to_the_ledger_list() -> None:
    no_id = msg("m1", "x", 1000, {"sent": 1005}, email=None)
    no_id["customer_identifiers"] = {"cio_id": "cio_x"}
    no_id["customer_id"] = ""
    bad = msg("m2", "y", 1000, {"sent": 1005}, email="not-an-email")
    ext_only = msg("m3", "z", 1000, {"sent": 1005}, email=None)
    res = derive([no_id, bad, ext_only])
    assert sorted((r.person_key, r.reason) for r in res.rejected) == [
        ("cio_x", "missing_identifier"),
        ("cio_y", "invalid_email"),
    ]
    assert res.changes[0][2]["attributes"]["EXT_ID"] == "z" and "email" not in res.changes[0][2]


def test_two_people_with_one_email_keep_the_newer_state() -> None:
    a = msg("m1", "ann", 1000, {"sent": 1005}, email="same@example.com")
    b = msg("m2", "bob", 2000, {"sent": 2005}, email="same@example.com")
    res = derive([a, b])
    assert [k for k, _, _ in res.changes] == ["cio_bob"]
    assert [(r.person_key, r.reason) for r in res.rejected] == [("cio_ann", "duplicate_in_batch")]


# --------------------------------------------------------------------------------------------- writer
class FakeBrevo:
    """Import port double: records rows, finishes processes as scripted (the hook itself is tested elsewhere)."""

    def __init__(self, outcomes: list[dict[str, Any]] | None = None) -> None:
        self.outcomes = outcomes or []
        self.submitted: list[list[dict[str, Any]]] = []
        self.waited: list[str] = []

    def submit(self, rows: list[dict[str, Any]]) -> str:
        self.submitted.append(rows)
        return str(len(self.submitted))

    def wait(self, process_id: str) -> dict[str, Any]:
        self.waited.append(process_id)
        i = int(process_id) - 1
        return (
            self.outcomes[i]
            if i < len(self.outcomes)
            else {"status": "completed", "succeeded": True, "info": {"import": {}}}
        )


def stage(state: StateStore, run_key: str, changes: list[tuple[str, str, dict[str, Any]]]) -> None:
    state.stage_items(run_key, [(k, STAGED_KIND, {"token": t, "row": r}) for k, t, r in changes])


def test_writer_packs_imports_and_records_tokens_only_after_completion(tmp_path: Path) -> None:
    res = derive([msg(f"m{i}", f"p{i}", 1000 + i, {"sent": 2000}) for i in range(5)])
    state = StateStore(":memory:")
    stage(state, "run1", res.changes)
    brevo = FakeBrevo()
    with Ledger(tmp_path / "ledger.db") as ledger:
        out = WorkflowStateWriter(state, brevo, run_key="run1", rejects=ledger, max_rows=2).run()
    assert [len(b) for b in brevo.submitted] == [2, 2, 1]
    assert (out.written, out.imports) == (5, 3)
    assert state.get_hashes(WORKFLOW_DIRECTION, [k for k, _, _ in res.changes]) == {k: t for k, t, _ in res.changes}
    assert state.count_staged("run1") == 0


def test_a_failed_import_is_resubmitted_once_then_ledgered(tmp_path: Path) -> None:
    res = derive([msg("m1", "ann", 1000, {"sent": 1005})])
    state = StateStore(":memory:")
    stage(state, "r", res.changes)
    brevo = FakeBrevo([{"status": "failed", "error": "boom"}, {"status": "failed", "error": "boom"}])
    with Ledger(tmp_path / "ledger.db") as ledger:
        out = WorkflowStateWriter(state, brevo, run_key="r", rejects=ledger).run()
    assert (out.imports, out.resubmitted, out.written, out.rejected) == (2, 1, 0, 1)
    assert [line["reason"] for line in read_ledger(tmp_path / "ledger.db")] == ["import_failed"]
    assert state.get_hashes(WORKFLOW_DIRECTION, ["cio_ann"]) == {}  # re-sent by the next run


def test_reported_problem_rows_keep_the_batch_unwritten_and_ledgered(tmp_path: Path) -> None:
    res = derive([msg("m1", "ann", 1000, {"sent": 1005}), msg("m2", "bob", 1000, {"sent": 1005})])
    state = StateStore(":memory:")
    stage(state, "r", res.changes)
    brevo = FakeBrevo(
        [{"status": "completed", "succeeded": True, "info": {"import": {"invalid_emails": 1, "duplicate_ext_id": 0}}}]
    )
    with Ledger(tmp_path / "ledger.db") as ledger:
        out = WorkflowStateWriter(state, brevo, run_key="r", rejects=ledger).run()
    assert (out.written, out.rejected) == (0, 2)
    assert {line["reason"] for line in read_ledger(tmp_path / "ledger.db")} == {"import_unverified"}
    assert import_problem_count({"info": {"import": {"a": "https://report", "b": None, "c": 0}}}) == 1


def test_a_killed_writer_resumes_from_its_pending_import(tmp_path: Path) -> None:
    res = derive([msg(f"m{i}", f"p{i}", 1000 + i, {"sent": 2000}) for i in range(4)])
    db = tmp_path / "state.db"
    state = StateStore(db)
    stage(state, "r", res.changes)

    class Killed(Exception):
        pass

    class DiesWhileWaiting(FakeBrevo):
        def wait(self, process_id: str) -> dict[str, Any]:
            if process_id == "2":
                raise Killed
            return super().wait(process_id)

    first = DiesWhileWaiting()
    with Ledger(tmp_path / "ledger.db") as ledger, pytest.raises(Killed):
        WorkflowStateWriter(state, first, run_key="r", rejects=ledger, max_rows=2).run()
    state.close()
    state = StateStore(db)  # a new task attempt
    second = FakeBrevo([{"status": "completed", "succeeded": True}])
    with Ledger(tmp_path / "ledger.db") as ledger:
        out = WorkflowStateWriter(state, second, run_key="r", rejects=ledger, max_rows=2).run()
    assert second.submitted == [] and second.waited == ["2"]  # the pending import is settled, not re-sent
    assert out.written == 2
    assert len(state.get_hashes(WORKFLOW_DIRECTION, [k for k, _, _ in res.changes])) == 4


def test_an_event_without_cio_id_joins_the_person_known_from_messages() -> None:
    ev = event("e1", "m9", "ann", "delivered", 5000, campaign=2)
    ev["data"]["identifiers"] = {"id": "ann", "email": None}
    got = states([msg("m1", "ann", 1000, {"sent": 1005})], [ev])
    assert list(got) == ["cio_ann"] and got["cio_ann"].delivery_id == "m9"


def test_a_repeated_metric_keeps_the_first_time_it_was_reached() -> None:
    got = states([msg("m1", "ann", 1000, {"sent": 1005, "opened": 2000})], [event("e1", "m1", "ann", "opened", 7000)])
    assert (got["cio_ann"].status, got["cio_ann"].at) == ("opened", 2000)


def test_duplicate_counts_follow_the_kept_state() -> None:
    a = msg("m1", "ann", 1000, {"sent": 1005}, email="same@example.com")
    b = msg("m2", "bob", 2000, {"sent": 2005}, email="same@example.com")
    res = derive([a, b])
    assert res.counts() == {
        "people": 2,
        "new": 1,
        "changed": 0,
        "unchanged": 0,
        "stale": 0,
        "rejected": 1,
        "to_write": 1,
    }
