"""The chaos tier's record-by-record check itself: each kind of damage a faulted run could leave is caught."""

from __future__ import annotations

import re

import pytest

from tests.chaos.conftest import assert_landed_or_ledgered

READ = {"c1": "a@x.io", "c2": "b@x.io", "c3": "c@x.io"}
EXPECTED = {"a@x.io": {"PLAN": "pro"}, "b@x.io": {"PLAN": "free"}}  # c3 is rejected by the fault-free run
REF_LEDGER = {("c3", "invalid_email")}


def test_a_faithful_run_passes() -> None:
    assert_landed_or_ledgered(READ, dict(EXPECTED), EXPECTED, set(REF_LEDGER), REF_LEDGER)
    # a record ledgered for a fault instead of landing is fine; a value reject still has to land
    landed = {"a@x.io": {"PLAN": "pro"}}
    assert_landed_or_ledgered(READ, landed, EXPECTED, REF_LEDGER | {("c2", "vendor_rejected")}, REF_LEDGER)


@pytest.mark.parametrize(
    ("landed", "ledger", "caught"),
    [
        ({"a@x.io": {"PLAN": "pro"}}, REF_LEDGER, "neither landed nor ledgered: ['c2']"),
        ({"a@x.io": {"PLAN": "pro"}}, REF_LEDGER | {("c2", "invalid_phone")}, "neither landed nor ledgered: ['c2']"),
        ({**EXPECTED, "b@x.io": {}}, REF_LEDGER, "other content than the fault-free run's: [('b@x.io'"),
        ({**EXPECTED, "z@x.io": {"PLAN": "pro"}}, REF_LEDGER, "in the destination but not read: ['z@x.io']"),
        (dict(EXPECTED), {("c3", "missing_identifier")}, "fault-free ledger rows missing: [('c3', 'invalid_email')]"),
    ],
    ids=["lost", "only-a-value-reject", "half-written", "extra", "wrong-reason"],
)
def test_each_damage_is_caught(landed: dict, ledger: set, caught: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(caught)):
        assert_landed_or_ledgered(READ, landed, EXPECTED, ledger, REF_LEDGER)
