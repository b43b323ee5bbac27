"""Which pairs one DAG run mirrors, which of them wait for a building segment, and the run's summary.

Pure helpers of the segment DAG (``dags/customerio_segments_to_brevo_lists.py``); no Airflow and no HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_customerio.sync.segments.model import FINISHED_STATE, SegmentMirrorError, as_int


def parse_mirror_pairs(
    mirror: Mapping[Any, Any] | None,
    lists: Mapping[str, Any] | None = None,
    *,
    path: str = "connectors.customerio.segments.mirror",
) -> list[tuple[int, int]]:
    """Turn the ``mirror`` map ``{segment_id: list_id | list name}`` into sorted ``(segment, list)`` pairs.

    A value may name an entry of the config's ``lists`` map (``all_contacts``, ``active_subscribers``,
    ``churned``...) instead of giving a Brevo list id.
    """
    pairs: list[tuple[int, int]] = []
    for raw_segment, raw_list in (mirror or {}).items():
        segment_id = as_int(raw_segment, f"{path} key {raw_segment!r}")
        if isinstance(raw_list, str) and not raw_list.strip().isdigit():
            if not lists or raw_list not in lists:
                known = ", ".join(sorted(lists or {})) or "none defined"
                raise SegmentMirrorError(
                    f"{path}[{segment_id}] names list {raw_list!r}, which is not in the config's 'lists' map "
                    f"({known}). Use a Brevo list id or add {raw_list!r} to 'lists'."
                )
            raw_list = lists[raw_list]
        pairs.append((segment_id, as_int(raw_list, f"{path}[{segment_id}]")))
    return sorted(pairs)


# ------------------------------------------------------------------------------------------ DAG helpers
def plan_pairs(
    *,
    segment_id: int | None,
    list_id: int | None,
    include_attributes: Sequence[str] = (),
    dry_run: bool = False,
    force: bool = False,
    mirror: Mapping[Any, Any] | None = None,
    lists: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The pairs one DAG run mirrors, as operator keyword arguments.

    With ``segment_id`` and ``list_id`` (a manual run from the UI) that one pair; with neither, every pair of the
    ``mirror`` config. One without the other is an error naming both params.
    """
    if (segment_id is None) != (list_id is None):
        given, missing = ("segment_id", "list_id") if list_id is None else ("list_id", "segment_id")
        raise SegmentMirrorError(
            f"The param {given} is set but {missing} is not: set both to mirror one segment into one list, "
            "or leave both empty to mirror every pair of connectors.customerio.segments.mirror."
        )
    if segment_id is not None and list_id is not None:
        pairs = [(as_int(segment_id, "param segment_id"), as_int(list_id, "param list_id"))]
    else:
        pairs = parse_mirror_pairs(mirror, lists)
    return [
        {
            "segment_id": seg,
            "list_id": lst,
            "include_attributes": list(include_attributes),
            "dry_run": bool(dry_run),
            "force": bool(force),
        }
        for seg, lst in pairs
    ]


def split_by_state(
    pairs: Sequence[Mapping[str, Any]], states: Mapping[int, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split planned pairs into those whose segment is ``finished`` and those still building (or unknown
    segments, which go to the ready side so the mirror task reports them with a clear error)."""
    ready, building = [], []
    for pair in pairs:
        state = states.get(int(pair["segment_id"]))
        if state is not None and state != FINISHED_STATE:
            building.append({**pair, "state": state})
        else:
            ready.append(dict(pair))
    return ready, building


def summarize_runs(
    summaries: Iterable[Mapping[str, Any] | None], building: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """One DAG run's result: how many people were exported, removed, rejected, over every pair (a dry run's
    planned numbers are reported as ``would_export`` / ``would_remove``)."""
    done = [s for s in summaries if s]
    skipped = [{"segment": b["segment_id"], "list": b["list_id"], "state": b.get("state")} for b in building] + [
        {"segment": s["segment"], "list": s["list"], "state": s.get("segment_state")}
        for s in done
        if s.get("skipped_building")
    ]
    return {
        "pairs": len(done) + len(building),
        "mirrored": sum(1 for s in done if not s.get("skipped_building")),
        "exported": sum(int(s.get("added", 0)) for s in done if not s.get("dry_run")),
        "removed": sum(int(s.get("removed", 0)) for s in done if not s.get("dry_run")),
        "would_export": sum(int(s.get("added", 0)) for s in done if s.get("dry_run")),
        "would_remove": sum(int(s.get("removed", 0)) for s in done if s.get("dry_run")),
        "unchanged": sum(int(s.get("unchanged", 0)) for s in done),
        "rejected": sum(int(s.get("rejected", 0)) for s in done),
        "skipped_building": skipped,
        "dry_run": any(s.get("dry_run") for s in done),
        **(
            {
                "plan": {
                    k: sum(int((s.get("plan") or {}).get(k, 0)) for s in done)
                    for k in ("creates", "updates", "deletes", "list_adds", "list_removals")
                }
            }
            if any(s.get("dry_run") for s in done)
            else {}
        ),
        "api_calls": sum(int(s.get("api_calls", 0)) for s in done),
        "per_pair": [
            {
                k: s.get(k)
                for k in (
                    "segment",
                    "list",
                    "segment_size",
                    "list_size_before",
                    "list_size_after",
                    "added",
                    "removed",
                    "rejected",
                    "skipped_building",
                )
            }
            for s in done
        ],
    }
