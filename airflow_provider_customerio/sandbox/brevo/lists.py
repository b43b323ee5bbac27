"""Brevo contact attributes, folders and lists: ``/contacts/attributes``, ``/contacts/folders`` and
``/contacts/lists``.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_customerio.sandbox.brevo.base import BrevoBase, locked
from airflow_provider_customerio.sandbox.brevo.errors import (
    InvalidParameter,
    MissingParameter,
    OutOfRange,
)
from airflow_provider_customerio.sandbox.brevo.models import (
    ATTRIBUTE_CATEGORIES,
    ATTRIBUTE_TYPES,
    Attribute,
    ContactList,
    iso_ms,
)


class ListsMixin(BrevoBase):
    """Attribute definitions, folders, lists and list membership."""

    # ---------------------------------------------------------------------------------------------- attributes

    @locked
    def list_attributes(self) -> list[dict[str, Any]]:
        """``GET /contacts/attributes`` items."""
        return [a.to_json() for a in self.attributes.values()]

    @locked
    def create_attribute(self, category: str, name: str, body: dict[str, Any]) -> None:
        """``POST /contacts/attributes/{category}/{name}`` (201, no body)."""
        if category not in ATTRIBUTE_CATEGORIES:
            raise InvalidParameter(f"attributeCategory must be one of {', '.join(ATTRIBUTE_CATEGORIES)}")
        if not isinstance(body, dict):
            raise InvalidParameter("Request body must be a JSON object")
        upper = name.strip().upper()
        if not upper or not re.match(r"^[A-Z0-9_]+$", upper):
            raise InvalidParameter(f"Invalid attribute name {name!r}: use letters, digits and underscores")
        if upper in self.attributes:
            raise InvalidParameter(f"Attribute {upper} already exists")
        atype = body.get("type")
        if category == "category":
            atype = "category"
            if not isinstance(body.get("enumeration"), list) or not body["enumeration"]:
                raise MissingParameter("enumeration is required for a category attribute")
        elif category in ("calculated", "global"):
            if not isinstance(body.get("value"), str):
                raise MissingParameter(f"value (formula) is required for a {category} attribute")
            atype = None
        else:
            atype = atype or "text"
            if atype not in ATTRIBUTE_TYPES:
                raise InvalidParameter(f"type must be one of {', '.join(ATTRIBUTE_TYPES)}; got {atype!r}")
            if atype == "id" and category != "transactional":
                raise InvalidParameter("type id is only allowed for transactional attributes")
            if atype in ("multiple-choice", "user", "boolean") and category != "normal":
                raise InvalidParameter(f"type {atype} is only allowed for normal attributes")
            if atype == "category":
                raise InvalidParameter("type category is only allowed with attributeCategory=category")
        options = body.get("multiCategoryOptions") if atype == "multiple-choice" else None
        if atype == "multiple-choice" and (not isinstance(options, list) or not options):
            raise MissingParameter("multiCategoryOptions is required for a multiple-choice attribute")
        self.attributes[upper] = Attribute(upper, category, atype, body.get("enumeration"), options)
        self._bump()

    # ---------------------------------------------------------------------------------------------- folders/lists

    @locked
    def create_folder(self, name: Any) -> int:
        """``POST /contacts/folders`` → id."""
        if not isinstance(name, str) or not name.strip():
            raise MissingParameter("name is required")
        fid = self.next_folder_id
        self.next_folder_id += 1
        self.folders[fid] = name
        self._bump()
        return fid

    def _counts(self, members: set[int]) -> dict[str, int]:
        blacklisted = sum(1 for cid in members if self.contacts[cid].email_bl)
        return {
            "totalBlacklisted": blacklisted,
            "totalSubscribers": len(members) - blacklisted,
            "uniqueSubscribers": len(members),
        }

    @locked
    def folders_page(self, limit: int, offset: int, sort: str) -> tuple[list[dict[str, Any]], int]:
        """``GET /contacts/folders`` page and count."""
        ids = sorted(self.folders, reverse=sort == "desc")
        out = []
        for fid in ids[offset : offset + limit]:
            members: set[int] = set()
            for lst in self.lists.values():
                if lst.folder_id == fid:
                    members |= lst.members
            out.append({"id": fid, "name": self.folders[fid], **self._counts(members)})
        return out, len(ids)

    @locked
    def create_list(self, name: Any, folder_id: Any) -> int:
        """``POST /contacts/lists`` → id. Duplicate names are allowed (callers must look lists up by name)."""
        if not isinstance(name, str) or not name.strip():
            raise MissingParameter("name is required")
        if folder_id is None:
            raise MissingParameter("folderId is required")
        if not isinstance(folder_id, int) or isinstance(folder_id, bool) or folder_id not in self.folders:
            raise InvalidParameter(f"folderId {folder_id!r} does not exist; create it with POST /contacts/folders")
        lid = self.next_list_id
        self.next_list_id += 1
        self.lists[lid] = ContactList(lid, name, folder_id, self._now())
        self._bump()
        return lid

    def _list_json(self, lst: ContactList) -> dict[str, Any]:
        return {"id": lst.id, "name": lst.name, **self._counts(lst.members), "folderId": lst.folder_id}

    @locked
    def lists_page(self, limit: int, offset: int, sort: str) -> tuple[list[dict[str, Any]], int]:
        """``GET /contacts/lists`` page and count."""
        ids = sorted(self.lists, reverse=sort == "desc")
        return [self._list_json(self.lists[lid]) for lid in ids[offset : offset + limit]], len(ids)

    @locked
    def get_list(self, lid: Any) -> dict[str, Any]:
        """``GET /contacts/lists/{id}``."""
        lst = self._list_or_404(lid)
        body = self._list_json(lst)
        body.update(createdAt=iso_ms(lst.created), dynamicList=False, campaignStats=[])
        return body

    @locked
    def list_id_checked(self, lid: Any) -> int:
        """Return the list id or raise 404 (for ``GET /contacts/lists/{id}/contacts``)."""
        return self._list_or_404(lid).id

    @locked
    def change_list_members(self, lid: Any, body: Any, *, add: bool) -> dict[str, Any]:
        """``POST /contacts/lists/{id}/contacts/add|remove`` → ``{"contacts": {"success", "failure"}}``."""
        lst = self._list_or_404(lid)
        if not isinstance(body, dict):
            raise InvalidParameter("Request body must be a JSON object")
        if not add and body.get("all") is True:
            # "all": true runs as a background process in Brevo; emulated synchronously, reported with a processId.
            members = list(lst.members)
            for member_id in members:
                self._set_lists(self.contacts[member_id], remove=[lst.id])
                self._touch(self.contacts[member_id])
            # ⚠ the spec's process-name enum has no value for this background job; LIST_EXPORT is the nearest.
            proc = self._new_process("LIST_EXPORT", "list_remove_all", {})
            proc.status, proc.completed, proc.payload = "completed", self._now(), None
            self._bump()
            return {"contacts": {"success": [], "failure": [], "total": len(members), "processId": proc.id}}
        given = [k for k in ("emails", "ids", "extIds") if k in body]
        if len(given) != 1:
            raise InvalidParameter("Pass exactly one of emails, ids or extIds")
        field = given[0]
        items = body[field]
        if not isinstance(items, list):
            raise InvalidParameter(f"{field} must be an array")
        if not 1 <= len(items) <= 150:
            raise OutOfRange(
                f"{field} must contain between 1 and 150 items (got {len(items)}); use /contacts/import for more"
            )
        success: list[Any] = []
        failure: list[Any] = []
        for item in items:
            cid: int | None = None
            if field == "emails" and isinstance(item, str):
                cid = self.by_email.get(item.lower())
            elif field == "ids" and isinstance(item, int) and not isinstance(item, bool):
                cid = item if item in self.contacts else None
            elif field == "extIds" and isinstance(item, str):
                cid = self.by_ident["EXT_ID"].get(item)
            if cid is None or (cid in lst.members) == add:
                failure.append(item)
                continue
            contact = self.contacts[cid]
            if add:
                self._set_lists(contact, add=[lst.id])
            else:
                self._set_lists(contact, remove=[lst.id])
            # Field-observed (sendinblue/APIv3-php-library#49): a list add/remove bumps the contact's modifiedAt.
            self._touch(contact)
            success.append(item)
        if not success:
            raise InvalidParameter("Contact already in list and/or does not exist")
        self._bump()
        return {"contacts": {"success": success, "failure": failure}}
