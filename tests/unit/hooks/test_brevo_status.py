"""Brevo's process status words, defined once in the hook layer."""

from __future__ import annotations

import pytest

from airflow_provider_customerio.hooks.brevo_status import BrevoProcessStatus


@pytest.mark.parametrize(
    ("word", "terminal", "failure"),
    [
        ("queued", False, False),
        ("in_process", False, False),
        ("processing", False, False),
        ("completed", True, False),
        ("failed", True, True),
        ("cancelled", True, True),
        ("canceled", True, True),
        ("Completed", True, False),  # read case-insensitively
        ("paused", False, False),  # not a Brevo word: not an end
        (None, False, False),
    ],
)
def test_words_are_classified(word, terminal, failure):
    assert BrevoProcessStatus.is_terminal(word) is terminal
    assert BrevoProcessStatus.is_terminal({"status": word}) is terminal
    assert BrevoProcessStatus.is_failure({"status": word}) is failure


def test_the_enum_is_its_words():
    assert BrevoProcessStatus.of("in_process") is BrevoProcessStatus.IN_PROCESS
    assert BrevoProcessStatus.COMPLETED == "completed"
