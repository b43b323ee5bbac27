"""Campaign metrics: turn Customer.io metric series into one reporting row per campaign and day.

Pure logic, no Airflow and no HTTP. The operator gives it the run's data interval, a port that fetches a
campaign's series (the App hook's ``get_campaign_metrics``) and a store (``store.reporting``).

Window. A run covers the calendar days of its data interval (in ``tz``, UTC by default) plus
``lookback_days`` days before them, because opens and clicks arrive late: each run re-reads those days and
upserts them. Days after "today" are never requested. A manual run without a data interval covers the last
complete day before the run (plus the lookback).

Requests. Version 2 of ``/v1/campaigns/{id}/metrics`` (the recommended one) takes ``res=days`` and
``start``/``end`` unix seconds; the series runs oldest first, one entry per day from ``start``'s day, so entry
``i`` is day ``first_day + i``. Version 1 (deprecated) only takes ``period=days`` and ``steps`` counted back
from the current day, at most 45, with days starting 00:00 Eastern time: entry ``-1`` is today (US/Eastern),
so entry ``i`` of ``n`` is ``today - (n - 1 - i)``. Entries outside the window are dropped, never guessed.

Rows are keyed by ``(campaign_id, date, source)``: ``source`` (e.g. ``campaign:v2:UTC``) names the kind of
object and the time basis of the day, so rows computed on different day boundaries never overwrite each other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_customerio.sync.ports import RejectSink

#: Metric columns of the reporting table, in table order. Series keys outside this list are ignored.
METRIC_COLUMNS: tuple[str, ...] = (
    "attempted",
    "sent",
    "delivered",
    "opened",
    "human_opened",
    "clicked",
    "human_clicked",
    "converted",
    "bounced",
    "failed",
    "undeliverable",
    "suppressed",
    "unsubscribed",
    "spammed",
)
#: v1 day periods start at 00:00 Eastern time (https://docs.customer.io/api/app/#operation/campaignMetrics).
V1_TIMEZONE = "America/New_York"
#: v1 ``period=days`` reaches at most this many days back (``steps`` maximum).
V1_MAX_DAY_STEPS = 45
#: Largest accepted lookback (same bound as the config schema).
MAX_LOOKBACK_DAYS = 45
SUPPORTED_VERSIONS = (1, 2)


class CampaignMetricsError(ValueError):
    """A campaign-metrics setting or input is invalid; the message names the field and the fix."""


# ------------------------------------------------------------------------------------------------ window
@dataclass(frozen=True)
class MetricsWindow:
    """The days one run reads: ``first_day`` .. ``last_day`` inclusive, in ``tz``.

    :param first_day: first day read (the interval's first day minus the lookback).
    :param last_day: last day read (the interval's last day, never after today).
    :param interval_first_day: first day of the run's own data interval (before the lookback).
    :param lookback_days: how many days before the interval were re-read.
    :param tz: IANA time zone of the day boundaries.
    :param manual: True when the run had no data interval.
    """

    first_day: date
    last_day: date
    interval_first_day: date
    lookback_days: int
    tz: str = "UTC"
    manual: bool = False

    @property
    def empty(self) -> bool:
        return self.first_day > self.last_day

    @property
    def days(self) -> list[date]:
        """Every day of the window, oldest first."""
        if self.empty:
            return []
        return [self.first_day + timedelta(days=i) for i in range((self.last_day - self.first_day).days + 1)]

    def contains(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    def start_ts(self) -> int:
        """Unix seconds of ``first_day`` 00:00 in ``tz``."""
        return _midnight_ts(self.first_day, self.tz)

    def end_ts(self) -> int:
        """Unix seconds of the last second of ``last_day`` in ``tz`` (inclusive bound)."""
        return _midnight_ts(self.last_day + timedelta(days=1), self.tz) - 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "interval_first_day": self.interval_first_day.isoformat(),
            "lookback_days": self.lookback_days,
            "tz": self.tz,
            "manual": self.manual,
        }


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise CampaignMetricsError(
            f"timezone: {tz!r} is not an IANA time zone; use e.g. 'UTC' or 'Europe/Paris'."
        ) from None


def _midnight_ts(day: date, tz: str) -> int:
    return int(datetime.combine(day, time(0), tzinfo=_zone(tz)).timestamp())


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise CampaignMetricsError(f"{name}: {value!r} has no time zone; pass an aware datetime (UTC).")
    return value


def check_lookback(value: Any, *, name: str = "lookback_days") -> int:
    """Validate a lookback (an integer 0..45) and return it."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        else:
            raise CampaignMetricsError(
                f"{name}: expected a whole number of days between 0 and {MAX_LOOKBACK_DAYS}, got {value!r}."
            )
    if not 0 <= value <= MAX_LOOKBACK_DAYS:
        raise CampaignMetricsError(
            f"{name}: {value} is out of range; use 0 to {MAX_LOOKBACK_DAYS} days (the API keeps daily series "
            f"for {V1_MAX_DAY_STEPS} days in version 1)."
        )
    return int(value)


def metrics_window(
    interval_start: datetime | None,
    interval_end: datetime | None,
    *,
    lookback_days: int,
    now: datetime,
    tz: str = "UTC",
) -> MetricsWindow:
    """The days a run reads.

    * A data interval ``[start, end)`` covers the days from ``start``'s day to the day of the last instant
      before ``end``. A zero-width interval (a cron trigger timetable) stands for the day before ``end``.
    * No interval (a manual run): the last complete day before ``now``.
    * ``lookback_days`` days before the first day are added; days after today are cut off.
    """
    lookback_days = check_lookback(lookback_days)
    zone = _zone(tz)
    today = _aware(now, "now").astimezone(zone).date()
    manual = interval_start is None or interval_end is None
    if interval_start is None or interval_end is None:
        first = last = today - timedelta(days=1)
    else:
        start = _aware(interval_start, "data_interval_start").astimezone(zone)
        end = _aware(interval_end, "data_interval_end").astimezone(zone)
        if end < start:
            raise CampaignMetricsError(
                f"data interval: end {end.isoformat()} is before start {start.isoformat()}; check the timetable."
            )
        if end == start:
            last = (end - timedelta(microseconds=1)).date()
            first = last
        else:
            first = start.date()
            last = (end - timedelta(microseconds=1)).date()
    last = min(last, today)
    return MetricsWindow(
        first_day=first - timedelta(days=lookback_days),
        last_day=last,
        interval_first_day=first,
        lookback_days=lookback_days,
        tz=tz,
        manual=manual,
    )


# ---------------------------------------------------------------------------------------------- requests
def source_label(version: int, tz: str, kind: str = "campaign") -> str:
    """The ``source`` key column: object kind, API version and the day basis (``campaign:v2:UTC``)."""
    basis = "EST" if version == 1 else tz
    return f"{kind}:v{version}:{basis}"


def check_version(version: Any) -> int:
    if version not in SUPPORTED_VERSIONS:
        raise CampaignMetricsError(
            f"metrics_version: {version!r} is not supported; use 2 (start/end, recommended) or 1 (period/steps, "
            "deprecated, Eastern-time days, 45 days back at most)."
        )
    return int(version)


def v1_today(now: datetime) -> date:
    """The current day of the v1 API (days start 00:00 Eastern time)."""
    return _aware(now, "now").astimezone(ZoneInfo(V1_TIMEZONE)).date()


def plan_request(window: MetricsWindow, *, version: int, now: datetime) -> dict[str, Any]:
    """Keyword arguments for ``CustomerIOAppHook.get_campaign_metrics`` that cover ``window``.

    :raises CampaignMetricsError: version 1 cannot reach the window's first day.
    """
    version = check_version(version)
    if version == 2:
        request: dict[str, Any] = {"version": 2, "res": "days", "start": window.start_ts(), "end": window.end_ts()}
        if window.tz != "UTC":
            request["tz"] = window.tz  # days of the series start at midnight in this zone
        return request
    steps = (v1_today(now) - window.first_day).days + 1
    if steps > V1_MAX_DAY_STEPS:
        raise CampaignMetricsError(
            f"metrics_version: version 1 reaches {V1_MAX_DAY_STEPS} days back, but the window starts "
            f"{window.first_day.isoformat()} ({steps} days ago). Use metrics_version=2 for older days."
        )
    return {"period": "days", "steps": max(2, steps)}


def series_days(n: int, *, window: MetricsWindow, version: int, now: datetime) -> list[date]:
    """The day of each of ``n`` series entries (oldest first) for a request made by :func:`plan_request`."""
    if version == 2:
        return [window.first_day + timedelta(days=i) for i in range(n)]
    today = v1_today(now)
    return [today - timedelta(days=n - 1 - i) for i in range(n)]


# -------------------------------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class MetricRow:
    """One row of the reporting table.

    :param campaign_id: the campaign's id.
    :param day: the calendar day (in the source's time basis).
    :param source: see :func:`source_label`.
    :param name: the campaign's name when read.
    :param metrics: one value per :data:`METRIC_COLUMNS` entry, ``None`` when the API gave no series for it.
    """

    campaign_id: int
    day: date
    source: str
    name: str
    metrics: Mapping[str, int | None] = field(default_factory=dict)

    @property
    def key(self) -> tuple[int, str, str]:
        """``(campaign_id, date, source)``: the table's primary key."""
        return (self.campaign_id, self.day.isoformat(), self.source)

    @property
    def content_hash(self) -> str:
        """Hash of everything but the key: equal hashes mean an upsert would change nothing."""
        body = json.dumps([self.name, [self.metrics.get(m) for m in METRIC_COLUMNS]], separators=(",", ":"))
        return hashlib.sha256(body.encode("utf-8")).hexdigest()[:32]

    def as_record(self) -> dict[str, Any]:
        """Column -> value (``date`` as ``YYYY-MM-DD``)."""
        return {
            "campaign_id": self.campaign_id,
            "date": self.day.isoformat(),
            "source": self.source,
            "name": self.name,
            **{m: self.metrics.get(m) for m in METRIC_COLUMNS},
        }


@dataclass(frozen=True)
class RejectedDay:
    """A series entry that could not become a row (kept for the ledger)."""

    campaign_id: int
    day: date
    reason: str
    message: str
    detail: Mapping[str, Any] = field(default_factory=dict)


def _metric_value(raw: Any) -> int:
    if isinstance(raw, bool):
        raise TypeError
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw.strip())
    raise TypeError


def series_to_rows(
    campaign_id: int,
    name: str,
    series: Mapping[str, Any],
    *,
    window: MetricsWindow,
    version: int,
    now: datetime,
    source: str,
) -> tuple[list[MetricRow], list[RejectedDay]]:
    """Cut a metric series into one row per day of ``window``.

    Entries outside the window are left out (they are outside what the run asked for). A day with a value that
    is not a whole number is rejected with its reason, never written half-filled.
    """
    arrays = {m: v for m, v in series.items() if isinstance(v, list)}
    n = max((len(v) for v in arrays.values()), default=0)
    days = series_days(n, window=window, version=version, now=now)
    rows: list[MetricRow] = []
    rejected: list[RejectedDay] = []
    for i, day in enumerate(days):
        if not window.contains(day):
            continue
        values: dict[str, int | None] = {}
        bad: dict[str, Any] = {}
        for metric in METRIC_COLUMNS:
            arr = arrays.get(metric)
            if arr is None or i >= len(arr):
                values[metric] = None
                continue
            try:
                values[metric] = _metric_value(arr[i])
            except TypeError:
                bad[metric] = arr[i]
        if bad:
            rejected.append(
                RejectedDay(
                    campaign_id,
                    day,
                    "invalid_number",
                    f"campaign {campaign_id} day {day.isoformat()}: metric values {bad!r} are not whole numbers; "
                    "the day is left out of the table and re-read on the next run.",
                    {"values": {k: repr(v) for k, v in bad.items()}},
                )
            )
            continue
        rows.append(MetricRow(campaign_id, day, source, name, values))
    return rows, rejected


# ------------------------------------------------------------------------------------------- campaigns
def parse_campaign_ids(value: Any, *, name: str = "campaign_ids") -> list[int] | None:
    """Normalise the ``campaign_ids`` parameter: ``None``/empty = every campaign, else a list of ints.

    Accepts a list of ints or digit strings, or a comma separated string (``"1, 2"``) or a JSON list.
    """
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text in ("None", "null"):
            return None
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise CampaignMetricsError(f"{name}: {text!r} is not a JSON list; write e.g. [1, 2].") from None
        else:
            value = [part for part in (p.strip() for p in text.split(",")) if part]
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise CampaignMetricsError(f"{name}: expected a list of campaign ids such as [1, 2], got {value!r}.")
    out: list[int] = []
    for item in value:
        if isinstance(item, bool):
            item = None
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item.strip())
        if not isinstance(item, int) or item < 1:
            raise CampaignMetricsError(
                f"{name}: {item!r} is not a campaign id; ids are positive whole numbers (see GET /v1/campaigns)."
            )
        if item not in out:
            out.append(item)
    return out or None


