"""The one Brevo imports component: send with notice and slot, read Brevo's status words, wait (requests-mock)."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.adapters.brevo_imports import (
    BrevoImports,
    import_process_state,
    outcome_of,
    process_state,
)
from airflow_provider_customerio.exceptions import ProcessTimeoutError
from airflow_provider_customerio.hooks.brevo import BrevoHook
from airflow_provider_customerio.sync.processes import ProcessOutcome

BASE = "https://api.brevo.com/v3"


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


@pytest.fixture
def hook(airflow_conn):
    airflow_conn("brevo_default", conn_type="brevo", password="brevo-key")
    return BrevoHook(rate_limit=0)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("queued", ProcessOutcome.RUNNING),
        ("in_process", ProcessOutcome.RUNNING),
        ("processing", ProcessOutcome.RUNNING),
        ("completed", ProcessOutcome.SUCCEEDED),
        ("failed", ProcessOutcome.FAILED),
        ("cancelled", ProcessOutcome.FAILED),
        ("canceled", ProcessOutcome.FAILED),
        ("something-new", ProcessOutcome.RUNNING),  # an unknown word is not taken for an end
        ("", ProcessOutcome.RUNNING),
    ],
)
def test_brevo_status_words_become_outcomes(status, outcome):
    assert outcome_of({"status": status}) is outcome
    assert process_state(9, {"status": status}).outcome is outcome


def test_an_import_report_names_refused_rows_and_counts():
    state = import_process_state(
        {"id": 4, "status": "completed", "info": {"import": {"invalid_emails": 2, "duplicate_ext_id": ["e1"], "x": 0}}}
    )
    assert state.succeeded and state.process_id == "4" and state.status == "completed"
    assert state.report.unidentified == {"import_invalid": 2}
    assert state.report.rejected == {"e1": "import_duplicate"}
    assert state.report.counts == {"invalid_emails": 2, "duplicate_ext_id": ["e1"]}


def test_start_sends_one_import_with_list_ids_and_the_hook_defaults(hook, requests_mock):
    post = requests_mock.post(f"{BASE}/contacts/import", json={"processId": 77})
    assert BrevoImports(hook).start([{"email": "a@x.io"}], list_ids=["12"]) == "77"
    body = post.last_request.json()
    assert body["listIds"] == [12] and body["jsonBody"] == [{"email": "a@x.io"}]
    assert body["updateExistingContacts"] is True and body["emptyContactsAttributes"] is False
    assert "notifyUrl" not in body  # no notify_url on the connection: the waits poll


def test_wait_polls_on_a_growing_schedule_until_the_end(hook, requests_mock):
    requests_mock.get(
        f"{BASE}/processes/5",
        [
            {"json": {"id": 5, "status": "queued"}},
            {"json": {"id": 5, "status": "in_process"}},
            {"json": {"id": 5, "status": "completed", "info": {"import": {"invalid_emails": 1}}}},
        ],
    )
    clock = FakeClock()
    states = BrevoImports(hook, poll_interval=2, clock=clock).wait(["5"], timeout=600)
    assert states["5"].succeeded and states["5"].report.unidentified == {"import_invalid": 1}
    assert clock.sleeps == [2, 3]  # polled at once, then after 2 s, then 3 s


def test_a_failed_import_is_an_outcome_and_a_timeout_keeps_it_pending(hook, requests_mock):
    requests_mock.get(f"{BASE}/processes/6", json={"id": 6, "status": "failed", "error": "bad file"})
    state = BrevoImports(hook, clock=FakeClock()).wait(["6"], timeout=60)["6"]
    assert state.finished and not state.succeeded and state.error == "bad file"
    requests_mock.get(f"{BASE}/processes/7", json={"id": 7, "status": "queued"})
    with pytest.raises(ProcessTimeoutError) as err:
        BrevoImports(hook, clock=FakeClock()).wait(["7"], timeout=0)
    assert err.value.pending == ["7"]  # type: ignore[attr-defined]


def test_finished_answers_for_the_import_slots(hook, requests_mock):
    requests_mock.get(f"{BASE}/processes/1", json={"id": 1, "status": "in_process"})
    requests_mock.get(f"{BASE}/processes/2", json={"id": 2, "status": "completed"})
    requests_mock.get(f"{BASE}/processes/3", status_code=404, json={"code": "document_not_found", "message": "no"})
    imports = BrevoImports(hook)
    assert (imports.finished("1"), imports.finished("2"), imports.finished("3")) == (False, True, True)
