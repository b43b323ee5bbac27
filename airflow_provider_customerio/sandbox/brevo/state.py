"""The in-memory state of the sandbox's Brevo v3 emulation: the whole account, behind one lock.

Nothing here knows about HTTP: route handlers in :mod:`.routes` parse requests, call these methods and shape JSON.
Errors are :mod:`.errors` classes; records and constants are in :mod:`.models`. The account is built from one mixin
per API area over :class:`~.base.BrevoBase` (lifecycle, seed fixture, read lag, shared helpers):

- :mod:`.contacts` — contacts;
- :mod:`.lists` — attributes, folders, lists;
- :mod:`.processes` — background processes and the contact import;
- :mod:`.events` — events;
- :mod:`.objects` — custom objects.

Where the field behaviour differs from the documents the code follows the field and says so in a comment.
Sandbox-only conveniences (not part of Brevo's API) are exposed through the control router only:
rejected import rows (``Process.rejected``), object upsert rejections and stored events.
"""

from __future__ import annotations

from airflow_provider_customerio.sandbox.brevo.contacts import ContactsMixin
from airflow_provider_customerio.sandbox.brevo.events import EventsMixin
from airflow_provider_customerio.sandbox.brevo.lists import ListsMixin
from airflow_provider_customerio.sandbox.brevo.objects import ObjectsMixin
from airflow_provider_customerio.sandbox.brevo.processes import ProcessesMixin


class BrevoState(ContactsMixin, ListsMixin, ProcessesMixin, EventsMixin, ObjectsMixin):
    """The whole emulated Brevo account: contacts, attributes, lists, folders, processes, events, objects.

    :param api_key: the only accepted ``api-key`` header value.
    :param clock: optional callable returning epoch milliseconds (tests may inject one); defaults to wall time.
    :param faults: the fault injector whose Brevo processing rules (``import_failure``, ``events_partial_207``, …)
        this state takes (the sandbox shares its one injector); a private one when standalone.
    :param sandbox_clock: the clock background processes and read lag run on (the sandbox's one clock).

    Thread-safe: every public method takes ``self.lock`` (the server runs handlers on one event loop, but the
    control plane and the core's reset may call from other threads).
    """


__all__ = ["BrevoState"]
