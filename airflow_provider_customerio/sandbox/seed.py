"""Deterministic seeding of the sandbox world (Customer.io side here; the Brevo side is BrevoState.seed).

The same ``seed`` gives the same people, segments, campaigns, activities, messages and objects; timestamps
are offsets from ``now`` (pass ``now`` to pin them too).
"""

from __future__ import annotations

import random
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_customerio.sandbox.brevo.state import BrevoState
from airflow_provider_customerio.sandbox.customerio.models import (
    COMPANIES,
    EVENT_NAMES,
    INDUSTRIES,
    MESSAGE_METRICS,
    PLANS,
    ObjectRecord,
    SeedWorld,
    Segment,
    change,
)
from airflow_provider_customerio.sandbox.customerio.state import CustomerIOState

MAX_SEED_PEOPLE = 5_000_000


@dataclass
class SeedParams:
    """Validated body of ``POST /_sandbox/seed``."""

    people: int = 0
    segments: list[int] | None = None
    campaigns: int = 3
    newsletters: int = 0
    broadcasts: int = 0
    days: int = 14
    objects: int = 20
    seed: int = 42
    now: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, body: Any) -> SeedParams:
        """Validate; ``ValueError`` names the field and the fix."""
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ValueError('seed body must be a JSON object, e.g. {"people": 1000, "seed": 42}')
        known = {"people", "segments", "campaigns", "newsletters", "broadcasts", "days", "objects", "seed", "now"}
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: unknown seed field; known: {', '.join(sorted(known))}")

        def integer(name: str, default: int | None, lo: int, hi: int) -> int | None:
            value = body.get(name, default)
            if value is None and default is None:
                return None
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise ValueError(f"{name}: {value!r} must be an integer between {lo} and {hi}")
            return value

        segments = body.get("segments")
        if segments is not None and (
            not isinstance(segments, list)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in segments)
        ):
            raise ValueError("segments: must be a list of segment sizes (integers >= 0), e.g. [100, 20]")
        people = integer("people", 0, 0, MAX_SEED_PEOPLE) or 0
        if segments and max(segments) > people:
            raise ValueError(f"segments: a size ({max(segments)}) is larger than people ({people})")
        return cls(
            people=people,
            segments=segments,
            campaigns=integer("campaigns", 3, 0, 1000) or 0,
            newsletters=integer("newsletters", 0, 0, 1000) or 0,
            broadcasts=integer("broadcasts", 0, 0, 1000) or 0,
            days=integer("days", 14, 1, 120) or 1,
            objects=integer("objects", 20, 0, 100_000) or 0,
            seed=integer("seed", 42, -(2**62), 2**62) or 0,
            now=integer("now", None, 0, 2**40),
        )


def seed_customerio(state: CustomerIOState, params: SeedParams) -> dict[str, Any]:
    """Replace the Customer.io world with a seeded one; returns counts."""
    settings = dict(state.settings)
    state.reset()
    state.settings = settings
    now = int(params.now if params.now is not None else time.time())
    n = params.people
    rng = random.Random(params.seed)
    world = SeedWorld(seed=params.seed, people=n, anchor=now, days=params.days, objects=params.objects)
    state.world = world
    state.n_seeded = n
    state.next_idx = n
    horizon = params.days * 86400

    state.seeded_wall = time.time()
    _seed_objects(state, params.objects, now)
    _seed_activities(state, world, rng, now, horizon)
    _seed_segments(state, params, now)
    today = now - now % 86400
    _seed_campaigns(state, params, rng, now, today)
    _seed_newsletters_and_broadcasts(state, params, now, today)
    _seed_messages(state, params, rng, now, horizon)

    return {
        "people": n,
        "deleted_people": len(state.deleted),
        "segments": len(state.segments),
        "campaigns": params.campaigns,
        "activities": len(state.activities),
        "messages": len(state.messages),
        "objects": len(state.objects),
        "seed": params.seed,
        "now": now,
    }


def _seed_objects(state: CustomerIOState, objects: int, now: int) -> None:
    """Objects of type "1" (Companies); seeded person ``i`` relates to object ``i % objects``."""
    for j in range(objects):
        base = COMPANIES[j % len(COMPANIES)]
        suffix = "" if j < len(COMPANIES) else f"-{j // len(COMPANIES)}"
        object_id = f"{base.lower()}{suffix}"
        rec = ObjectRecord(
            type_id="1",
            object_id=object_id,
            cio_object_id=f"ob{j + 1:08x}",
            attrs={
                "name": base + suffix,
                "industry": INDUSTRIES[j % len(INDUSTRIES)],
                "employees": 10 + (j * 37) % 5000,
                "plan": PLANS[j % len(PLANS)],
                "created_at": now - 400 * 86400 + j * 3600,
            },
            timestamps={},
        )
        rec.timestamps = dict.fromkeys(rec.attrs, rec.attrs["created_at"])
        state.objects[("1", object_id)] = rec
        state.objects_by_cio[rec.cio_object_id] = ("1", object_id)
        state.seeded_objects.append(object_id)


