"""Brevo custom objects (``/objects/{type}/batch/upsert|delete``, ``/objects/{type}/records``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_customerio.sandbox.brevo.base import BrevoBase, locked
from airflow_provider_customerio.sandbox.brevo.errors import (
    DocumentNotFound,
    InvalidParameter,
    MissingParameter,
    OutOfRange,
)
from airflow_provider_customerio.sandbox.brevo.models import (
    MAX_OBJECT_BODY_BYTES,
    MAX_OBJECT_RECORDS,
    OBJECT_TYPE_RE,
    ObjectRecord,
    ObjectType,
    Process,
)


class ObjectsMixin(BrevoBase):
    """Custom object types and records: upserts and deletes run as processes; associations to contacts."""

    # ---------------------------------------------------------------------------------------------- objects

    def _object_type(self, name: str) -> ObjectType:
        otype = self.object_types.get(name)
        if otype is None:
            raise DocumentNotFound(
                f"Object type {name!r} not found: object types must be created in the Brevo UI first"
            )
        return otype

    @locked
    def create_object_type(self, name: Any, attributes: Any) -> None:
        """Control plane: create a custom object type (Brevo only allows this in its UI)."""
        if not isinstance(name, str) or not OBJECT_TYPE_RE.match(name):
            raise InvalidParameter("name must be 1-32 lowercase letters, digits or '_'")
        if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
            raise InvalidParameter("attributes must be an array of attribute keys")
        if name in self.object_types:
            self.object_types[name].attributes |= set(attributes)
        else:
            self.object_types[name] = ObjectType(name, attributes)
        self._bump()

    @locked
    def start_object_upsert(self, object_type: str, body: Any, raw_size: int) -> int:
        """``POST /objects/{type}/batch/upsert`` → processId; records are applied when the process completes."""
        if raw_size > MAX_OBJECT_BODY_BYTES:
            raise OutOfRange("Max request body size is 1 MB")
        self._object_type(object_type)
        if not isinstance(body, dict) or "records" not in body:
            raise MissingParameter("records is required")
        records = body["records"]
        if not isinstance(records, list) or not 1 <= len(records) <= MAX_OBJECT_RECORDS:
            raise OutOfRange("records cannot be empty or more than 1000")
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                raise InvalidParameter(f"records[{index}] must be an object")
            attrs = record.get("attributes")
            if not isinstance(attrs, dict) or not attrs:
                raise MissingParameter(f"records[{index}].attributes must be an object with at least one attribute")
            if len(attrs) > 500:
                raise OutOfRange(f"records[{index}].attributes has more than 500 attributes")
            idents = record.get("identifiers")
            if idents is not None and not isinstance(idents, dict):
                raise InvalidParameter(f"records[{index}].identifiers must be an object with id or ext_id")
            assocs = record.get("associations") or []
            if not isinstance(assocs, list) or len(assocs) > 10:
                raise OutOfRange(f"records[{index}].associations must be an array of at most 10 items")
            for a_index, assoc in enumerate(assocs):
                where = f"records[{index}].associations[{a_index}]"
                if not isinstance(assoc, dict) or not isinstance(assoc.get("object_type"), str):
                    raise InvalidParameter(f"{where}.object_type is required")
                if assoc.get("action", "link") not in ("link", "unlink"):
                    raise InvalidParameter(f"{where}.action must be link or unlink")
                if not isinstance(assoc.get("records"), list) or not assoc["records"]:
                    raise InvalidParameter(f"{where}.records must be a non-empty array")
        proc = self._new_process("IMPORTUSER", "objects", {"object_type": object_type, "records": records})
        # ⚠ The spec's process name enum has no custom-object value; IMPORTUSER is the closest documented one.
        self._bump()
        return proc.id

    def _resolve_target(self, otype: str, identifiers: Any) -> int | None:
        if not isinstance(identifiers, dict):
            return None
        if otype in ("contact", "contacts"):
            if "id" in identifiers:
                cid = identifiers["id"]
                return cid if isinstance(cid, int) and cid in self.contacts else None
            if "ext_id" in identifiers:
                return self.by_ident["EXT_ID"].get(str(identifiers["ext_id"]))
            return None
        target = self.object_types.get(otype)
        if target is None:
            return None
        if "id" in identifiers:
            rid = identifiers["id"]
            return rid if isinstance(rid, int) and rid in target.records else None
        if "ext_id" in identifiers:
            return target.by_ext.get(str(identifiers["ext_id"]))
        return None

    def _apply_objects(self, proc: Process, payload: dict[str, Any]) -> None:
        otype = self.object_types.get(payload["object_type"])
        if otype is None:
            proc.rejected.append({"index": None, "reason": "object type was deleted", "row": None})
            return
        for index, record in enumerate(payload["records"]):
            now = self._now()
            idents = record.get("identifiers") or {}
            if self.take_fault("object_reject"):
                reason = "record could not be processed (rejected in the background after the 202)"
                proc.rejected.append({"index": index, "reason": reason, "row": record})
                continue
            obj: ObjectRecord | None
            if "id" in idents:
                # id = update only; an unknown id fails asynchronously while HTTP said 202
                # (https://developers.brevo.com/reference/custom-objects/upsertrecords)
                obj = otype.records.get(idents["id"]) if isinstance(idents["id"], int) else None
                if obj is None:
                    reason = f"record id {idents['id']!r} not found"
                    proc.rejected.append({"index": index, "reason": reason, "row": record})
                    continue
            elif "ext_id" in idents:
                ext = str(idents["ext_id"])
                rid = otype.by_ext.get(ext)
                if rid is None:
                    obj = ObjectRecord(otype.next_id, ext, now)
                    otype.next_id += 1
                    otype.records[obj.id] = obj
                    otype.by_ext[ext] = obj.id
                else:
                    obj = otype.records[rid]
            else:
                obj = ObjectRecord(otype.next_id, None, now)
                otype.next_id += 1
                otype.records[obj.id] = obj
            for key, value in record["attributes"].items():
                if key in otype.attributes:  # unknown attribute keys dropped silently (upsertrecords reference)
                    obj.attrs[key] = value
            for assoc in record.get("associations") or []:
                target_type = assoc["object_type"]
                unlink = assoc.get("action", "link") == "unlink"
                for target in assoc["records"]:
                    tid = self._resolve_target(target_type, (target or {}).get("identifiers"))
                    if tid is None:
                        if not unlink:  # unlink is idempotent; link needs both records to exist
                            reason = f"association target not found in {target_type}"
                            proc.rejected.append({"index": index, "reason": reason, "row": target})
                        continue
                    bucket = obj.assoc.setdefault(target_type, set())
                    if unlink:
                        bucket.discard(tid)
                    else:
                        bucket.add(tid)
            obj.updated = now
            proc.applied += 1

    @locked
    def start_object_delete(self, object_type: str, body: Any) -> int:
        """``POST /objects/{type}/batch/delete`` → processId; the records go when the process completes
        (https://developers.brevo.com/reference/custom-objects/batchdeleteobjectrecords: up to 1000 identifiers,
        ``{"identifiers": {"ids": [...]}}`` or ``{"identifiers": {"ext_ids": [...]}}``; 404 for an unknown type)."""
        self._object_type(object_type)
        idents = body.get("identifiers") if isinstance(body, dict) else None
        if not isinstance(idents, dict) or len([k for k in ("ids", "ext_ids") if k in idents]) != 1:
            raise MissingParameter("identifiers must be an object with exactly one of ids or ext_ids")
        kind = "ids" if "ids" in idents else "ext_ids"
        values = idents[kind]
        if not isinstance(values, list) or not 1 <= len(values) <= MAX_OBJECT_RECORDS:
            raise OutOfRange(f"identifiers.{kind} cannot be empty or more than {MAX_OBJECT_RECORDS}")
        want = int if kind == "ids" else str
        if not all(isinstance(v, want) and not isinstance(v, bool) for v in values):
            raise InvalidParameter(
                f"identifiers.{kind} must be an array of {'integers' if kind == 'ids' else 'strings'}"
            )
        proc = self._new_process("IMPORTUSER", "objects_delete", {"object_type": object_type, kind: list(values)})
        self._bump()
        return proc.id

    def _apply_object_deletes(self, proc: Process, payload: dict[str, Any]) -> None:
        otype = self.object_types.get(payload["object_type"])
        if otype is None:
            proc.rejected.append({"index": None, "reason": "object type was deleted", "row": None})
            return
        rids = list(payload.get("ids") or []) + [otype.by_ext.get(str(e)) for e in payload.get("ext_ids") or []]
        for rid in rids:
            rec = otype.records.pop(rid, None) if rid is not None else None
            if rec is None:
                continue  # already gone: deleting is idempotent
            if rec.ext_id is not None:
                otype.by_ext.pop(rec.ext_id, None)
            proc.applied += 1

    @locked
    def object_records_page(
        self, object_type: str, limit: int, page_num: int, sort: str, association: bool
    ) -> tuple[list[dict[str, Any]], int]:
        """``GET /objects/{type}/records`` (page-number pagination)."""
        if object_type not in self.object_types:
            # this operation declares no 404 in the spec; the upsert docs call the error "invalid object type"
            raise InvalidParameter(f"invalid object type {object_type!r}: object types are created in the Brevo UI")
        otype = self._object_type(object_type)
        ids = sorted(otype.records, reverse=sort == "desc")
        start = (page_num - 1) * limit
        return [otype.records[rid].to_json(association) for rid in ids[start : start + limit]], len(ids)

    @locked
    def all_object_records(self, object_type: str) -> list[dict[str, Any]]:
        """Control plane: every record of a type with all its associations."""
        otype = self._object_type(object_type)
        out = []
        for rec in otype.records.values():
            body = rec.to_json(False)
            body["associations"] = {k: sorted(v) for k, v in rec.assoc.items()}
            out.append(body)
        return out
