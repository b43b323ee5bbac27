"""The ``status`` words of a Brevo background process (``GET /processes/{id}``), defined once.

Brevo documents ``queued``, ``in_process`` and ``completed``; its answers also carry ``processing``, ``failed`` and
``cancelled`` (spelt both ways). See https://developers.brevo.com/reference/getprocess.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class BrevoProcessStatus(str, Enum):
    """A Brevo process status, and the sets that classify them (the only definition in the provider)."""

    QUEUED = "queued"
    PROCESSING = "processing"
    IN_PROCESS = "in_process"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CANCELED = "canceled"

    @classmethod
    def of(cls, process: Any) -> BrevoProcessStatus | None:
        """The status of a ``GET /processes/{id}`` answer (or of a status word); ``None`` for a word Brevo does
        not use (treated as still running: the wait polls again rather than take an unknown word for an end)."""
        word = process.get("status") if isinstance(process, dict) else process
        try:
            return cls(str(word or "").strip().lower())
        except ValueError:
            return None

    @classmethod
    def is_terminal(cls, process: Any) -> bool:
        """True when a process with this status (or answer) has ended, well or not."""
        status = cls.of(process)
        return status is not None and (status is cls.COMPLETED or status in _FAILED)

    @classmethod
    def is_failure(cls, process: Any) -> bool:
        """True when the process ended in failure (failed or cancelled)."""
        return cls.of(process) in _FAILED


_FAILED = frozenset({BrevoProcessStatus.FAILED, BrevoProcessStatus.CANCELLED, BrevoProcessStatus.CANCELED})

__all__ = ["BrevoProcessStatus"]