def _seed_activities(state: CustomerIOState, world: SeedWorld, rng: random.Random, now: int, horizon: int) -> None:
    """Activities spread over the last ``days`` days, enough that every hour has some; ~2% of people deleted."""
    n = world.people
    n_act = 0 if n == 0 else min(200_000, max(n * 3, world.days * 24 * 6))
    acts = []
    weights = (
        ("attribute_change", 40),
        ("event", 35),
        ("profile_create", 15),
        ("profile_delete", 5),
        ("profile_merge", 5),
    )
    kinds = [k for k, w in weights for _ in range(w)]
    attr_names = ("plan", "lifecycle_stage", "role", "mrr", "company")
    # about 2% of the people are deleted; profile_delete activities point at them only
    deleted_pool = rng.sample(range(n), n // 50) if n else []
    for _ in range(n_act):
        ts = now - rng.randrange(horizon)
        idx = rng.randrange(n)
        kind = kinds[rng.randrange(len(kinds))]
        if kind == "profile_delete":
            if not deleted_pool:
                kind = "profile_create"
            else:
                idx = deleted_pool[rng.randrange(len(deleted_pool))]

        name: str | None = None
        data: Any = {}
        if kind == "attribute_change":
            name = attr_names[rng.randrange(len(attr_names))]
            data = {name: change(f"old-{rng.randrange(100)}", world.record(idx)["attrs"].get(name))}
        elif kind == "event":
            name = EVENT_NAMES[rng.randrange(len(EVENT_NAMES))]
            data = (
                {"amount": rng.randrange(5, 500), "currency": "USD"}
                if name == "purchase_completed"
                else {"source": "web"}
            )
        elif kind == "profile_merge":
            data = {"merged": {"id": f"merged-{rng.randrange(10**6)}", "email": None, "cio_id": None}}
        acts.append((ts, kind, idx, name, data))
    acts.sort(key=lambda a: a[0])
    state.deleted.update(deleted_pool)
    for ts, kind, idx, name, data in acts:
        state.activities.append((kind, ts, idx, name, data, None))


def _seed_segments(state: CustomerIOState, params: SeedParams, now: int) -> None:
    """Dynamic segments of the requested sizes, one still building, one empty, one manual."""
    n = params.people
    sizes = params.segments if params.segments is not None else ([n // 2, n // 10] if n else [])
    seg_id = 0
    for k, size in enumerate(sizes):
        seg_id += 1
        members = sorted(random.Random(params.seed * 1000 + k).sample(range(n), size)) if size else []
        state.segments[seg_id] = Segment(
            id=seg_id,
            name=f"Dynamic segment {seg_id} ({size} people)",
            description="seeded dynamic segment",
            type="dynamic",
            created_at=now - 90 * 86400,
            updated_at=now - 3600,
            members=array("I", members),
            tags=["seeded"],
        )
    seg_id += 1
    building = sorted(random.Random(params.seed * 1000 + 999).sample(range(n), n // 20)) if n else []
    state.segments[seg_id] = Segment(
        id=seg_id,
        name="Recently active (building)",
        description="still being built: membership is incomplete",
        type="dynamic",
        state="build",
        progress=40,
        created_at=now - 600,
        updated_at=now - 60,
        members=array("I", building),
    )
    seg_id += 1
    state.segments[seg_id] = Segment(
        id=seg_id,
        name="Nobody (empty)",
        description="a dynamic segment that matches no one",
        type="dynamic",
        created_at=now - 30 * 86400,
        updated_at=now - 86400,
    )
    seg_id += 1
    state.segments[seg_id] = Segment(
        id=seg_id,
        name="VIP (manual)",
        description="manual segment",
        type="manual",
        created_at=now - 30 * 86400,
        updated_at=now - 86400,
    )


def _seed_campaigns(state: CustomerIOState, params: SeedParams, rng: random.Random, now: int, today: int) -> None:
    """Campaigns with daily metrics."""
    n = params.people
    for c in range(1, params.campaigns + 1):
        created = now - (60 + c) * 86400
        state.campaigns[c] = {
            "id": c,
            "deduplicate_id": f"{c}:{created}",
            "name": f"Onboarding flow {c}" if c % 2 else f"Weekly digest {c}",
            "description": "seeded campaign",
            # The 2022 document's campaign.type enum is ["segment"] only (newer docs: deprecated field).
            "type": "segment",
            "created": created,
            "updated": now - c * 3600,
            "active": c % 4 != 0,
            "state": "running" if c % 4 != 0 else "stopped",
            "actions": [{"id": c * 10 + 1, "type": "email"}, {"id": c * 10 + 2, "type": "email"}],
            "first_started": created + 3600,
            "tags": ["seeded"],
            "trigger_segment_ids": [1] if state.segments and c % 2 else [],
            "filter_segment_ids": [],
            "msg_templates": [{"id": c * 10 + 1, "type": "email"}, {"id": c * 10 + 2, "type": "email"}],
        }
        daily: dict[int, dict[str, int]] = {}
        for d in range(params.days + 1):
            sent = rng.randrange(50, 500) * max(1, n // 1000 or 1)
            delivered = int(sent * rng.uniform(0.9, 0.99))
            opened = int(delivered * rng.uniform(0.2, 0.5))
            clicked = int(opened * rng.uniform(0.05, 0.3))
            values = dict.fromkeys(MESSAGE_METRICS, 0)
            values.update(
                attempted=sent,
                created=sent,
                sent=sent,
                delivered=delivered,
                opened=opened,
                clicked=clicked,
                converted=int(clicked * rng.uniform(0.1, 0.5)),
                bounced=sent - delivered,
                unsubscribed=int(delivered * 0.002),
                spammed=int(delivered * 0.0005),
            )
            daily[today - d * 86400] = values
        state.campaign_daily[c] = daily


def _seed_messages(state: CustomerIOState, params: SeedParams, rng: random.Random, now: int, horizon: int) -> None:
    """Messages (deliveries), sorted by created."""
    n = params.people
    n_msg = 0 if n == 0 or params.campaigns == 0 else min(100_000, max(n, params.days * 24 * 2))
    msgs = []
    for _ in range(n_msg):
        c = rng.randrange(1, params.campaigns + 1)
        msgs.append((now - rng.randrange(horizon), rng.randrange(n), c, c * 10 + 1 + rng.randrange(2), "email"))
    msgs.sort(key=lambda m: m[0])
    state.messages = [(*m, seq) for seq, m in enumerate(msgs, start=1)]
    state.message_created = [m[0] for m in msgs]


def _daily_series(rng: random.Random, days: int, today: int, scale: int) -> dict[int, dict[str, int]]:
    daily: dict[int, dict[str, int]] = {}
    for d in range(days + 1):
        sent = rng.randrange(20, 200) * scale
        delivered = int(sent * rng.uniform(0.9, 0.99))
        opened = int(delivered * rng.uniform(0.2, 0.5))
        values = dict.fromkeys(MESSAGE_METRICS, 0)
        values.update(
            attempted=sent,
            created=sent,
            sent=sent,
            delivered=delivered,
            opened=opened,
            clicked=int(opened * rng.uniform(0.05, 0.3)),
            bounced=sent - delivered,
            unsubscribed=int(delivered * 0.002),
        )
        daily[today - d * 86400] = values
    return daily


def _seed_newsletters_and_broadcasts(state: CustomerIOState, params: SeedParams, now: int, today: int) -> None:
    """Newsletters (``/v1/newsletters``) and API-triggered broadcasts (``/v1/broadcasts``) with daily metrics, from an
    RNG of their own (the rest of the seeded world does not change with their number)."""
    rng = random.Random(params.seed * 7919 + 17)
    for k in range(1, params.newsletters + 1):
        nid = 100 + k
        created = now - (40 + k) * 86400
        state.newsletters[nid] = {
            "id": nid,
            "deduplicate_id": f"{nid}:{created}",
            "name": f"Monthly newsletter {k}",
            "subject": f"News #{k}",
            "created": created,
            "updated": created + 3600,
            "sent_at": now - k * 86400,
            "recipient_segment_ids": [],
            "content_ids": [nid * 10 + 1],
            "tags": ["seeded"],
        }
        state.newsletter_daily[nid] = _daily_series(rng, params.days, today, 1)
    for k in range(1, params.broadcasts + 1):
        bid = 200 + k
        created = now - (30 + k) * 86400
        state.broadcasts[bid] = {
            "id": bid,
            "deduplicate_id": f"{bid}:{created}",
            "name": f"API broadcast {k}",
            "created": created,
            "updated": created + 3600,
            "active": True,
            "actions": [{"id": bid * 10 + 1, "type": "email"}],
            "tags": ["seeded"],
            "type": "triggered_broadcast",
        }
        state.broadcast_daily[bid] = _daily_series(rng, params.days, today, 1)


def seed_world(cio: CustomerIOState, brevo: BrevoState, params: SeedParams) -> dict[str, Any]:
    """Seed both vendors (the Brevo state gets its own deterministic RNG)."""
    summary = seed_customerio(cio, params)
    brevo.reset()
    brevo.seed(random.Random(params.seed))
    return summary
