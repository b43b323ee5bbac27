"""The reverse people operator with real Airflow operator objects against a mocked API (requests-mock): its
params are checked before any call, its switch skips it, and a run writes a changed Brevo contact to Customer.io."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_customerio.operators.reverse import BrevoToCustomerIOPeopleOperator
from airflow_provider_customerio.sync.reverse.ports import ReverseSyncError

BREVO = "https://api.brevo.com/v3"
CONFIG = """
connectors:
  customerio:
    reverse: {enabled: %s}
    field_mapping: {email: email, plan: PLAN}
"""


def _op(tmp_path: Path, enabled: str = "true", **kwargs: Any) -> BrevoToCustomerIOPeopleOperator:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG % enabled)
    quiet = {"rate_limit": 0}
    return BrevoToCustomerIOPeopleOperator(
        task_id="reverse",
        config_path=str(config),
        state_path=str(tmp_path / "s.db"),
        brevo_hook_params=quiet,
        customerio_track_hook_params=quiet,
        customerio_app_hook_params=quiet,
        **kwargs,
    )


def _context() -> dict[str, Any]:
    return {"dag_run": SimpleNamespace(dag_id="d", run_id="r1")}


def test_an_unknown_mode_or_policy_fails_before_any_call(tmp_path: Path, requests_mock: Any) -> None:
    with pytest.raises(ReverseSyncError, match="mode `sometimes` is unknown"):
        _op(tmp_path, mode="sometimes").execute(context=_context())  # type: ignore[arg-type]
    with pytest.raises(ReverseSyncError, match="conflict_policy `latest` is unknown"):
        _op(tmp_path, conflict_policy="latest").execute(context=_context())  # type: ignore[arg-type]
    assert requests_mock.request_history == []


def test_the_reverse_switch_skips_the_task(tmp_path: Path) -> None:
    with pytest.raises(AirflowSkipException, match="reverse.enabled is false"):
        _op(tmp_path, enabled="false").execute(context=_context())  # type: ignore[arg-type]


def test_a_full_run_writes_the_contact_and_returns_the_summary(airflow_conn, requests_mock, tmp_path: Path) -> None:
    airflow_conn("brevo_default", conn_type="brevo", password="k")
    airflow_conn("customerio_track_default", conn_type="customerio_track", login="site", password="k")
    airflow_conn("customerio_app_default", conn_type="customerio_app", password="k")
    requests_mock.get(f"{BREVO}/contacts/attributes", json={"attributes": [{"name": "PLAN", "type": "text"}]})
    contact = {"id": 5, "email": "a@x.io", "attributes": {"PLAN": "pro"}, "modifiedAt": "2026-03-01T10:00:00.000Z"}
    requests_mock.get(f"{BREVO}/contacts", json={"contacts": [contact], "count": 1})
    requests_mock.post("https://track.customer.io/api/v2/batch", json={})
    out = _op(tmp_path, mode="full").execute(context=_context())  # type: ignore[arg-type]
    assert (out["mode"], out["read"], out["updated"], out["batches"]) == ("full", 1, 1, 1)
    (batch,) = [r.json() for r in requests_mock.request_history if r.url.endswith("/api/v2/batch")]
    assert batch["batch"] == [
        {
            "type": "person",
            "action": "identify",
            "identifiers": {"email": "a@x.io"},
            "attributes": {"email": "a@x.io", "plan": "pro"},
        }
    ]
