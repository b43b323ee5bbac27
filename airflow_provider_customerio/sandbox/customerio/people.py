"""Track writes to people: identify (the identifier rules), delete, suppress, merge, events, devices and
manual segment changes.
"""

from __future__ import annotations

import json
import time
from typing import Any

from airflow_provider_customerio.sandbox.customerio.base import CustomerIOBase
from airflow_provider_customerio.sandbox.customerio.errors import InvalidOperation
from airflow_provider_customerio.sandbox.customerio.models import (
    MAX_ATTR_NAME_BYTES,
    MAX_ATTR_VALUE_BYTES,
    MAX_ATTRS,
    MAX_EVENT_DATA_BYTES,
    MAX_EVENT_NAME_BYTES,
    MAX_PERSON_ID_BYTES,
    Person,
    change,
    utf8_len,
)


class PeopleMixin(CustomerIOBase):
    """People written through the Track API (v1 paths and v2 operations)."""

    def _check_identifier(self, kind: str, value: Any) -> str:
        if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value).strip() == "":
            raise InvalidOperation(f"{kind} must be a non-empty string", kind, "required")
        text = str(value)
        if utf8_len(text) > MAX_PERSON_ID_BYTES:
            raise InvalidOperation(f"{kind} is longer than {MAX_PERSON_ID_BYTES} bytes", kind, "too_long")
        return text

    def _validate_attributes(self, attrs: dict[str, Any]) -> None:
        if len(attrs) > MAX_ATTRS:
            raise InvalidOperation(f"too many attributes ({len(attrs)} > {MAX_ATTRS})", "attributes", "too_many")
        for key, value in attrs.items():
            if utf8_len(key) > MAX_ATTR_NAME_BYTES:
                raise InvalidOperation(f"attribute name {key[:40]!r}... is longer than 150 bytes", key, "too_long")
            if key in ("cio_relationships", "cio_subscription_preferences"):
                continue
            size = utf8_len(value if isinstance(value, str) else json.dumps(value))
            if size > MAX_ATTR_VALUE_BYTES:
                raise InvalidOperation(
                    f"attribute {key!r} value is {size} bytes; the limit is {MAX_ATTR_VALUE_BYTES} bytes",
                    key,
                    "too_long",
                )

    def _blocked(self, kind: str, value: str | None) -> bool:
        if value is None:
            return False
        return f"{kind}:{value.lower() if kind == 'email' else value}" in self.suppressed

    def create_person(self, now: int) -> Person:
        idx = self.next_idx
        if self.lag["people"]:
            self._touch_person(idx)  # absent from reads until the lag has passed
        self.next_idx += 1
        self._created_people += 1
        p = Person(idx, f"c1{self._created_people:06x}", now)
        self.overlay[idx] = p
        return p

    def identify(self, kind: str, value: str, body: dict[str, Any], now: int | None = None) -> int | None:
        """Track identify (v1 path identifier or v2 identifiers): https://docs.customer.io/api/track/#operation/identify

        Returns the person's index, or ``None`` when nothing was written (``_update`` miss, unknown ``cio_``,
        suppressed identifier, stale ``_timestamp``, conflicting identifiers: all still HTTP 200).
        """
        now = int(now if now is not None else time.time())
        if not isinstance(body, dict):
            raise InvalidOperation("the body must be a JSON object of attributes", "attributes", "invalid")
        value = self._check_identifier(kind, value)
        attrs = dict(body)
        update_only = attrs.pop("_update", False) is True
        ts_raw = attrs.pop("_timestamp", None)
        relationships = attrs.pop("cio_relationships", None)
        body_id = attrs.pop("id", None)
        body_email = attrs.pop("email", None)
        anonymous_id = attrs.pop("anonymous_id", None)
        if body_id is not None:
            body_id = self._check_identifier("id", body_id)
        if body_email is not None and not isinstance(body_email, str):
            raise InvalidOperation("email must be a string", "email", "invalid")
        self._validate_attributes(attrs)
        if self._blocked(kind, value) or self._blocked("id", body_id) or self._blocked("email", body_email):
            return None  # suppressed identifiers cannot be re-added

        resolved = self._identify_target(kind, value, body_id, body_email, update_only, now)
        if resolved is None:
            return None
        idx, created = resolved
        p = self._mutable(idx)
        if ts_raw is not None:
            try:
                ts = int(ts_raw)
            except (TypeError, ValueError):
                raise InvalidOperation("_timestamp must be unix seconds (integer)", "_timestamp", "invalid") from None
            if ts < p.last_ts:
                # Field-observed (PostHog#55330): updates older than the latest edit are dropped with a 200.
                return idx
            p.last_ts = ts
        self._identify_identifiers(p, kind, value, body_id, body_email, created, now)
        if anonymous_id is not None:
            self._set_identifier(p, "anonymous_id", str(anonymous_id))
            self._merge_anonymous(p, str(anonymous_id), now)
        if created:
            p.created = (
                int(attrs.get("created_at", now)) if isinstance(attrs.get("created_at", now), (int, float)) else now
            )
            self.add_activity("profile_create", idx, None, {}, now)
        self._apply_attributes(p, attrs, now, record=not created)
        if relationships is not None:
            self.relationships_op(p.idx, relationships, "add_relationships")
        return idx

    def _identify_target(
        self, kind: str, value: str, body_id: str | None, body_email: str | None, update_only: bool, now: int
    ) -> tuple[int, bool] | None:
        """The person an identify writes to and whether it was created; ``None``: nothing is written (200)."""
        idx = self.find(kind, value)
        body_idx: int | None = None
        for k, v in (("id", body_id), ("email", body_email)):
            if v is not None and (k != kind or v != value):
                found = self.find(k, v)
                if found is not None:
                    body_idx = found if body_idx is None else body_idx
        created = False
        if idx is None:
            if kind == "cio_id":
                return None  # an unknown or deleted cio_ identifier: the request is dropped
            if body_idx is not None:
                idx = body_idx  # rule 3 (and 8): the person found by a body identifier gets the path identifier
            elif update_only:
                self.failed_attribute_changes += 1
                self.add_activity("failed_attribute_change", -1, None, {"reason": "_update: no matching person"}, now)
                return None
            else:
                p = self.create_person(now)
                created = True
                idx = p.idx
        elif body_idx is not None and body_idx != idx:
            # rule 4: path and body identify different people -> 200, "Attribute Update Failure"
            self.failed_attribute_changes += 1
            self.add_activity(
                "failed_attribute_change", idx, None, {"reason": "identifiers belong to different people"}, now
            )
            return None

        return idx, created

    def _identify_identifiers(
        self, p: Person, kind: str, value: str, body_id: str | None, body_email: str | None, created: bool, now: int
    ) -> None:
        """Set the path and body identifiers an identify may set; a forbidden change is a failed attribute change."""
        idx = p.idx
        if created or getattr(p, kind) is None:
            if kind in ("id", "email", "phone"):
                self._set_identifier(p, kind, value)
        elif (
            kind in ("id", "email")
            and getattr(p, kind) != value
            and not (kind == "email" and p.email and p.email.lower() == value.lower())
        ):
            self._set_identifier(p, kind, value)  # found through a body identifier: gets the path identifier
        for k, v in (("id", body_id), ("email", body_email)):
            current = getattr(p, k)
            if v is None or v == current or (k == "email" and current and current.lower() == v.lower()):
                continue
            may_change = (
                current is None
                or kind == "cio_id"
                or (k == "id" and kind == "email")
                or (k == "email" and kind == "id" and self.settings["allow_email_update_by_id"])
            )
            if may_change and self.find(k, v) in (None, idx):
                self._set_identifier(p, k, v)
            else:
                # rule 5: changing id/email needs the cio_ path; recorded as a failed attribute change
                self.failed_attribute_changes += 1
                self.add_activity("failed_attribute_change", idx, k, {k: {"from": current, "to": v}}, now)

    def _apply_attributes(self, p: Person, attrs: dict[str, Any], now: int, record: bool = True) -> None:
        for key, value in attrs.items():
            if key == "unsubscribed":
                was, p.unsubscribed = p.unsubscribed, value is True or str(value).lower() in ("true", "1")
                if record and was != p.unsubscribed:  # the profile's activity log shows the change like any other
                    self.add_activity("attribute_change", p.idx, key, {key: change(was, p.unsubscribed)}, now)
                continue
            if key == "cio_subscription_preferences":
                topics = (value or {}).get("topics", {}) if isinstance(value, dict) else {}
                p.subscription_preferences.setdefault("topics", {}).update(topics)
                continue
            if key.startswith("cio_subscription_preferences.topics."):
                p.subscription_preferences.setdefault("topics", {})[key.rsplit(".", 1)[1]] = value
                continue
            if (
                key == "phone"
                and isinstance(value, str)
                and value.startswith("+")
                and self.find("phone", value) in (None, p.idx)
            ):
                self._set_identifier(p, "phone", value)
            old = p.attrs.get(key)
            if value is None or value == "":
                if key in p.attrs:
                    del p.attrs[key]
                    p.timestamps.pop(key, None)
                    if record:
                        self.add_activity("attribute_change", p.idx, key, {key: change(old, None)}, now)
                continue
            if old == value and type(old) is type(value):
                continue
            p.attrs[key] = value
            p.timestamps[key] = now
            if record:
                self.add_activity("attribute_change", p.idx, key, {key: change(old, value)}, now)
        self._segments_changed(set(attrs))

    def _merge_anonymous(self, p: Person, anonymous_id: str, now: int) -> None:
        keep = []
        for ev in self.anonymous_events:
            if ev["anonymous_id"] == anonymous_id and ev["timestamp"] >= now - 30 * 86400:
                ev = dict(ev, person_cio_id=p.cio_id)
                self.events.append(ev)
                self.add_activity("anon_merge", p.idx, ev["name"], {"anonymous_id": anonymous_id}, now)
            else:
                keep.append(ev)
        self.anonymous_events = keep

    def delete_person(self, idx: int, now: int | None = None, activity: str = "profile_delete") -> None:
        now = int(now if now is not None else time.time())
        p = self._mutable(idx)
        self.add_activity(activity, idx, None, {}, now)
        self._unindex(p)
        self.deleted.add(idx)
        for seg in self.segments.values():
            seg.manual.pop(idx, None)

    def suppress(self, idx: int | None, kind: str, value: str) -> None:
        """Delete the profile and block its identifiers (both id and email in email-or-id workspaces)."""
        keys = {f"{kind}:{value.lower() if kind == 'email' else value}"}
        if idx is not None:
            p = self._mutable(idx)
            if p.id:
                keys.add(f"id:{p.id}")
            if p.email:
                keys.add(f"email:{p.email.lower()}")
            self.delete_person(idx, activity="profile_delete")
        self.suppressed |= keys

    def unsuppress(self, idx: int | None, kind: str, value: str) -> None:
        """Free the identifiers; the profile is not restored."""
        self.suppressed.discard(f"{kind}:{value.lower() if kind == 'email' else value}")

    def merge(self, primary: tuple[str, str], secondary: tuple[str, str], now: int | None = None) -> None:
        """Merge ``secondary`` into ``primary``; silently nothing if either is missing.

        https://docs.customer.io/api/track/#operation/merge
        """
        now = int(now if now is not None else time.time())
        pi, si = self.find(*primary), self.find(*secondary)
        if pi is None or si is None or pi == si:
            return
        p, s = self._mutable(pi), self._mutable(si)
        for key, value in s.attrs.items():
            if p.attrs.get(key) in (None, ""):
                p.attrs[key] = value
                p.timestamps[key] = now
        for k in ("id", "email", "phone"):
            if getattr(p, k) is None and getattr(s, k) is not None:
                v = getattr(s, k)
                self._unindex(s)
                setattr(s, k, None)
                self._set_identifier(p, k, v)
        for seg in self.segments.values():
            if si in seg.manual:
                seg.manual[pi] = None
        self.add_activity("profile_merge", pi, None, {"merged": s.identifiers()}, now)
        self._unindex(s)
        self.deleted.add(si)

    def track_event(
        self,
        idx: int | None,
        body: dict[str, Any],
        anonymous_id: str | None = None,
        data_key: str = "data",
        now: int | None = None,
    ) -> bool:
        """Record an event; returns False when deduplicated by ``id`` (still HTTP 200)."""
        now = int(now if now is not None else time.time())
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidOperation("name is required", "name", "required")
        name = name.strip()
        if utf8_len(name) > MAX_EVENT_NAME_BYTES:
            raise InvalidOperation(f"event name is longer than {MAX_EVENT_NAME_BYTES} bytes", "name", "too_long")
        etype = body.get("type", "event")
        if etype not in ("event", "page", "screen"):
            raise InvalidOperation(f"type {etype!r} must be event, page or screen", "type", "invalid")
        data = body.get(data_key) or {}
        if not isinstance(data, dict):
            raise InvalidOperation(f"{data_key} must be an object", data_key, "invalid")
        if utf8_len(json.dumps(data)) > MAX_EVENT_DATA_BYTES:
            raise InvalidOperation(f"{data_key} is larger than {MAX_EVENT_DATA_BYTES} bytes", data_key, "too_long")
        ts = body.get("timestamp", now)
        if not isinstance(ts, (int, float)) or isinstance(ts, bool):
            raise InvalidOperation("timestamp must be unix seconds", "timestamp", "invalid")
        event_id = body.get("id")
        if event_id is not None:
            if str(event_id) in self.event_ids:
                return False
            self.event_ids.add(str(event_id))
        record = {"id": event_id, "name": name, "type": etype, "timestamp": int(ts), "data": data}
        if idx is None:
            record["anonymous_id"] = anonymous_id
            self.anonymous_events.append(record)
            return True
        p = self.person(idx)
        record["person_cio_id"] = p.cio_id if p else None
        self.events.append(record)
        self.add_activity(etype, idx, name, data, int(ts))
        return True

    def set_device(self, idx: int, device: dict[str, Any], token_key: str = "id") -> None:  # noqa: S107 (a field name, not a secret)
        if not isinstance(device, dict):
            raise InvalidOperation("device must be an object", "device", "required")
        token = device.get(token_key)
        if not token:
            raise InvalidOperation(f"device.{token_key} is required", f"device.{token_key}", "required")
        platform = device.get("platform")
        if platform not in ("ios", "android"):
            raise InvalidOperation("device.platform must be ios or android", "device.platform", "invalid")
        extra = {k: v for k, v in device.items() if k not in (token_key, "platform", "last_used", "attributes")}
        attributes = dict(device.get("attributes") or {}) | extra  # the Python client flattens kwargs into device
        last_used = device.get("last_used")
        p = self._mutable(idx)
        p.devices[str(token)] = {
            "id": str(token),
            "platform": platform,
            "last_used": int(last_used) if last_used not in (None, "") else None,  # Go sends a string
            "attributes": attributes,
        }
        self.add_activity("device_change", idx, None, {"device": str(token)})

    def delete_device(self, idx: int, token: str) -> None:
        p = self._mutable(idx)
        p.devices.pop(token, None)

    def manual_segment_change(self, segment_id: int, id_type: str, ids: list[Any], add: bool) -> None:
        seg = self.segments.get(segment_id)
        if seg is None:
            raise InvalidOperation(f"segment {segment_id} not found", "segment_id", "not_found")
        if seg.type != "manual":
            raise InvalidOperation(
                f"segment {segment_id} is data-driven; only manual segments take people", "segment_id"
            )
        if not isinstance(ids, list) or not 1 <= len(ids) <= 1000:
            raise InvalidOperation("ids must be an array of 1 to 1000 identifiers", "ids", "invalid")
        for value in ids:
            idx = self.find(id_type, str(value))
            if idx is None:
                continue  # entries that don't match id_type are ignored
            if add:
                seg.manual[idx] = None
            else:
                seg.manual.pop(idx, None)
        seg.updated_at = int(time.time())
