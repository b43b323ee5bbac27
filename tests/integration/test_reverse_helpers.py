"""Shared harness of the reverse-sync and two-way integration tests (no tests here).

Runs the real :class:`BrevoToCustomerIOPeopleOperator` and, for the other direction, the real
:class:`CustomerIOToBrevoPeopleOperator` (real hooks, real HTTP, the sandbox on 127.0.0.1). Both directions share
one state database, as in production.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from airflow_provider_customerio.operators.people import CustomerIOToBrevoPeopleOperator
from airflow_provider_customerio.operators.reverse import BrevoToCustomerIOPeopleOperator
from airflow_provider_customerio.store.ledger import read_ledger

CONFIG = """
connectors:
  customerio:
    lists: {{all_contacts: 12}}
    field_mapping:
      id: CIO_ID
      email: email
      first_name: FIRSTNAME
      last_name: LASTNAME
      phone: SMS
      created_at: SIGNUP_DATE
      plan: PLAN_NAME
      mrr: MONTHLY_REVENUE
      lifecycle_stage: LIFECYCLE_STAGE
    people:
      state_path: "{state}"
      reject_threshold: 1.0
    reverse:
      conflict_policy: {policy}
"""


FAST = {"rate_limit": 50.0}  # the hooks' client-side rate; the sandbox enforces the vendor limits


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Harness:
    """One test's world: the sandbox, Airflow connections to it, a config file, the shared state and ledgers."""

    def __init__(self, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str = "customerio_wins"):
        self.sandbox = sandbox
        self.tmp = tmp_path
        sandbox.set_airflow_env(monkeypatch)
        sandbox.ratelimits(enabled=False)
        self.state_path = tmp_path / "state.db"
        self.ledger_dir = tmp_path / "ledger"
        self.set_policy(policy)
        self.runs = itertools.count(1)
        self.http = requests.Session()

    def set_policy(self, policy: str) -> None:
        self.config_path = self.tmp / "customerio_config.yaml"
        self.config_path.write_text(CONFIG.format(state=self.state_path, ledger=self.ledger_dir, policy=policy))

    # ------------------------------------------------------------------------------ the two directions

    def reverse(
        self,
        start: datetime | None,
        end: datetime | None,
        *,
        since: str | None = None,
        mode: str = "incremental",
        conflict_policy: str | None = None,
        dry_run: bool = False,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        """Run the reverse operator as a scheduled run over ``[start, end)`` (or a manual run)."""
        op = BrevoToCustomerIOPeopleOperator(
            task_id="reverse",
            config_path=str(self.config_path),
            since=since,
            mode=mode,
            conflict_policy=conflict_policy,
            dry_run=dry_run,
            brevo_hook_params=FAST,
            customerio_track_hook_params=FAST,
            customerio_app_hook_params=FAST,
        )
        context: dict[str, Any] = {"run_id": run_id or f"scheduled__{next(self.runs)}"}
        if start is not None:
            context.update(data_interval_start=start, data_interval_end=end)
        return op.execute(context)  # type: ignore[arg-type]

    def forward(self, start: datetime, end: datetime, *, mode: str = "incremental") -> dict[str, Any]:
        """Run the Customer.io -> Brevo people sync (its real operator) over ``[start, end)`` (``mode="full"``:
        the whole export, the window only names the run)."""
        op = CustomerIOToBrevoPeopleOperator(
            task_id="sync_people",
            config_path=str(self.config_path),
            mode=mode,
            export_check_interval=0.01,
            deferrable=False,
            poll_interval=0.01,
            customerio_app_hook_params=FAST,
            brevo_hook_params=FAST,
        )
        context = {
            "ti": SimpleNamespace(dag_id="customerio_people_to_brevo"),
            "run_id": f"fwd__{next(self.runs)}",
            "data_interval_start": start,
            "data_interval_end": end,
        }
        return op.execute(context)  # type: ignore[arg-type]

    # ------------------------------------------------------------------------------ vendor helpers

    def track_identify(self, identifiers: dict[str, str], attributes: dict[str, Any]) -> None:
        resp = self.http.post(
            f"{self.sandbox.track_url}/api/v2/entity",
            auth=self.sandbox.track_auth,
            timeout=30,
            json={"type": "person", "action": "identify", "identifiers": identifiers, "attributes": attributes},
        )
        assert resp.status_code == 200, resp.text

    def brevo(self, method: str, path: str, body: Any = None) -> requests.Response:
        resp = self.http.request(
            method, f"{self.sandbox.brevo_url}{path}", json=body, headers=self.sandbox.brevo_headers, timeout=30
        )
        assert resp.status_code < 400, resp.text
        return resp

    def brevo_contacts(self) -> list[dict[str, Any]]:
        resp = self.http.get(f"{self.sandbox.control_url}/brevo/contacts", timeout=30)
        return resp.json()["contacts"]

    def seed_brevo(self, contacts: int, seed: int = 0) -> list[int]:
        resp = self.http.post(
            f"{self.sandbox.control_url}/brevo/seed", json={"seed": seed, "contacts": contacts}, timeout=60
        )
        assert resp.status_code == 201, resp.text
        first, last = resp.json()["contact_ids"]
        return list(range(first, last + 1))

    def person(self, identifier: str, id_type: str) -> dict[str, Any] | None:
        return self.sandbox.person(identifier, id_type=id_type)

    def track_batches(self) -> list[dict[str, Any]]:
        return self.sandbox.requests(vendor="track", path_contains="/api/v2/batch")

    def brevo_writes(self) -> list[dict[str, Any]]:
        return [r for r in self.sandbox.requests(vendor="brevo") if r.get("method") != "GET"]

    def ledger_lines(self, result: Mapping[str, Any]) -> list[dict[str, Any]]:
        return read_ledger(self.state_path, result["ledger"]) if result.get("ledger") else []


def window_since(start: datetime, slack_s: float = 2.0) -> tuple[datetime, datetime]:
    """``[start, now + slack)``: a data interval that has closed on everything the test did so far."""
    return start, utcnow() + timedelta(seconds=slack_s)
