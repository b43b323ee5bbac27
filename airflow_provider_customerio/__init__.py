"""Apache Airflow provider connecting a Customer.io workspace to a Brevo account."""

from __future__ import annotations

__all__ = ["__version__"]

try:  # the installed distribution is the single source of the version
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("airflow-provider-customerio")
except PackageNotFoundError:  # pragma: no cover - running from a source tree that is not installed
    __version__ = "0.0.0.dev0"
