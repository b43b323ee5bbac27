"""The message window of a workflow-state run (``sync/workflow/window.py``)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_customerio.exceptions import ConfigError
from airflow_provider_customerio.sync.workflow.window import lookback, message_window

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
T1 = datetime(2026, 1, 1, 1, tzinfo=timezone.utc)


def test_the_interval_is_widened_by_the_lookback_and_its_end_excluded() -> None:
    assert message_window(T0, T1, lookback_hours=2) == (int(T0.timestamp()) - 7200, int(T1.timestamp()) - 1, False)


def test_a_run_without_interval_reads_the_last_day() -> None:
    assert message_window(None, None, lookback_hours=0, now=T1) == (
        int(T1.timestamp()) - 86400,
        int(T1.timestamp()),
        True,
    )


def test_bad_lookbacks_are_named() -> None:
    with pytest.raises(ConfigError, match="lookback_hours must be 0 or more"):
        message_window(T0, T1, lookback_hours=-1)
    assert lookback("1.5") == 1.5
    with pytest.raises(ConfigError, match="lookback_hours: 'x' is not a number of hours"):
        lookback("x")
