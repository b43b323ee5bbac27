"""The reverse sync's records: Brevo contacts from the API, Brevo's time forms and their error messages."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.store.ledger import Ledger
from airflow_provider_customerio.store.state import StateStore
from airflow_provider_customerio.sync.reverse.ports import (
    BrevoContact,
    ReverseSyncError,
)
from airflow_provider_customerio.sync.reverse.run import ReverseSync
from tests.unit.sync.reverse.fakes import (
    MS0,
    FakeBrevo,
    FakeCIO,
    make_config,
)


def test_from_api_and_bad_input_messages() -> None:
    c = BrevoContact.from_api(
        {
            "id": 3,
            "email": "A@x.io",
            "modifiedAt": "2026-03-01T10:00:00.000Z",
            "attributes": {"ext_id": "u3"},
            "emailBlacklisted": True,
        }
    )
    assert (c.id, c.ext_id, c.email_blacklisted, c.modified_at) == (3, "u3", True, MS0)
    with pytest.raises(ReverseSyncError, match="without `id`"):
        BrevoContact.from_api({"email": "a@x.io"})
    with pytest.raises(ReverseSyncError, match="conflict_policy `maybe` is unknown.*customerio_wins"):
        ReverseSync(
            config=make_config(),
            source=FakeBrevo([]),
            writer=FakeCIO(),
            state=StateStore(":memory:"),
            ledger=Ledger(":memory:"),
            run_key="k",
            conflict_policy="maybe",
        )
