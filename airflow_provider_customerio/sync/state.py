"""The sync state. It lives in the shared store: see :mod:`airflow_provider_customerio.store.state`.

Re-exported here because the sync modules (free of Airflow and HTTP) type against it.
"""

from __future__ import annotations

from airflow_provider_customerio.store.state import (
    BREVO_TO_CIO,
    CIO_TO_BREVO,
    TO_BREVO,
    TO_CIO,
    Identity,
    OwnWrite,
    PendingProcess,
    PendingRow,
    StateStore,
)

__all__ = [
    "BREVO_TO_CIO",
    "CIO_TO_BREVO",
    "TO_BREVO",
    "TO_CIO",
    "Identity",
    "OwnWrite",
    "PendingProcess",
    "PendingRow",
    "StateStore",
]
