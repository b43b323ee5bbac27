"""Contacts sync Brevo -> Customer.io (the reverse direction), and the echo suppression of the two-way sync.

The orchestration talks to two ports, :class:`ContactSource` (Brevo, read only) and :class:`PeopleWriter`
(Customer.io: Track v2 batches, plus App API profiles for conflict detection). The operator adapts the hooks to
them; tests use in-memory fakes. No Airflow and no HTTP imports here.

Flow of one run (checkpointed in the state store under ``dag_id/run_id/task_id`` after every batch):

1. Read the contacts Brevo changed in the window (``modifiedSince`` = window start, oldest first; the window's end
   is enforced here on ``modifiedAt``, since Brevo has no ``modifiedBefore``). A contact changed again after the
   window's end is left to the next run, which will read it. The read starts :data:`READ_OVERLAP` before the
   window: a contact Brevo lists only after the previous run read (its reads lag its writes) is caught by the next
   run; the contacts that run already settled come back **unchanged** (their snapshots match) and are not written
   twice. ``modifiedSince`` always carries an explicit offset (docs/vendor-behaviour.md).
2. Map each contact back through the inverse of ``field_mapping`` to Customer.io conventions: dates become unix
   timestamps (midnight UTC), numbers stay numbers, booleans booleans, category values their labels, and a
   blacklisted email becomes ``unsubscribed: true`` (a Brevo re-subscription is never propagated: consent only
   ratchets one way).
3. Decide, per contact:

   * **echo**: what Brevo holds is exactly what the Customer.io -> Brevo sync last wrote for that person (same
     content hash as ``cio_to_brevo`` in the sync state): nothing is written;
   * **unchanged**: the mapped fields equal the snapshot this direction last wrote (``brevo_to_cio``), e.g. a
     ``modifiedAt`` bump from a mere list touch (docs/vendor-behaviour.md): nothing is written;
   * **identity clash**: the contact's identifiers point at two different Customer.io people, or the person
     already stands for another Brevo contact: ledger (reason ``identity_clash``) with both identities, no write,
     no retry;
   * **per field** (people both sides synced before): against the value both sides last agreed on (per-field
     digests in the sync state, written by whichever direction synced the field), a field Brevo changed and
     Customer.io did not flows; a field both hold the same value of is recorded as agreed; a field **both** changed
     since is a **conflict** of that field alone, resolved by ``connectors.customerio.reverse.conflict_policy``.
     **Default ``customerio_wins``**: Brevo's value of that field is not written, and the next Customer.io ->
     Brevo run carries Customer.io's value over; ``brevo_wins``: Brevo's value is written; ``newest_wins``: the
     later of Brevo's ``modifiedAt`` and the field's Customer.io ``timestamps`` entry wins (whole seconds: a tie
     goes to Customer.io). A Customer.io value that can never reach Brevo (a ledgered value reject such as
     ``invalid_phone``) is no change on Customer.io's side and never makes a conflict. A person deleted from
     Customer.io is never re-created from Brevo, whatever the policy. Every conflict is counted and listed in the
     summary (``conflicts``, ``conflict_log``: field, both times, winner);
   * otherwise only the **changed fields** are written (a per-field snapshot is kept), so an unrelated Brevo edit
     does not overwrite Customer.io's precise timestamps with Brevo's day-precision dates.

4. Write with Track v2 ``/api/v2/batch``, packed just under 500 KB with no operation over 32 KB. People are
   identified by their Customer.io ``id`` when Brevo knows it (``EXT_ID``, or the attribute mapped from ``id``),
   else by ``cio_id`` from the identity map, else by email, else by phone; a changed email is written to a
   person named by ``cio_id`` when known (Customer.io refuses an email change addressed by ``id``).
   **Attributes are written without a ``timestamp``**, i.e. with the current time: Customer.io silently drops
   attribute updates older than the latest edit (https://docs.customer.io/api/track/#operation/identify,
   "timestamp"), so a backfill with historical timestamps would look successful and do
   nothing. A 207 answer's per-operation errors (``batch_index``) go to the ledger with the vendor's reason;
   transient ones (reason ``internal``) are re-sent up to ``max_attempts`` times first.
5. Commit per written person: the ``brevo_to_cio`` snapshot, the ``cio_to_brevo`` hash of what Brevo now holds
   (so the forward sync does not echo the write back), and the identity map (with the Brevo contact id).

Modules, in the order of a run:

* :mod:`.ports`: the records and the two ports (:class:`~.ports.ContactSource`, :class:`~.ports.PeopleWriter`);
* :mod:`.run`: :class:`~.run.ReverseSync`, the orchestration (steps 1, 3 and the checkpoint);
* :mod:`.mapping`: step 2 (:class:`~.mapping.ReverseMapper`, value conversions, per-contact snapshots);
* :mod:`.identity`: which Customer.io person a contact stands for, identity clashes;
* :mod:`.conflicts`: the per-field decision and the conflict policy;
* :mod:`.write`: steps 4 and 5 (Track batches, commits);
* :mod:`.summary`: the run's counters.
"""
