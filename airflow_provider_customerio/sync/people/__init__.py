"""People sync Customer.io -> Brevo: the orchestration, over ports (:mod:`.ports`).

The sync talks to two small ports, :class:`PeopleSource` (Customer.io) and :class:`ContactSink` (Brevo). The
operator adapts the hooks to them; tests use in-memory fakes. No Airflow and no HTTP imports here.

Flow of one run (each step checkpointed in the state store under ``dag_id/run_id/task_id``):

1. ``collect`` (incremental): read the activity feed for the window (newest first, stop at the first item older
   than the window start) and stage the changed ``cio_id`` s in the state DB, once per person, the latest change
   winning (update or delete).
2. ``load``: stream the people (hydrate the staged ids <= 100 per call, or stream the full export), map them,
   skip those whose content hash is unchanged, ledger the rejects, and pack the rest by bytes into Brevo imports.
   Each submitted import is recorded with its rows, then the checkpoint moves past it.
3. ``deletes``: apply ``delete_policy`` to deleted people (full mode: people known
   from earlier runs but absent from the export).
4. ``wait``: wait for the import processes (the operator may defer this), read each process report, ledger the
   rows it rejected, and commit the hashes and identities of the rest. A failed process is resubmitted up to
   ``max_import_attempts`` times, then its rows are ledgered.

With import slots (``sync/import_slots.py``, one import in flight per Brevo account by default), ``load`` stops
when every slot is taken and this run has imports in flight: the caller waits for them (``wait`` or the trigger,
then ``complete``) and calls ``load`` again, until :attr:`PeopleSync.loaded`; :func:`run_blocking` does so.

When one task reads and loads (``step="all"``), the run is pipelined (:mod:`.pipeline`): imports go out while the
people are still read, the next one as soon as the one in flight has ended, and ended imports are committed after
the next is sent, so reading, mapping and staging overlap Brevo's processing.

Attributes are written with the current time (Brevo has no per-value timestamp); the reverse direction must
likewise write Customer.io attributes without a historical ``_timestamp`` (docs/vendor-behaviour.md).
"""
