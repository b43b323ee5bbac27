"""One Track batch in flight while the next contacts are decided, and what keeps that exactly-once.

A run cuts its decided operations into a batch when the next page would overflow it (its *cut*: the position up to
which every contact is decided). Before, the batch was sent, settled and checkpointed before the next contact was
read; now the batch is sent on another thread (:meth:`~.write.TrackWriter.submit`: only the HTTP call leaves the
run's thread) and settled at the next cut, while the contacts after the cut are decided. A checkpoint still names
a cut whose contacts are all settled, with the ledger and the counters of exactly those contacts:

* the batch is settled (committed, its vendor rejects ledgered) and its cut checkpointed **before** anything decided
  after that cut reaches the ledger: the rejects made while deciding are held (:class:`HeldRejects`) and released
  at the cut that closes their contacts;
* the checkpoint's counters are the run's at the cut (:class:`Cut` keeps a copy) plus what the batch wrote;
* the Customer.io people the batch names stay claimed until it is settled (identity clashes between a contact in
  the batch and one decided meanwhile are seen as before).

A killed run resumes from the last checkpoint: the batch in flight is sent again (Track identify is an upsert) and
the contacts after the cut are decided again; their held rejects never reached the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_provider_customerio.sync.ports import RejectSink
from airflow_provider_customerio.sync.reverse.write import InFlight


class HeldRejects:
    """A :class:`~airflow_provider_customerio.sync.ports.RejectSink` that holds the rejects made while contacts
    are decided, until :meth:`release` hands them to the ledger (at the cut of their contacts).

    :param ledger: where the released rejects go.
    """

    def __init__(self, ledger: RejectSink) -> None:
        self.ledger = ledger
        self._held: list[dict[str, Any]] = []

    def reject(self, **kwargs: Any) -> None:
        self._held.append(kwargs)

    def release(self) -> None:
        """Hand the held rejects to the ledger, in their order."""
        held, self._held = self._held, []
        for kwargs in held:
            self.ledger.reject(**kwargs)

    def __len__(self) -> int:
        return len(self._held)


@dataclass
class Cut:
    """A batch in flight and the checkpoint of its cut, saved once the batch is settled.

    :param flight: the batch.
    :param position: the contacts read up to the cut.
    :param summary: the run's counters at the cut (a copy: ``ReverseSummary.to_state``).
    :param claims: the Customer.io people the contacts up to the cut claimed (``cio_id`` -> Brevo contact id).
    """

    flight: InFlight
    position: int
    summary: dict[str, Any]
    claims: dict[str, int] = field(default_factory=dict)
