"""Assets and OpenLineage: every sync task names the vendor objects it reads and writes by URI.

URIs (the authority is the Airflow connection id: the workspace or account that connection reaches, known when
the DAG is parsed without any API call):

* ``customerio://<conn_id>/people``, ``customerio://<conn_id>/segments/<id>``, ``customerio://<conn_id>/events``,
  ``customerio://<conn_id>/campaigns``, ``customerio://<conn_id>/objects/<type>``;
* ``brevo://<conn_id>/contacts``, ``brevo://<conn_id>/lists/<id>``, ``brevo://<conn_id>/events``,
  ``brevo://<conn_id>/objects/<type>``;
* ``customerio-sync-store://<conn_id>/<table>`` for the campaign metrics table in the sync store.

The outlets are Airflow Assets: on success the task's asset events carry the run summary as ``extra``
(:func:`emit_asset_events`, called where the summary is recorded), so a DAG scheduled on
``customerio://…/people`` runs after each people sync. The same URIs are the OpenLineage inputs and outputs
(:class:`LineageMixin`), with the row counts and a schema facet of the mapped attributes; the OpenLineage
provider is optional (without it the method returns ``None`` and nothing is imported).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

#: The summary attribute the operators keep for OpenLineage (set with the run summary).
SUMMARY_ATTR = "_customerio_run_summary"


def _id(value: Any) -> str | None:
    """A concrete id (an int, or digits); ``None`` for a template not rendered yet."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    text = str(value or "").strip()
    return text if text.isdigit() else None


def customerio_uri(conn_id: str, *path: Any) -> str:
    return "customerio://" + "/".join([conn_id, *(str(p) for p in path)])


def brevo_uri(conn_id: str, *path: Any) -> str:
    return "brevo://" + "/".join([conn_id, *(str(p) for p in path)])


@dataclass(frozen=True)
class Lineage:
    """What a task reads and writes (URIs)."""

    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = field(default=())


def lineage_of(capability: str, op: Any) -> Lineage:
    """The URIs of a sync operator of ``capability``, from its (rendered or not) arguments."""
    cio = str(getattr(op, "customerio_app_conn_id", None) or "customerio_app_default")
    track = str(getattr(op, "customerio_track_conn_id", None) or "customerio_track_default")
    brevo = str(getattr(op, "brevo_conn_id", None) or "brevo_default")
    if capability == "people":
        return Lineage((customerio_uri(cio, "people"),), (brevo_uri(brevo, "contacts"),))
    if capability == "reverse":
        return Lineage((brevo_uri(brevo, "contacts"),), (customerio_uri(track, "people"),))
    if capability == "segments":
        seg, lst = _id(getattr(op, "segment_id", None)), _id(getattr(op, "list_id", None))
        return Lineage(
            (customerio_uri(cio, "segments", seg) if seg else customerio_uri(cio, "segments"),),
            (brevo_uri(brevo, "lists", lst) if lst else brevo_uri(brevo, "lists"),),
        )
    if capability == "events":
        return Lineage((customerio_uri(cio, "events"),), (brevo_uri(brevo, "events"),))
    if capability == "campaign_metrics":
        table = str(getattr(op, "table", None) or "customerio_campaign_metrics")
        store = str(getattr(op, "sql_conn_id", None) or "customerio_sync_store")
        return Lineage((customerio_uri(cio, "campaigns"),), (f"customerio-sync-store://{store}/{table}",))
    if capability == "workflow":
        return Lineage((customerio_uri(cio, "people"),), (brevo_uri(brevo, "contacts"),))
    if capability == "objects":
        return Lineage((customerio_uri(cio, "objects"),), (brevo_uri(brevo, "objects"),))
    if capability == "objects_reverse":
        return Lineage((brevo_uri(brevo, "objects"),), (customerio_uri(track, "objects"),))
    raise ValueError(f"unknown capability {capability!r}")


def people_asset(conn_id: str = "customerio_app_default") -> Any:
    """The Asset of the Customer.io people a people sync reads (schedule a DAG on it to run after each sync)."""
    from airflow.sdk import Asset

    return Asset(customerio_uri(conn_id, "people"))


