"""What a sync needs from its Airflow run: ids, the run key, the ledger and the Brevo imports of the run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.runs.sync_run import SyncRun
from airflow_provider_customerio.sync.config import parse_config


def _config(tmp_path: Path):  # type: ignore[no-untyped-def]
    raw = {
        "connectors": {
            "customerio": {"store_conn_id": "no_such_store", "people": {"state_path": str(tmp_path / "s.db")}}
        }
    }
    return parse_config(raw).customerio


def test_the_run_key_names_dag_run_and_sync_and_a_mapped_instance(tmp_path: Path) -> None:
    context = {"dag": SimpleNamespace(dag_id="d"), "run_id": "r", "ti": SimpleNamespace(map_index=3)}
    run = SyncRun(context, _config(tmp_path), sync_name="people", dry_run=True)
    assert (run.dag_id, run.run_id, run.map_index) == ("d", "r", 3)
    assert run.run_key == "d/r/people.3" and run.dry_run is True
    unmapped = SyncRun({"run_id": "r"}, _config(tmp_path), sync_name="people", dry_run=False, default_dag_id="dd")
    assert unmapped.run_key == "dd/r/people"


def test_the_ledger_and_the_store_are_the_runs(tmp_path: Path) -> None:
    run = SyncRun({"run_id": "r"}, _config(tmp_path), sync_name="s", dry_run=False, default_dag_id="d")
    assert run.store is run.store  # opened once per execution
    with run.ledger() as ledger:
        ledger.reject(record_id="p1", reason="invalid_email", message="bad", stage="map")
    assert run.store.location.endswith("s.db")


def test_brevo_imports_bring_the_accounts_slots_held_by_the_run(tmp_path: Path, airflow_conn) -> None:  # type: ignore[no-untyped-def]
    airflow_conn("brevo_default", conn_type="brevo", password="k", extra={"max_imports_in_flight": 2})
    run = SyncRun({"run_id": "r"}, _config(tmp_path), sync_name="s", dry_run=False, default_dag_id="d")
    assert run.imports is None and run.slots is None
    imports = run.brevo_imports(BrevoHook(rate_limit=0), hold_slots=False)
    assert run.imports is imports and run.slots is not None
    assert (run.slots.holder, run.slots.limit) == ("d/r/s", 2)
    assert imports.slots is None  # the sync binds the slots to its processes itself
    held = run.brevo_imports(BrevoHook(rate_limit=0), hold_slots=True)
    assert held.slots is run.slots and held.notices is None  # no notify_url: the waits poll
