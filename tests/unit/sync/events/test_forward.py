"""The outbox protocol of the forwarder with fake ports: batches, 207 errors, crashes, grace, bisection."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.store.ledger import Ledger, read_ledger
from airflow_provider_customerio.sync.events.forward import EventForwarder
from airflow_provider_customerio.sync.events.mapping import (
    EventMapper,
)
from airflow_provider_customerio.sync.events.ports import (
    DeliveryNotAttempted,
    DeliveryUncertain,
)
from tests.unit.sync.events.fakes import FakeBrevo, forwarder, killed_mid_send, webhook_rows


def test_forward_sends_in_full_batches_and_marks_sent(outbox, tmp_path):
    outbox.add(webhook_rows(450))
    brevo = FakeBrevo()
    fw, _ = forwarder(outbox, brevo, tmp_path)
    stats = fw.forward()
    assert stats.forwarded == 450 and stats.batches == 3 == brevo.calls
    assert sorted(brevo.ids()) == [f"W{i:05d}" for i in range(450)]
    assert outbox.counts()["sent"] == 450
    assert fw.forward().forwarded == 0 and brevo.calls == 3  # a re-run sends nothing


def test_per_event_errors_go_to_the_ledger(outbox, tmp_path):
    outbox.add(webhook_rows(4) + webhook_rows(2, "clicked", start=10) + webhook_rows(1, "bounced", start=20))
    brevo = FakeBrevo()
    brevo.reject_names = {"EMAIL_CLICKED"}
    fw, ledger = forwarder(outbox, brevo, tmp_path)
    stats = fw.forward()
    ledger.close()
    assert stats.forwarded == 4 and stats.rejected == 2 and stats.skipped == 1
    lines = read_ledger(ledger)
    assert sorted((l["record_id"], l["reason"]) for l in lines) == [
        ("W00010", "vendor_rejected"),
        ("W00011", "vendor_rejected"),
        ("W00020", "unmapped_event"),
    ]
    assert outbox.counts() == {"pending": 0, "in_flight": 0, "sent": 4, "rejected": 2, "skipped": 1}


def test_crash_between_send_and_mark_does_not_duplicate(outbox, tmp_path):
    outbox.add(webhook_rows(250))

    brevo = FakeBrevo()
    brevo.store_then_fail = DeliveryUncertain("read timeout")  # Brevo stored batch 1, the answer was lost
    fw, _ = forwarder(outbox, brevo, tmp_path)
    with pytest.raises(DeliveryUncertain):
        fw.forward()
    assert outbox.counts()["in_flight"] == 200 and len(brevo.held) == 200
    fw2, _ = forwarder(outbox, brevo, tmp_path)
    stats = fw2.forward()
    assert stats.reconciled_sent == 200 and stats.reconciled_resent == 0 and stats.forwarded == 50
    assert sorted(brevo.ids()) == [f"W{i:05d}" for i in range(250)]  # each once
    assert outbox.counts()["sent"] == 250


def test_uncertain_send_that_did_not_land_is_resent_once(outbox, tmp_path):
    outbox.add(webhook_rows(3))
    brevo = FakeBrevo()
    brevo.fail_next = DeliveryUncertain("502")
    fw, _ = forwarder(outbox, brevo, tmp_path)
    with pytest.raises(DeliveryUncertain):
        fw.forward()
    stats = forwarder(outbox, brevo, tmp_path)[0].forward()
    assert stats.reconciled_resent == 3 and stats.forwarded == 3
    assert sorted(brevo.ids()) == ["W00000", "W00001", "W00002"]


def test_in_flight_rows_inside_the_grace_period_wait(outbox, tmp_path):
    outbox.add(webhook_rows(2))
    outbox.mark_in_flight(
        {"W00000": {"event_name": "EMAIL_OPENED", "event_properties": {"cio_event_id": "W00000"}}}, "b1"
    )
    brevo = FakeBrevo()
    ledger = Ledger(tmp_path / "ledger.db")
    fw = EventForwarder(
        outbox, brevo, ledger, EventMapper({"email_opened": "EMAIL_OPENED"}), reconcile_grace_seconds=3600
    )
    stats = fw.forward()
    assert stats.in_flight_deferred == 1 and stats.forwarded == 1
    assert outbox.get("W00000").status == "in_flight"  # type: ignore[union-attr]


@pytest.mark.parametrize("clock_moves", [True, False])
def test_a_retry_waits_out_the_grace_of_young_in_flight_rows_then_reconciles_them(tmp_path, clock_moves):
    now = [1000.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds if clock_moves else 0

    outbox, brevo = killed_mid_send(tmp_path, now)
    now[0] += 10  # the retry starts 10 s later, inside the 60 s grace
    mapper = EventMapper({"email_opened": "EMAIL_OPENED"})
    retry = EventForwarder(
        outbox,
        brevo,
        Ledger(tmp_path / "retry.db"),
        mapper,
        reconcile_grace_seconds=60,
        in_flight_wait_seconds=120,
        clock=lambda: now[0],
        sleep=sleep,
    )
    stats = retry.forward()
    assert waits == [50.0]
    if clock_moves:  # resolved in this run: in Brevo once, sent in the outbox
        assert (stats.reconciled_sent, stats.reconciled_resent, stats.in_flight_deferred) == (3, 0, 0)
        assert outbox.counts()["sent"] == 3
    else:  # a clock that did not move (a frozen sandbox clock): still inside the grace, left for a later run
        assert (stats.reconciled_sent, stats.in_flight_deferred) == (0, 3) and outbox.counts()["in_flight"] == 3
    assert sorted(brevo.ids()) == ["W00000", "W00001", "W00002"]  # each once
    outbox.dispose()


def test_not_attempted_goes_back_to_pending(outbox, tmp_path):
    outbox.add(webhook_rows(2))
    brevo = FakeBrevo()
    brevo.fail_next = DeliveryNotAttempted("401")
    fw, _ = forwarder(outbox, brevo, tmp_path)
    with pytest.raises(DeliveryNotAttempted):
        fw.forward()
    assert outbox.counts()["pending"] == 2 and outbox.counts()["in_flight"] == 0


def test_whole_batch_rejection_is_bisected_to_the_culprit(outbox, tmp_path):
    outbox.add(webhook_rows(6) + webhook_rows(1, "clicked", start=3 + 100))
    brevo = FakeBrevo()
    brevo.bad_batch_names = {"EMAIL_CLICKED"}
    fw, ledger = forwarder(outbox, brevo, tmp_path)
    stats = fw.forward()
    ledger.close()
    assert stats.forwarded == 6 and stats.rejected == 1
    assert [l["record_id"] for l in read_ledger(ledger)] == ["W00103"]


def test_temporary_207_errors_are_retried_then_ledgered(outbox, tmp_path):
    outbox.add(webhook_rows(1))
    calls = {"n": 0}

    class Flaky(FakeBrevo):
        def send_batch(self, events):
            calls["n"] += 1
            return {0: "Temporary failure: event could not be queued, retry it"}

    fw, ledger = forwarder(outbox, Flaky(), tmp_path, max_attempts=3)
    stats = fw.forward()
    ledger.close()
    assert calls["n"] == 3 and stats.requeued == 2 and stats.rejected == 1
    assert outbox.get("W00000").status == "rejected"  # type: ignore[union-attr]


def test_rejected_rows_have_ledger_lines_before_leaving_the_outbox(outbox, tmp_path):
    """Nothing lost: every row ends sent, or rejected/skipped with a ledger line."""
    outbox.add(webhook_rows(5) + webhook_rows(3, "bounced", start=50))
    fw, ledger = forwarder(outbox, FakeBrevo(), tmp_path)
    fw.forward()
    ledger.close()
    ledgered = {l["record_id"] for l in read_ledger(ledger)}
    counts = outbox.counts()
    assert counts["sent"] + len(ledgered) == 8 and counts["pending"] == counts["in_flight"] == 0
