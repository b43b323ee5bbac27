"""Brevo contacts: create, update, delete, get and query (``/contacts``, ``/contacts/{identifier}``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from airflow_provider_customerio.sandbox.brevo.base import BrevoBase, locked
from airflow_provider_customerio.sandbox.brevo.errors import (
    DocumentNotFound,
    InvalidParameter,
    MethodNotAllowed,
    MissingParameter,
)
from airflow_provider_customerio.sandbox.brevo.models import (
    ACCOUNT_EMAIL,
    FILTER_RE,
    IDENTIFIER_TYPES,
    IDENTITY_ATTRS,
    Contact,
    phone_key,
)


class ContactsMixin(BrevoBase):
    """Contact reads and writes (identities unique per contact, read lag, ``filter`` queries)."""

    # ---------------------------------------------------------------------------------------------- contacts

    def resolve(self, identifier: str, identifier_type: str | None, *, for_get: bool = False) -> Contact:
        """Find a contact by path identifier, or raise DocumentNotFound / InvalidParameter.

        Identifier rules: https://developers.brevo.com/reference/update-contact
        """
        with self.lock:
            ident = identifier.strip()
            itype = identifier_type
            if itype is not None and itype not in IDENTIFIER_TYPES:
                raise InvalidParameter(f"identifierType must be one of {', '.join(IDENTIFIER_TYPES)}; got {itype!r}")
            if itype is None:
                if ident.isdigit():
                    itype = "contact_id"
                elif "@" in ident:
                    itype = "email_id"
                elif for_get and phone_key(ident) is not None:
                    # GET also auto-detects SMS (https://developers.brevo.com/reference/get-contact-info)
                    itype = "phone_id"
                else:
                    raise InvalidParameter(
                        f"Invalid identifier {identifier!r}: without identifierType only an email or a numeric contact "
                        "id is recognised; pass identifierType=ext_id|phone_id|whatsapp_id|landline_number_id"
                    )
            cid: int | None
            if itype == "contact_id":
                if not ident.isdigit():
                    raise InvalidParameter(f"identifier {identifier!r} is not a numeric contact id")
                cid = int(ident) if int(ident) in self.contacts else None
            elif itype == "email_id":
                cid = self.by_email.get(ident.lower())
            elif itype == "ext_id":
                cid = self.by_ident["EXT_ID"].get(ident)
            else:
                name = {"phone_id": "SMS", "whatsapp_id": "WHATSAPP", "landline_number_id": "LANDLINE_NUMBER"}[itype]
                key = phone_key(ident)
                cid = self.by_ident[name].get(key) if key else None
            if cid is None:
                raise DocumentNotFound("Contact does not exist")
            return self.contacts[cid]

    @locked
    def create_contact(self, body: dict[str, Any]) -> int | None:
        """``POST /contacts``: returns the new id (201) or None when an existing contact was updated (204)."""
        if not isinstance(body, dict):
            raise InvalidParameter("Request body must be a JSON object")
        attrs = self._upper_attrs(body.get("attributes"))
        email = body.get("email", attrs.get("EMAIL"))
        if email is not None and not isinstance(email, str):
            raise InvalidParameter("email must be a string")
        ext_id = body.get("ext_id", attrs.get("EXT_ID"))
        if ext_id is not None and not isinstance(ext_id, str):
            raise InvalidParameter("ext_id must be a string")
        update_enabled = body.get("updateEnabled", False)
        if not isinstance(update_enabled, bool):
            raise InvalidParameter("updateEnabled must be a boolean")
        list_ids = self._check_list_ids(body.get("listIds"), "listIds")
        for flag in ("emailBlacklisted", "smsBlacklisted"):
            if flag in body and not isinstance(body[flag], bool):
                raise InvalidParameter(f"{flag} must be a boolean")
        identities, problem = self._identities_from(email, ext_id, attrs)
        if problem == "invalid_email":
            raise InvalidParameter("Invalid email address")
        if problem:
            raise InvalidParameter(f"Invalid phone number in attributes.{problem[8:].upper()}")
        if not any(name in identities for name in ("EMAIL", "EXT_ID", "SMS")):
            # Observed message (docs/vendor-behaviour.md); ext_id is accepted too since the 2024 API.
            raise MissingParameter("An email or SMS phone number is mandatory to create a new contact.")
        owners = self._conflicts(identities, None)
        if owners and not update_enabled:
            raise self._duplicate_error("create", owners)
        if owners:
            distinct = set(owners.values())
            if len(distinct) > 1:
                # identifiers belong to two different contacts; without forceMerge Brevo refuses
                # (https://developers.brevo.com/reference/create-contact)
                first = min(distinct)
                raise self._duplicate_error("update", [n for n, o in owners.items() if o != first])
            contact = self.contacts[distinct.pop()]
            created = False
        else:
            contact = self._new_contact()
            created = True
        for name, (value, key) in identities.items():
            self._set_identity(contact, name, value, key)
        self._apply_attrs(contact, attrs, from_csv=False, empty_clears=True)
        if "emailBlacklisted" in body:
            contact.email_bl = body["emailBlacklisted"]
        if "smsBlacklisted" in body:
            contact.sms_bl = body["smsBlacklisted"]
        if "listIds" in body:
            if created:
                self._set_lists(contact, add=list_ids)
            else:
                # Field-observed (sendinblue/APIv3-java-library#11, docs/vendor-behaviour.md): createContact with
                # updateEnabled REPLACES listIds instead of adding to them. The spec says "add"; we follow the field.
                stale = [lid for lid in contact.list_ids if lid not in list_ids]
                self._set_lists(contact, add=list_ids, remove=stale)
        self._touch(contact)
        self._bump()
        return contact.id if created else None

    @locked
    def update_contact(self, identifier: str, identifier_type: str | None, body: dict[str, Any]) -> None:
        """``PUT /contacts/{identifier}`` (204)."""
        if not isinstance(body, dict):
            raise InvalidParameter("Request body must be a JSON object")
        contact = self.resolve(identifier, identifier_type)
        attrs = self._upper_attrs(body.get("attributes"))
        for flag in ("emailBlacklisted", "smsBlacklisted"):
            if flag in body and not isinstance(body[flag], bool):
                raise InvalidParameter(f"{flag} must be a boolean")
        add = self._check_list_ids(body.get("listIds"), "listIds")
        remove_raw = body.get("unlinkListIds")
        if remove_raw is not None and (
            not isinstance(remove_raw, list)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in remove_raw)
        ):
            raise InvalidParameter("unlinkListIds must be an array of integer list ids")
        new_email = attrs.get("EMAIL") if "EMAIL" in attrs else None
        ext_id = body.get("ext_id", attrs.get("EXT_ID"))
        if ext_id is not None and not isinstance(ext_id, (str,)):
            raise InvalidParameter("ext_id must be a string")
        identities, problem = self._identities_from(new_email, ext_id, attrs)
        if problem == "invalid_email":
            raise InvalidParameter("Invalid email address in attributes.EMAIL")
        if problem:
            raise InvalidParameter(f"Invalid phone number in attributes.{problem[8:].upper()}")
        owners = self._conflicts(identities, contact.id)
        if owners:
            raise self._duplicate_error("update", owners)
        for name, (value, key) in identities.items():
            self._set_identity(contact, name, value, key)
        for name in ("EMAIL", *IDENTITY_ATTRS):
            # an explicit empty value ("" or null) clears that identifier
            if name == "EXT_ID" and "ext_id" in body:
                provided, raw = True, body["ext_id"]
            else:
                provided, raw = name in attrs, attrs.get(name)
            if provided and raw in ("", None):
                self._set_identity(contact, name, None, None)
        self._apply_attrs(contact, attrs, from_csv=False, empty_clears=True)
        if "emailBlacklisted" in body:
            contact.email_bl = body["emailBlacklisted"]
        if "smsBlacklisted" in body:
            contact.sms_bl = body["smsBlacklisted"]
        self._set_lists(contact, add=add, remove=remove_raw or [])
        self._touch(contact)
        self._bump()

    @locked
    def delete_contact(self, identifier: str, identifier_type: str | None) -> None:
        """``DELETE /contacts/{identifier}`` (204)."""
        contact = self.resolve(identifier, identifier_type)
        if contact.email is not None and contact.email.lower() == ACCOUNT_EMAIL:
            raise MethodNotAllowed("The account owner's own contact cannot be deleted")  # see ACCOUNT_EMAIL
        for name in ("EMAIL", *IDENTITY_ATTRS):
            self._set_identity(contact, name, None, None)
        self._set_lists(contact, remove=list(contact.list_ids))
        del self.contacts[contact.id]
        if self.lag["contacts"]:
            self._dirty.add(contact.id)
        self._bump()

    @locked
    def get_contact(self, identifier: str, identifier_type: str | None) -> dict[str, Any]:
        """``GET /contacts/{identifier}``: contact + (empty) campaign statistics (as of ``lag`` seconds ago)."""
        body = self.resolve(identifier, identifier_type, for_get=True).to_json()
        if self.lag["contacts"]:
            snap = self._readable().get(body["id"])
            if snap is None:
                raise DocumentNotFound("Contact does not exist")
            body = dict(snap[0])
        body["statistics"] = {
            "messagesSent": [],
            "hardBounces": [],
            "softBounces": [],
            "complaints": [],
            "unsubscriptions": {"userUnsubscription": [], "adminUnsubscription": []},
            "opened": [],
            "clicked": [],
            "transacAttributes": [],
            "delivered": [],
        }
        return body

    def _filter_pred(self, expr: str) -> Callable[[Contact], bool]:
        match = FILTER_RE.match(expr)
        if not match:
            raise InvalidParameter('filter supports only equals(ATTRIBUTE,value), e.g. equals(FIRSTNAME,"Antoine")')
        name, raw = match.group(1).upper(), match.group(2)
        value: Any
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            value = raw[1:-1]
        elif raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            try:
                value = float(raw) if "." in raw else int(raw)
            except ValueError:
                value = raw
        if name == "EMAIL":
            return lambda c: c.email is not None and isinstance(value, str) and c.email.lower() == value.lower()
        if name not in self.attributes:
            raise InvalidParameter(f"filter: attribute {name} does not exist")
        return lambda c: c.attrs.get(name) == value

    @locked
    def query_contacts(
        self,
        *,
        limit: int,
        offset: int,
        sort: str,
        modified_since: int | None = None,
        created_since: int | None = None,
        list_ids: list[int] | None = None,
        ids: list[int] | None = None,
        filter_expr: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """``GET /contacts`` and ``GET /contacts/lists/{id}/contacts``: one page and the total count.

        Ordered by creation (id), ``desc`` by default. Results of one filter are cached until the next write, so that
        paging through 100k contacts does not rescan them for every page.
        """
        if self.lag["contacts"]:
            return self._query_lagged(limit, offset, sort, modified_since, created_since, list_ids, ids, filter_expr)
        key = (self.version, sort, modified_since, created_since, tuple(list_ids or ()), tuple(ids or ()), filter_expr)
        if self._query_cache is not None and self._query_cache[0] == key:
            matching = self._query_cache[1]
        else:
            pred = self._filter_pred(filter_expr) if filter_expr else None
            source: Iterable[int]
            if ids:
                source = sorted(i for i in set(ids) if i in self.contacts)
            elif list_ids:
                members: set[int] = set()
                for lid in list_ids:
                    members |= self.lists[lid].members
                source = sorted(members)
            else:
                source = self.contacts.keys()  # insertion order == id order
            matching = []
            for cid in source:
                contact = self.contacts[cid]
                # Brevo: "modified after" / "created after" the given date-time (strictly later).
                if modified_since is not None and contact.modified <= modified_since:
                    continue
                if created_since is not None and contact.created <= created_since:
                    continue
                if pred is not None and not pred(contact):
                    continue
                matching.append(cid)
            if sort == "desc":
                matching.reverse()
            self._query_cache = (key, matching)
        page = [self.contacts[cid].to_json() for cid in matching[offset : offset + limit]]
        return page, len(matching)

    def _query_lagged(
        self,
        limit: int,
        offset: int,
        sort: str,
        modified_since: int | None,
        created_since: int | None,
        list_ids: list[int] | None,
        ids: list[int] | None,
        filter_expr: str | None,
    ) -> tuple[list[dict[str, Any]], int]:
        """:meth:`query_contacts` over the lagging view (no cache: the view changes with the clock)."""
        pred = self._filter_pred(filter_expr) if filter_expr else None
        view = self._readable()
        matching = []
        for cid in sorted(view):
            body, created, modified = view[cid]
            if ids and cid not in ids:
                continue
            if list_ids and not set(body["listIds"]) & set(list_ids):
                continue
            if modified_since is not None and modified <= modified_since:
                continue
            if created_since is not None and created <= created_since:
                continue
            if pred is not None and (cid not in self.contacts or not pred(self.contacts[cid])):
                continue
            matching.append(cid)
        if sort == "desc":
            matching.reverse()
        return [dict(view[cid][0]) for cid in matching[offset : offset + limit]], len(matching)

    @locked
    def all_contacts(self) -> list[dict[str, Any]]:
        """Every contact (control plane), oldest first."""
        return [c.to_json() for c in self.contacts.values()]