def select_campaigns(
    campaigns: Iterable[Mapping[str, Any]], campaign_ids: Sequence[int] | None
) -> list[dict[str, Any]]:
    """The campaigns to read, as small ``{"id", "name"}`` dicts ordered by id.

    :raises CampaignMetricsError: an id of ``campaign_ids`` does not exist in the workspace.
    """
    by_id: dict[int, dict[str, Any]] = {}
    for c in campaigns:
        try:
            cid = int(c["id"])
        except (KeyError, TypeError, ValueError):
            continue
        by_id[cid] = {"id": cid, "name": str(c.get("name") or f"campaign {cid}")}
    if campaign_ids is None:
        return [by_id[k] for k in sorted(by_id)]
    missing = [cid for cid in campaign_ids if cid not in by_id]
    if missing:
        known = ", ".join(str(k) for k in sorted(by_id)[:20]) or "none"
        raise CampaignMetricsError(
            f"campaign_ids: {missing} do not exist in the workspace (known ids: {known}). Remove them from the "
            "campaign_ids parameter, or leave it empty to read every campaign."
        )
    return [by_id[k] for k in campaign_ids]


#: What the metrics sync reads (``campaigns.include``) -> the kind written in the ``source`` column.
METRIC_KINDS: Mapping[str, str] = {"campaigns": "campaign", "newsletters": "newsletter", "broadcasts": "broadcast"}


