"""Dry runs of the forwarding: what would be sent, skipped and rejected, with no side effect."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_customerio.sync.batching import Batch, Oversize
from airflow_provider_customerio.sync.events.mapping import EventMapper, event_packer
from airflow_provider_customerio.sync.events.ports import Rejection
from airflow_provider_customerio.sync.events.sources import source_event


@dataclass
class ForwardPlan:
    """What a forwarding run would do (dry run): nothing is sent, marked or ledgered.

    :param send: events that would be sent to Brevo.
    :param batches: ``POST /events/batch`` calls they would take.
    :param by_event: events to send per Brevo event name.
    :param skip: events that would be skipped, per reason (``unmapped_event``...).
    :param reject: events that would be rejected, per reason.
    :param in_flight: events of interrupted sends that would be reconciled first.
    :param sample: up to 50 ids of events that would be sent.
    """

    send: int = 0
    batches: int = 0
    by_event: Counter[str] = field(default_factory=Counter)
    skip: Counter[str] = field(default_factory=Counter)
    reject: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    sample: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Counter) else v) for k, v in self.__dict__.items()}


def plan_forwarding(rows: Iterable[Any], mapper: EventMapper, *, in_flight: int = 0) -> ForwardPlan:
    """The plan of forwarding ``rows`` (pending outbox rows): mapped and packed as :class:`EventForwarder` would,
    with no side effect."""
    plan = ForwardPlan(in_flight=in_flight)
    packer = event_packer()

    def count(outs: Iterable[Batch[tuple[str, dict[str, Any]]] | Oversize[tuple[str, dict[str, Any]]]]) -> None:
        for out in outs:
            if isinstance(out, Oversize):
                plan.reject["oversized_record"] += 1
            else:
                plan.batches += 1
                for eid, ev in out.items:
                    plan.send += 1
                    plan.by_event[str(ev.get("event_name"))] += 1
                    if len(plan.sample) < 50:
                        plan.sample.append(eid)

    for row in rows:
        mapped = mapper.map(source_event(row))
        if isinstance(mapped, Rejection):
            (plan.skip if mapped.skipped else plan.reject)[mapped.reason] += 1
            continue
        count(packer.add((row.event_id, mapped)))
    count(packer.flush())
    return plan
