"""Cluster policy of the distributed test (copied into each process's ``$AIRFLOW_HOME/config``).

It forces the two halves of every pipeline onto different Celery workers: the tasks that read and plan go to the
queue of worker A, the tasks that write go to the queue of worker B. So a load task never runs where its extract
task ran, as on any multi-node deployment, and whatever they share must go through the sync store.

Two changes of pace keep the test short, here and in the single-machine reference run alike (both load this
file): retries wait 5 seconds instead of the DAGs' minutes, and the object sync may look Brevo contacts up at 5
requests/s instead of its 0.5/s side-call share (a sandbox has one client; production shares Brevo's 10 req/s).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

#: Queue of worker A: the tasks that read from Customer.io (or Brevo) and plan what to write.
READ_QUEUE = os.environ.get("CIO_TEST_READ_QUEUE", "cio_read")
#: Queue of worker B: every other task (loads, writes, forwarding, reports).
WRITE_QUEUE = os.environ.get("CIO_TEST_WRITE_QUEUE", "cio_write")
READ_PREFIXES = ("extract_", "derive_", "list_", "plan", "check_")


def queue_for(task_id: str) -> str:
    """The queue of a task, by its id (a mapped task's id is its operator's ``task_id``)."""
    return READ_QUEUE if task_id.startswith(READ_PREFIXES) else WRITE_QUEUE


def task_policy(task: Any) -> None:
    """Route by task id; short retry delays."""
    task.queue = queue_for(task.task_id)
    if task.retries:
        task.retry_delay = timedelta(seconds=5)
    if task.task_id == "sync_objects_to_brevo":
        task.brevo_hook_params = {**task.brevo_hook_params, "rate_limit": 5.0}
        task.poll_interval = 5.0


def hostname() -> str:
    """``[core] hostname_callable`` of the test's processes: each one is its own "machine" (all run on 127.0.0.1)."""
    import socket

    return os.environ.get("CIO_TEST_HOSTNAME") or socket.getfqdn()