def metrics_ref(value: Any) -> tuple[int, str, str]:
    """``(id, name, kind)`` of a mapped task's input: ``{"id", "name"[, "kind"]}`` (kind ``campaign`` when absent:
    ``newsletter`` or ``broadcast`` otherwise) or a bare campaign id."""
    kind = str(value.get("kind") or "campaign") if isinstance(value, Mapping) else "campaign"
    if kind not in METRIC_KINDS.values():
        raise CampaignMetricsError(f"kind: {kind!r} is unknown; use one of {', '.join(METRIC_KINDS.values())}.")
    cid, name = campaign_ref(value)
    if kind != "campaign" and name == f"campaign {cid}":
        name = f"{kind} {cid}"
    return cid, name, kind


def select_items(items: Iterable[Mapping[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Newsletters or broadcasts as ``{"id", "name", "kind"}`` dicts ordered by id (items without an id skipped)."""
    out: dict[int, dict[str, Any]] = {}
    for item in items:
        try:
            iid = int(item["id"])
        except (KeyError, TypeError, ValueError):
            continue
        out[iid] = {"id": iid, "name": str(item.get("name") or f"{kind} {iid}"), "kind": kind}
    return [out[k] for k in sorted(out)]


def campaign_ref(value: Any) -> tuple[int, str]:
    """``(id, name)`` of a mapped task's input: a ``{"id", "name"}`` dict or a bare id."""
    if isinstance(value, Mapping):
        raw_id, name = value.get("id"), value.get("name")
    else:
        raw_id, name = value, None
    if isinstance(raw_id, str) and raw_id.strip().isdigit():
        raw_id = int(raw_id)
    if isinstance(raw_id, bool) or not isinstance(raw_id, int) or raw_id < 1:
        raise CampaignMetricsError(f"campaign: expected a campaign id or {{'id': 1, 'name': '...'}}, got {value!r}.")
    return raw_id, str(name) if name else f"campaign {raw_id}"


# ---------------------------------------------------------------------------------------------- the sync
class MetricsStorePort(Protocol):
    """What the sync needs from the reporting table (``store.reporting.MetricsStore``)."""

    def existing_hashes(self, campaign_id: int, source: str, first: str, last: str) -> dict[str, str]: ...

    def upsert(self, rows: Sequence[MetricRow], *, updated_at: str) -> int: ...


@dataclass
class CampaignMetricsResult:
    """Counts of one campaign's run (the mapped task's XCom value)."""

    campaign_id: int
    source: str
    window: dict[str, Any]
    days_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def sync_campaign_metrics(
    campaign_id: int,
    name: str,
    *,
    fetch_series: Callable[..., Mapping[str, Any]],
    store: MetricsStorePort,
    window: MetricsWindow,
    version: int,
    now: datetime,
    rejects: RejectSink | None = None,
    kind: str = "campaign",
    dry_run: bool = False,
) -> CampaignMetricsResult:
    """Read one campaign's (newsletter's, broadcast's: ``kind``) daily series for ``window`` and upsert the rows
    that are new or changed, with ``source`` = ``<kind>:v<version>:<day basis>``.

    Rows whose content equals the stored row are not written, so a re-run changes nothing. A dry run reads and
    compares, and writes nothing (the counts are the plan).
    """
    source = source_label(version, window.tz, kind)
    result = CampaignMetricsResult(campaign_id, source, window.as_dict())
    if window.empty:
        return result
    request = plan_request(window, version=version, now=now)
    series = fetch_series(campaign_id, **request)
    rows, bad = series_to_rows(campaign_id, name, series, window=window, version=version, now=now, source=source)
    result.days_read = len(rows) + len(bad)
    for r in bad:
        result.rejected += 1
        if rejects is not None:
            rejects.reject(
                record_id=f"{r.campaign_id}:{r.day.isoformat()}",
                reason=r.reason,
                message=r.message,
                stage="series",
                identifiers={f"{kind}_id": r.campaign_id},
                detail=r.detail,
            )
    stored = store.existing_hashes(campaign_id, source, window.first_day.isoformat(), window.last_day.isoformat())
    to_write: list[MetricRow] = []
    for row in rows:
        old = stored.get(row.day.isoformat())
        if old is None:
            result.inserted += 1
            to_write.append(row)
        elif old != row.content_hash:
            result.updated += 1
            to_write.append(row)
        else:
            result.unchanged += 1
    if to_write and not dry_run:
        store.upsert(to_write, updated_at=now.astimezone(timezone.utc).isoformat(timespec="seconds"))
    return result


__all__ = [
    "METRIC_COLUMNS",
    "METRIC_KINDS",
    "CampaignMetricsError",
    "CampaignMetricsResult",
    "MetricRow",
    "MetricsStorePort",
    "MetricsWindow",
    "RejectedDay",
    "campaign_ref",
    "check_lookback",
    "check_version",
    "metrics_ref",
    "metrics_window",
    "parse_campaign_ids",
    "plan_request",
    "select_campaigns",
    "select_items",
    "series_days",
    "series_to_rows",
    "source_label",
    "sync_campaign_metrics",
]
