"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

In Airflow 3.3 the connection form is built only from this metadata (``conn-fields`` and
``ui-field-behaviour``); hook classes are imported lazily per connection type.
"""

from __future__ import annotations

import copy
from typing import Any

_COMMON_EXTRA_FIELDS: dict[str, dict[str, Any]] = {
    "rate_limit": {
        "label": "Rate limit (requests/s)",
        "description": "Client-side limit for each task using this connection. Leave empty for the vendor "
        "default; with N tasks sharing a pool of N slots, use limit / N.",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "timeout": {
        "label": "Timeout (s)",
        "description": "Seconds to wait for each request (default 30).",
        "schema": {"type": ["number", "null"], "minimum": 1},
    },
    "log_api_calls": {
        "label": "Log API calls",
        "description": "Log method, URL, status, duration and request id of every call, secrets redacted.",
        "schema": {"type": ["boolean", "null"], "default": False},
    },
}

_REGION_FIELD: dict[str, Any] = {
    "label": "Region",
    "description": "Data centre of the workspace: 'us' (fly.customer.io) or 'eu' (fly-eu.customer.io).",
    "schema": {"type": ["string", "null"], "enum": ["us", "eu", None], "default": "us"},
}


#: The provider info (``package-name`` equals the canonical distribution name).
PROVIDER_INFO: dict[str, Any] = {
    "package-name": "airflow-provider-customerio",
    "name": "Customer.io and Brevo",
    "description": "Sync a Customer.io workspace with a Brevo account: people both ways, events, "
    "campaign metrics, workflow state, segments and objects.",
    "integrations": [
        {
            "integration-name": "Customer.io",
            "external-doc-url": "https://docs.customer.io/api/",
            "tags": ["service"],
        },
        {
            "integration-name": "Brevo",
            "external-doc-url": "https://developers.brevo.com/",
            "tags": ["service"],
        },
    ],
    "hooks": [
        {
            "integration-name": "Customer.io",
            "python-modules": [
                "airflow_provider_customerio.hooks.customerio_track",
                "airflow_provider_customerio.hooks.customerio_app",
            ],
        },
        {"integration-name": "Brevo", "python-modules": ["airflow_provider_customerio.hooks.brevo"]},
        {
            "integration-name": "Customer.io",
            "python-modules": ["airflow_provider_customerio.hooks.customerio_webhook"],
        },
    ],
    "connection-types": [
        {
            "connection-type": "customerio_track",
            "hook-class-name": "airflow_provider_customerio.hooks.customerio_track.CustomerIOTrackHook",
            "hook-name": "Customer.io Track API",
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "port"],
                "relabeling": {"login": "Site ID", "password": "Track API key", "host": "Base URL"},
                "placeholders": {
                    "login": "Site ID from Settings > API credentials",
                    "password": "Track API key",
                    "host": "optional, default https://track.customer.io (or track-eu)",
                },
            },
            "conn-fields": {"region": _REGION_FIELD, **_COMMON_EXTRA_FIELDS},
        },
        {
            "connection-type": "customerio_app",
            "hook-class-name": "airflow_provider_customerio.hooks.customerio_app.CustomerIOAppHook",
            "hook-name": "Customer.io App API",
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "port", "login"],
                "relabeling": {"password": "App API key", "host": "Base URL"},
                "placeholders": {
                    "password": "App API key (Bearer)",
                    "host": "optional, default https://api.customer.io (or api-eu)",
                },
            },
            "conn-fields": {"region": _REGION_FIELD, **_COMMON_EXTRA_FIELDS},
        },
        {
            "connection-type": "brevo",
            "hook-class-name": "airflow_provider_customerio.hooks.brevo.BrevoHook",
            "hook-name": "Brevo",
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "port", "login"],
                "relabeling": {"password": "API key", "host": "Base URL"},
                "placeholders": {
                    "password": "xkeysib-...",
                    "host": "optional, default https://api.brevo.com/v3",
                },
            },
            "conn-fields": {
                "plan": {
                    "label": "Brevo plan",
                    "description": (
                        "The account's API limits (developers.brevo.com/docs/api-limits): 'general' 10 req/s on "
                        "contacts and events and 100/h on other endpoints, 'advanced' 20 and 200/h, 'extended' 60 "
                        "and 600/h. Rate limit and Other endpoints, when set, override it."
                    ),
                    "schema": {
                        "type": ["string", "null"],
                        "enum": ["general", "advanced", "extended", None],
                        "default": "general",
                    },
                },
                **_COMMON_EXTRA_FIELDS,
                "other_requests_per_hour": {
                    "label": "Other endpoints (requests/h)",
                    "description": (
                        "Budget for /processes, /objects and /account, per account across every task (default: the "
                        "plan's 100, 200 or 600 per hour)."
                    ),
                    "schema": {"type": ["number", "null"], "minimum": 0},
                },
                "notify_url": {
                    "label": "Notice URL (api-server)",
                    "description": (
                        "Public base URL of this provider on the Airflow api-server, e.g. "
                        "https://airflow.example.com/customerio. Brevo then calls it when an import ends, instead "
                        "of being polled. Empty: poll."
                    ),
                    "schema": {"type": ["string", "null"]},
                },
                "notify_deadline": {
                    "label": "Notice deadline (s)",
                    "description": "Seconds to wait for Brevo's notice before polling the import.",
                    "schema": {"type": ["number", "null"], "exclusiveMinimum": 0, "default": 900},
                },
                "max_imports_in_flight": {
                    "label": "Imports in flight at most",
                    "description": (
                        "Brevo imports running at once for this account, across every task and machine (Brevo: "
                        "one at a time; imports sent together get stuck). The next waits for a slot."
                    ),
                    "schema": {"type": ["integer", "null"], "minimum": 1, "default": 1},
                },
                "import_slot_ttl": {
                    "label": "Import slot TTL (s)",
                    "description": "Seconds the import slot of a task that died stays held before others may take it.",
                    "schema": {"type": ["number", "null"], "minimum": 30, "default": 600},
                },
            },
        },
        {
            "connection-type": "customerio_webhook",
            "hook-class-name": "airflow_provider_customerio.hooks.customerio_webhook.CustomerIOWebhookHook",
            "hook-name": "Customer.io reporting webhook",
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "port", "login", "host"],
                "relabeling": {"password": "Signing key"},
                "placeholders": {"password": "Reporting webhook signing key"},
            },
            "conn-fields": {
                "previous_signing_key": {
                    "label": "Previous signing key",
                    "description": "Also accepted while you rotate the key.",
                    "schema": {"type": ["string", "null"], "format": "password"},
                },
                "store_conn_id": {
                    "label": "Event store connection",
                    "description": "Airflow SQL connection of the event store (default: a SQLite file).",
                    "schema": {"type": ["string", "null"]},
                },
                "store_path": {
                    "label": "SQLite store path",
                    "description": "File of the default SQLite event store (must be shared with the workers).",
                    "schema": {"type": ["string", "null"]},
                },
            },
        },
    ],
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider info dict (a deep copy of :data:`PROVIDER_INFO`: callers may change it)."""
    return copy.deepcopy(PROVIDER_INFO)
