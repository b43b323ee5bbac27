"""Property tests of the Brevo state model: identity indexes and list membership stay consistent, and every imported
row ends applied or rejected with a reason (nothing lost), whatever sequence of writes happens."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_customerio.sandbox.brevo.errors import BrevoError
from airflow_provider_customerio.sandbox.brevo.models import phone_key
from airflow_provider_customerio.sandbox.brevo.state import BrevoState

EMAILS = st.sampled_from(["a@example.com", "A@EXAMPLE.com", "b@example.com", "c@example.com", "bad-email", ""])
EXT_IDS = st.sampled_from(["e1", "e2", "e3", None])
PHONES = st.sampled_from(["+33600000001", "0033600000001", "+33600000002", None, "12"])
ATTRS = st.fixed_dictionaries(
    {},
    optional={
        "FIRSTNAME": st.sampled_from(["Ann", "", 3]),
        "MONTHLY_REVENUE": st.sampled_from([1.5, "2", True, ""]),
        "SIGNUP_DATE": st.sampled_from(["2024-01-01", "01/01/2024", ""]),
        "UNKNOWN": st.just("x"),
    },
)


def _row() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda email, ext, phone, attrs: {
            **({"email": email} if email is not None else {}),
            "attributes": {**attrs, **({"EXT_ID": ext} if ext else {}), **({"SMS": phone} if phone else {})},
        },
        st.one_of(st.none(), EMAILS),
        EXT_IDS,
        PHONES,
        ATTRS,
    )


OPS = st.one_of(
    st.tuples(st.just("create"), _row(), st.booleans()),
    st.tuples(st.just("update"), st.sampled_from(["a@example.com", "b@example.com", "1", "2"]), _row()),
    st.tuples(st.just("delete"), st.sampled_from(["a@example.com", "c@example.com", "1", "3"])),
    st.tuples(st.just("import"), st.lists(_row(), min_size=1, max_size=8), st.booleans(), st.booleans()),
    st.tuples(
        st.just("list"), st.sampled_from([12, 13]), st.lists(st.integers(1, 6), min_size=1, max_size=4), st.booleans()
    ),
)


def _check_invariants(state: BrevoState) -> None:
    for key, cid in state.by_email.items():
        assert state.contacts[cid].email is not None and state.contacts[cid].email.lower() == key
    for name, index in state.by_ident.items():
        for key, cid in index.items():
            value = state.contacts[cid].attrs[name]
            assert (value if name == "EXT_ID" else phone_key(value)) == key
    for contact in state.contacts.values():
        if contact.email is not None:
            assert state.by_email[contact.email.lower()] == contact.id
        for name in state.by_ident:
            if name in contact.attrs:
                key = contact.attrs[name] if name == "EXT_ID" else phone_key(contact.attrs[name])
                assert state.by_ident[name][key] == contact.id
        assert contact.modified >= contact.created
        for lid in contact.list_ids:
            assert contact.id in state.lists[lid].members
    for lst in state.lists.values():
        for cid in lst.members:
            assert lst.id in state.contacts[cid].list_ids


@settings(max_examples=80, deadline=None)
@given(st.lists(OPS, min_size=1, max_size=25))
def test_state_invariants_hold_under_any_write_sequence(ops: list[tuple[Any, ...]]) -> None:
    state = BrevoState("k")
    state.seed(random.Random(0))
    for op in ops:
        try:
            if op[0] == "create":
                state.create_contact({**op[1], "updateEnabled": op[2], "listIds": [12]})
            elif op[0] == "update":
                state.update_contact(
                    op[1],
                    None,
                    {
                        "attributes": {
                            **op[2].get("attributes", {}),
                            **({"EMAIL": op[2]["email"]} if "email" in op[2] else {}),
                        }
                    },
                )
            elif op[0] == "delete":
                state.delete_contact(op[1], None)
            elif op[0] == "import":
                pid = state.start_import(
                    {
                        "jsonBody": op[1],
                        "listIds": [13],
                        "updateExistingContacts": op[2],
                        "emptyContactsAttributes": op[3],
                    },
                    0,
                )
                state.complete_all_processes()
                detail = state.process_control(pid)
                # nothing lost: every row is applied or rejected with a reason
                assert detail["sandbox"]["applied"] + len(detail["sandbox"]["rejected"]) == len(op[1])
                assert all(r["reason"] for r in detail["sandbox"]["rejected"])
            else:
                state.change_list_members(op[1], {"ids": op[2]}, add=op[3])
        except BrevoError as exc:
            assert exc.message and exc.status in (400, 404, 405)
        _check_invariants(state)
