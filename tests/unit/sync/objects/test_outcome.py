"""Finished Brevo processes (:mod:`airflow_provider_customerio.sync.objects.outcome`): commit, resubmit, ledger."""

from __future__ import annotations

from airflow_provider_customerio.sync.objects.outcome import refused_records
from airflow_provider_customerio.sync.processes import ProcessOutcome, ProcessState
from tests.unit.sync.objects.fakes import Env


def test_failed_process_is_resubmitted(env: Env) -> None:
    env.brevo.fail_next = 1
    result = env.run()
    assert len(env.brevo.upserts) == 2 and result["created"] == 3 and result["rejected"] == 0
    assert env.brevo.links["companies"]["acme0"] == {"id-p0a", "id-p0b"}


def test_process_failing_every_time_is_ledgered_and_retried_next_run(env: Env) -> None:
    env.brevo.fail_next = 3
    result = env.run()
    assert result["rejects_by_reason"] == {"upsert_failed": 3}
    assert env.brevo.records["companies"] == {}
    second = env.run()
    assert second["created"] == 3 and second["rejected"] == 0
    assert env.brevo.records["companies"]["acme0"]["name"] == "Acme 0"


def test_refused_records_reads_the_positions_and_reasons_a_finished_process_names() -> None:
    error = "2 of 3 records rejected: records[0] (ext_id 'a'): invalid value; records[2] (ext_id 'c'): too long"
    assert refused_records(error) == {0: "invalid value", 2: "too long"}
    assert refused_records(None) == {} and refused_records("") == {}


def test_a_record_refused_after_the_202_is_ledgered_and_written_again_the_rest_committed(env: Env) -> None:
    real = env.brevo.get_process

    def refusing(process_id: str) -> ProcessState:
        state = real(process_id)
        if process_id != "1":
            return state
        env.brevo.records["companies"].pop("acme1")  # Brevo refused it in the background
        error = "1 of 3 records rejected: records[1] (ext_id 'acme1'): bad"
        return ProcessState(process_id, ProcessOutcome.SUCCEEDED, error=error)

    env.brevo.get_process = refusing  # type: ignore[method-assign]
    first = env.run()
    (line,) = env.ledger()
    assert (line["record_id"], line["reason"]) == ("acme1", "vendor_rejected") and "bad" in line["message"]
    assert first["links_added"] == 4  # acme0 and acme2 committed with their links
    second = env.run()
    assert [r["identifiers"]["ext_id"] for r in env.brevo.upserts[1][1]] == ["acme1"]
    assert second["unchanged"] == 2 and env.brevo.records["companies"]["acme1"]["name"] == "Acme 1"
    assert env.run()["unchanged"] == 3
