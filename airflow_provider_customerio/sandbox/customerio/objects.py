"""Objects and relationships: Track object operations, person/object relationships (seeded and written)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from airflow_provider_customerio.sandbox.customerio.base import CustomerIOBase
from airflow_provider_customerio.sandbox.customerio.errors import InvalidOperation
from airflow_provider_customerio.sandbox.customerio.models import (
    ObjectRecord,
)


class ObjectsMixin(CustomerIOBase):
    """Objects of the workspace's object types and their relationships to people."""

    def _object(self, identifiers: dict[str, Any], create: bool) -> ObjectRecord | None:
        if "cio_object_id" in identifiers:
            key = self.objects_by_cio.get(str(identifiers["cio_object_id"]))
            return self.objects.get(key) if key else None
        type_id, object_id = identifiers.get("object_type_id"), identifiers.get("object_id")
        if not type_id or not object_id:
            raise InvalidOperation(
                "identifiers need object_type_id and object_id, or cio_object_id", "identifiers", "required"
            )
        key = (str(type_id), str(object_id))
        rec = self.objects.get(key)
        if rec is None and create:
            if not any(t["id"] == key[0] for t in self.object_types):
                raise InvalidOperation(f"object_type_id {key[0]!r} does not exist", "identifiers.object_type_id")
            n = len(self.objects) + 1
            rec = ObjectRecord(key[0], key[1], f"ob{n + 0x100000:08x}", {}, {})
            self.objects[key] = rec
            self.objects_by_cio[rec.cio_object_id] = key
            self.add_activity(f"_o:{key[0]}:create", -1, key[1], {})
        return rec

    def object_op(self, action: str, identifiers: dict[str, Any], op: dict[str, Any]) -> None:
        now = int(time.time())
        rec = self._object(identifiers, create=action in ("identify", "identify_anonymous"))
        if rec is None:
            if action == "delete":
                return
            raise InvalidOperation("object not found", "identifiers", "not_found")
        if action == "identify":
            attrs = op.get("attributes") or {}
            if not isinstance(attrs, dict):
                raise InvalidOperation("attributes must be an object", "attributes")
            for key, value in attrs.items():
                if value is None or value == "":
                    rec.attrs.pop(key, None)
                else:
                    rec.attrs[key] = value
                    rec.timestamps[key] = now
        if action == "delete":
            del self.objects[(rec.type_id, rec.object_id)]
            self.objects_by_cio.pop(rec.cio_object_id, None)
            if rec.type_id == "1":
                self.removed_seeded_rels |= {(rec.object_id, i) for i in self.object_seeded_members(rec)}
            return
        rels = op.get("cio_relationships")
        if rels is not None:
            if not isinstance(rels, list):
                raise InvalidOperation("cio_relationships must be an array", "cio_relationships")
            for rel in rels:
                ident = (rel or {}).get("identifiers") or {}
                kinds = [k for k in ("id", "email", "cio_id") if k in ident]
                if len(kinds) != 1:
                    continue
                idx = self.find(kinds[0], str(ident[kinds[0]]))
                if idx is None:
                    continue
                self._relate(rec, idx, rel.get("relationship_attributes") or {}, action != "delete_relationships")

    def _relate(self, rec: ObjectRecord, idx: int, attrs: dict[str, Any], add: bool) -> None:
        if add:
            rec.relationships[idx] = attrs
            self.removed_seeded_rels.discard((rec.object_id, idx))
        else:
            rec.relationships.pop(idx, None)
            if rec.type_id == "1":
                self.removed_seeded_rels.add((rec.object_id, idx))
        self.add_activity("add_relationship" if add else "delete_relationship", idx, rec.object_id, {})

    def relationships_op(self, idx: int, rels: Any, action: str) -> None:
        """Add or delete a person's relationships (v1 {action, relationships} or v2 list shape)."""
        if isinstance(rels, dict):  # v1 shape {"action": ..., "relationships": [...]}
            action = rels.get("action", action)
            rels = rels.get("relationships", [])
        if not isinstance(rels, list):
            raise InvalidOperation("cio_relationships must be an array", "cio_relationships")
        for rel in rels:
            ident = (rel or {}).get("identifiers") or {}
            rec = self._object(ident, create=action != "delete_relationships")
            if rec is not None:
                self._relate(rec, idx, rel.get("relationship_attributes") or {}, action != "delete_relationships")

    def object_seeded_members(self, rec: ObjectRecord) -> Iterator[int]:
        """People related to a seeded type-1 object by the seed (person ``i`` -> object ``i % n``)."""
        if rec.type_id != "1" or rec.object_id not in self._seeded_object_pos:
            return iter(())
        j = self._seeded_object_pos[rec.object_id]
        return iter(range(j, self.n_seeded, len(self.seeded_objects)))

    @property
    def _seeded_object_pos(self) -> dict[str, int]:
        cache = getattr(self, "_obj_pos_cache", None)
        if cache is None or cache[0] is not self.seeded_objects:
            cache = (self.seeded_objects, {oid: j for j, oid in enumerate(self.seeded_objects)})
            self._obj_pos_cache = cache
        return cache[1]

    def object_relationships(self, rec: ObjectRecord) -> Iterator[tuple[int, dict[str, Any]]]:
        """(person idx, relationship attributes) of an object: seeded stride first, then added ones."""
        seen: set[int] = set()
        for idx in self.object_seeded_members(rec):
            if idx in self.deleted or (rec.object_id, idx) in self.removed_seeded_rels:
                continue
            seen.add(idx)
            yield idx, rec.relationships.get(idx, {"role": self.field_value(idx, "role")})
        for idx, attrs in list(rec.relationships.items()):
            if idx not in seen and idx not in self.deleted:
                yield idx, attrs

    def person_relationships(self, idx: int) -> list[tuple[ObjectRecord, dict[str, Any]]]:
        out = []
        if self.seeded_objects and 0 <= idx < self.n_seeded:
            oid = self.seeded_objects[idx % len(self.seeded_objects)]
            rec = self.objects.get(("1", oid))
            if rec is not None and (oid, idx) not in self.removed_seeded_rels:
                out.append((rec, rec.relationships.get(idx, {"role": self.field_value(idx, "role")})))
        for rec in self.objects.values():
            if idx in rec.relationships and not any(r is rec for r, _ in out):
                out.append((rec, rec.relationships[idx]))
        return out