def brevo_contacts_asset(conn_id: str = "brevo_default") -> Any:
    """The Asset of the Brevo contacts the people sync writes."""
    from airflow.sdk import Asset

    return Asset(brevo_uri(conn_id, "contacts"))


def asset_uris(capability: str, op: Any) -> list[str]:
    """The URIs a sync task updates (its outlets). A people sync also marks the Customer.io people as synced
    (``customerio://…/people``: schedule on it to run after each people sync); its ``extract`` step alone
    writes nothing and has none."""
    lineage = lineage_of(capability, op)
    if capability == "people":
        if str(getattr(op, "step", "all")).strip() == "extract":
            return []
        return [*lineage.inputs, *lineage.outputs]
    return list(lineage.outputs)


def declare_outlets(op: Any, capability: str) -> None:
    """Give the operator an Asset per updated URI, unless the DAG set its outlets."""
    if getattr(op, "outlets", None):
        return
    from airflow.sdk import Asset

    op.outlets = [Asset(uri) for uri in asset_uris(capability, op)]


def emit_asset_events(context: Mapping[str, Any], summary: Mapping[str, Any]) -> None:
    """Put the run summary as ``extra`` on the asset events of the task's outlets (never fails the task)."""
    task = context.get("task")
    outlet_events = context.get("outlet_events")
    if task is None or outlet_events is None:
        return
    extra = {k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool, type(None), dict, list))}
    for outlet in getattr(task, "outlets", None) or []:
        try:
            outlet_events[outlet].extra.update(extra)
        except Exception as exc:  # an outlet that is not an Asset, an event accessor of another Airflow version
            log.debug("No asset event extra for %r: %s", outlet, exc)


def _attributes(op: Any, capability: str) -> list[tuple[str, str]]:
    """The mapped attributes (Brevo name, type) of a people-like sync, from the config; empty when unreadable."""
    if capability not in ("people", "reverse", "workflow"):
        return []
    try:
        from airflow_provider_customerio.runs.settings import load_customerio_config

        config = load_customerio_config(getattr(op, "config_path", None))
    except Exception:
        return []
    return [(f.target, f.create_type) for f in config.field_mapping]


class LineageMixin:
    """OpenLineage for the sync operators: inputs and outputs by vendor URI, row counts, mapped attributes.

    The operator sets :attr:`lineage_capability`; the run summary comes from :data:`SUMMARY_ATTR` (set where the
    summary is recorded).
    """

    lineage_capability: str = ""

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The OpenLineage facets of the finished task (``None`` without the OpenLineage provider)."""
        try:
            from airflow.providers.common.compat.openlineage.facet import (
                InputDataset,
                OutputDataset,
                OutputStatisticsOutputDatasetFacet,
                SchemaDatasetFacet,
                SchemaDatasetFacetFields,
            )
            from airflow.providers.openlineage.extractors import OperatorLineage
        except ImportError:
            return None
        lineage = lineage_of(self.lineage_capability, self)
        summary: Mapping[str, Any] = getattr(self, SUMMARY_ATTR, None) or {}
        attrs = _attributes(self, self.lineage_capability)

        def dataset(uri: str, *, output: bool) -> Any:
            scheme, rest = uri.split("://", 1)
            conn, _, name = rest.partition("/")
            facets: dict[str, Any] = {}
            if attrs:
                facets["schema"] = SchemaDatasetFacet(
                    fields=[SchemaDatasetFacetFields(name=n, type=t) for n, t in attrs]
                )
            if not output:
                return InputDataset(namespace=f"{scheme}://{conn}", name=name, facets=facets)
            written = sum(int(summary.get(k) or 0) for k in ("created", "updated", "deleted"))
            out_facets: dict[str, Any] = {"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=written)}
            return OutputDataset(namespace=f"{scheme}://{conn}", name=name, facets=facets, outputFacets=out_facets)

        return OperatorLineage(
            inputs=[dataset(u, output=False) for u in lineage.inputs],
            outputs=[dataset(u, output=True) for u in lineage.outputs],
        )


__all__ = [
    "Lineage",
    "LineageMixin",
    "brevo_contacts_asset",
    "brevo_uri",
    "customerio_uri",
    "asset_uris",
    "declare_outlets",
    "emit_asset_events",
    "lineage_of",
    "people_asset",
]
