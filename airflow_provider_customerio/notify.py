"""Run failures and reject-threshold breaches, through the Airflow notifier of your choice.

Airflow notifiers (``SlackNotifier``, ``SmtpNotifier``, ... any :class:`airflow.sdk.BaseNotifier`) are callables
taking the task context; their templated fields are rendered from it. These callbacks add the run's figures to the
context under ``customerio`` and call the notifiers::

    from airflow.providers.slack.notifications.slack import SlackNotifier
    from airflow_provider_customerio.notify import on_failure, on_reject_threshold

    notifier = SlackNotifier(
        slack_conn_id="slack",
        channel="#sync",
        text="{{ customerio.headline }}",  # or any template over customerio.summary / customerio.rejects_by_reason
    )
    CustomerIOToBrevoPeopleOperator(
        ...,
        on_failure_callback=on_failure(notifier),
        on_success_callback=on_reject_threshold(notifier, max_rejected=100, max_rate=0.02),
    )

``customerio`` holds ``dag_id``, ``run_id``, ``task_id``, ``event`` (``failure`` or ``reject_threshold``),
``summary`` (the task's run summary: read, created, updated, rejected, ...; on failure what the store has),
``rejects_by_reason`` (this run's rejected records per reason, from the store), ``threshold`` and ``headline``
(one line, for a message). :class:`LogNotifier` (the example DAGs' default) writes the headline to the task log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

Callback = Callable[[Mapping[str, Any]], None]


class LogNotifier(BaseNotifier):
    """A notifier that writes its (templated) message to the task log: the example DAGs' stand-in for Slack/SMTP.

    :param message: the message template (default: ``{{ customerio.headline }}``).
    """

    template_fields = ("message",)

    def __init__(self, message: str = "{{ customerio.headline }}") -> None:
        super().__init__()
        self.message = message

    def notify(self, context: Any) -> None:
        log.warning("Customer.io sync notification: %s", self.message)


def _ids(context: Mapping[str, Any]) -> tuple[str, str, str]:
    ti = context.get("ti") or context.get("task_instance")
    dag_id = str(getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "") or "")
    run_id = str(context.get("run_id") or getattr(ti, "run_id", "") or "")
    task_id = str(getattr(ti, "task_id", None) or getattr(context.get("task"), "task_id", "") or "")
    return dag_id, run_id, task_id


def _summary(context: Mapping[str, Any]) -> dict[str, Any]:
    """The task's run summary: its return value, else what it kept for lineage, else nothing."""
    from airflow_provider_customerio.lineage import SUMMARY_ATTR

    kept = getattr(context.get("task"), SUMMARY_ATTR, None)
    if isinstance(kept, Mapping):
        return dict(kept)
    ti = context.get("ti")
    try:
        value = ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index) if ti is not None else None
    except Exception:
        value = None
    return dict(value) if isinstance(value, Mapping) else {}


def _run_rejects(context: Mapping[str, Any], dag_id: str, run_id: str) -> dict[str, int]:
    """This run's rejected records per reason, from the task's store (index ``(dag_id, run_id)``)."""
    try:
        from airflow_provider_customerio.runs.settings import load_customerio_config, open_sync_store
        from airflow_provider_customerio.store.ledger import run_reject_counts

        task = context.get("task")
        store = open_sync_store(load_customerio_config(getattr(task, "config_path", None)))
        return run_reject_counts(store.engine, dag_id, run_id)
    except Exception as exc:  # a notification must go out even when the store is unreachable
        log.warning("Could not read the run's rejected records from the sync store: %s", exc)
        return {}


def _notify(notifiers: tuple[BaseNotifier | Callback, ...], context: Mapping[str, Any], info: dict[str, Any]) -> None:
    enriched = {**context, "customerio": info}
    for notifier in notifiers:
        try:
            notifier(enriched)  # a BaseNotifier takes the context
        except Exception as exc:  # one failing channel does not silence the others
            log.error("Notifier %s failed: %s", type(notifier).__name__, exc)


def on_failure(*notifiers: BaseNotifier | Callback) -> Callback:
    """An ``on_failure_callback`` that sends the failure, with the run's figures, to ``notifiers``."""

    def callback(context: Mapping[str, Any]) -> None:
        dag_id, run_id, task_id = _ids(context)
        rejects = _run_rejects(context, dag_id, run_id)
        exc = context.get("exception")
        reason = f"{type(exc).__name__}: {exc}" if exc is not None else "failed"
        info = {
            "event": "failure",
            "dag_id": dag_id,
            "run_id": run_id,
            "task_id": task_id,
            "summary": _summary(context),
            "rejects_by_reason": rejects,
            "threshold": None,
            "error": reason[:1000],
            "headline": f"{dag_id}.{task_id} failed in {run_id}: {reason[:300]} "
            f"({sum(rejects.values())} records rejected so far)",
        }
        _notify(notifiers, context, info)

    return callback


def on_reject_threshold(
    *notifiers: BaseNotifier | Callback, max_rejected: int | None = None, max_rate: float | None = None
) -> Callback:
    """An ``on_success_callback`` that notifies when the run rejected more than ``max_rejected`` records or more
    than ``max_rate`` (0..1) of those it read.

    :raises ValueError: neither threshold is set, or one is negative.
    """
    if max_rejected is None and max_rate is None:
        raise ValueError("on_reject_threshold: set max_rejected (a count) or max_rate (a fraction, e.g. 0.02)")
    if (max_rejected is not None and max_rejected < 0) or (max_rate is not None and not 0 <= max_rate <= 1):
        raise ValueError("on_reject_threshold: max_rejected must be >= 0 and max_rate between 0 and 1")

    def callback(context: Mapping[str, Any]) -> None:
        summary = _summary(context)
        rejected = int(summary.get("rejected") or 0)
        read = int(summary.get("read") or 0)
        rate = rejected / read if read else 0.0
        over_count = max_rejected is not None and rejected > max_rejected
        over_rate = max_rate is not None and read > 0 and rate > max_rate
        if not (over_count or over_rate):
            return
        dag_id, run_id, task_id = _ids(context)
        threshold = {"max_rejected": max_rejected, "max_rate": max_rate}
        info = {
            "event": "reject_threshold",
            "dag_id": dag_id,
            "run_id": run_id,
            "task_id": task_id,
            "summary": summary,
            "rejects_by_reason": _run_rejects(context, dag_id, run_id),
            "threshold": threshold,
            "headline": f"{dag_id}.{task_id} rejected {rejected} of {read} records in {run_id} "
            f"({rate:.1%}; threshold {max_rejected if max_rejected is not None else '-'} records / "
            f"{f'{max_rate:.1%}' if max_rate is not None else '-'})",
        }
        _notify(notifiers, context, info)

    return callback


__all__ = ["LogNotifier", "on_failure", "on_reject_threshold"]
