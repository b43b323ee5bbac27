"""The reverse run's summary: conflict counters survive a checkpoint, and XCom lists at most 50 resolutions."""

from __future__ import annotations

from airflow_provider_customerio.sync.reverse.summary import MAX_CONFLICTS_LISTED, ReverseSummary


def _resolved(n: int) -> ReverseSummary:
    s = ReverseSummary(conflict_policy="newest_wins", echoes=2, batches=1)
    for i in range(n):
        s.conflicts["brevo" if i % 2 else "customerio"] += 1
        s.conflict_log.append({"cio_id": f"c{i}", "field": "plan", "winner": "brevo" if i % 2 else "customerio"})
    return s


def test_conflicts_survive_the_checkpoint() -> None:
    back = ReverseSummary.from_state(_resolved(3).to_state())
    assert isinstance(back, ReverseSummary)
    assert back.conflicts == {"customerio": 2, "brevo": 1} and [e["cio_id"] for e in back.conflict_log] == [
        "c0",
        "c1",
        "c2",
    ]
    assert back.echoes == 2 and back.conflict_policy == "newest_wins"
    back.conflicts["brevo"] += 1  # a resumed run goes on counting
    back.conflicts["deleted"] += 1
    assert back.conflicts == {"customerio": 2, "brevo": 2, "deleted": 1}


def test_xcom_caps_the_conflict_log_and_a_dry_run_plans_the_conflicts() -> None:
    s = _resolved(MAX_CONFLICTS_LISTED + 7)
    out = s.to_xcom()
    assert out["conflicts"] == {"customerio": 29, "brevo": 28} and len(out["conflict_log"]) == MAX_CONFLICTS_LISTED
    assert out["direction"] == "brevo_to_cio" and out["batches"] == 1
    s.dry_run = True
    assert len(s.to_xcom()["plan"]["conflicts"]) == MAX_CONFLICTS_LISTED
