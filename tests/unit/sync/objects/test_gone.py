"""Objects deleted in Customer.io (:mod:`airflow_provider_customerio.sync.objects.gone`): deleted or flagged
in Brevo."""

from __future__ import annotations

from typing import Any

from airflow_provider_customerio.sync.objects.forward import run_blocking
from tests.unit.sync.objects.fakes import Env, make_config


def test_object_deleted_in_customerio_is_deleted_in_brevo_by_default(env: Env) -> None:
    env.run()
    del env.cio.objects["1"]["acme2"]
    env.cio.objects["1"]["acme0"]["plan"] = "team"
    dry = run_blocking(env.sync(), dry_run=True, timeout=600, delays=[1.0] * 1000)
    assert dry["plan"]["deletes"] == 1 and dry["plan"]["deletes_items"] == ["companies/acme2"]
    assert dry["plan"]["updates"] == 1 and dry["plan"]["updates_items"] == ["companies/acme0"]
    assert dry["plan"]["creates"] == 0 and dry["plan"]["links"] == 0
    assert env.brevo.deletes == [] and "acme2" in env.brevo.records["companies"]  # a dry run writes nothing

    result = env.run()
    assert result["gone"] == 1 and result["deleted"] == 1 and result["delete_policy"] == "delete"
    assert env.brevo.deletes == [("companies", ["acme2"])] and "acme2" not in env.brevo.records["companies"]
    again = env.run()  # forgotten once deleted: nothing more to do
    assert again["gone"] == 0 and len(env.brevo.deletes) == 1
    env.cio.add("1", "acme2", {"name": "Acme 2 again"})  # a new object with the same id is created anew
    assert env.run()["created"] == 1 and env.brevo.records["companies"]["acme2"] == {"name": "Acme 2 again"}


def test_a_failed_object_delete_is_resubmitted_then_ledgered_and_retried_next_run(env: Env) -> None:
    env.run()
    del env.cio.objects["1"]["acme2"]
    env.brevo.fail_next = 3
    result = env.run()
    assert len(env.brevo.deletes) == 3 and result["deleted"] == 0
    assert [line["reason"] for line in env.ledger()] == ["delete_failed"]
    assert env.run()["deleted"] == 1 and "acme2" not in env.brevo.records["companies"]


def test_object_deleted_in_customerio_is_kept_and_flagged_with_the_flag_policy(tmp_path: Any) -> None:
    mapping = {"name": "name", "plan": "plan", "employees": "employees"}
    env = Env(
        tmp_path,
        make_config({"1": {"brevo_object_type": "companies", "field_mapping": mapping}}, delete_policy="flag"),
    )
    env.brevo.types["companies"].add("deleted_in_customerio")
    env.cio.add("1", "acme", {"name": "Acme"})
    env.cio.add("1", "beta", {"name": "Beta"})
    env.run()
    del env.cio.objects["1"]["beta"]
    result = env.run()
    assert result["gone"] == 1 and result["flagged"] == 1 and result["deleted"] == 0 and env.brevo.deletes == []
    assert env.brevo.records["companies"]["beta"] == {"name": "Beta", "deleted_in_customerio": True}
    upserts = len(env.brevo.upserts)
    assert env.run()["gone"] == 0 and len(env.brevo.upserts) == upserts  # flagged once, not at every run
