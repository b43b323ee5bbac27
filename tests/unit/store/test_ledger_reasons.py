"""Every reason code the package writes to a ledger is documented in ``store.ledger.REASONS``."""

from __future__ import annotations

import re
from pathlib import Path

import airflow_provider_customerio
from airflow_provider_customerio.store.ledger import REASONS

PACKAGE = Path(airflow_provider_customerio.__file__).parent
LITERAL = re.compile(r"""reason\s*=\s*["']([a-z_]+)["']""")


def test_every_reason_literal_is_documented():
    used = {}
    for path in PACKAGE.rglob("*.py"):
        if "sandbox" in path.parts:
            continue  # the emulator's own error reasons are vendor strings, not ledger codes
        for code in LITERAL.findall(path.read_text()):
            used.setdefault(code, path.name)
    assert used, "the scan found reason codes"
    undocumented = {code: where for code, where in used.items() if code not in REASONS}
    assert not undocumented, f"add these to store.ledger.REASONS: {undocumented}"
