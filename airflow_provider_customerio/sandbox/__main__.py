"""``python -m airflow_provider_customerio.sandbox``: serve the sandbox until SIGTERM/SIGINT.

When ready it writes ONE JSON object (see ``server.build_info``) to ``--info-file`` or stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import tempfile
from types import FrameType
from typing import TYPE_CHECKING, Any

from airflow_provider_customerio.sandbox.context import SandboxContext
from airflow_provider_customerio.sandbox.server import (
    _NotifyingServer,
    build_info,
    create_app,
    make_socket,
    uvicorn_config,
)

if TYPE_CHECKING:
    import threading

    import uvicorn


class _InfoServer(_NotifyingServer):
    """Writes the info JSON once the socket accepts connections."""

    def __init__(
        self, config: uvicorn.Config, ready: threading.Event, info: dict[str, Any], info_file: str | None
    ) -> None:
        super().__init__(config, ready)
        self._info = info
        self._info_file = info_file

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn re-raises a captured signal after its graceful shutdown (exit status -15); SIGTERM is the
        # documented way to stop the sandbox, so it is handled here and the process exits with status 0.
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        text = json.dumps(self._info)
        if self._info_file:
            # write-then-rename so a reader never sees a half-written file
            directory = os.path.dirname(os.path.abspath(self._info_file))
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".sandbox-info-")
            with os.fdopen(fd, "w") as fh:
                fh.write(text + "\n")
            os.replace(tmp, self._info_file)
        else:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()


def add_processing_arguments(parser: argparse.ArgumentParser) -> None:
    """How long Brevo imports and Customer.io exports take (the start state; ``/_sandbox`` can change it)."""
    group = parser.add_argument_group("background processing (defaults: the sandbox's, see docs/architecture.md)")
    group.add_argument(
        "--import-rate",
        type=float,
        default=None,
        metavar="ROWS_PER_S",
        help="Brevo import rows processed per second (default 20000; 0 = poll-driven)",
    )
    group.add_argument(
        "--import-queue-s",
        type=float,
        default=None,
        metavar="S",
        help="seconds an import waits before it starts (default 0.2)",
    )
    group.add_argument(
        "--parallel-imports",
        action="store_true",
        help="process an account's imports in parallel (default: one after the other)",
    )
    group.add_argument(
        "--export-rate",
        type=float,
        default=None,
        metavar="PEOPLE_PER_S",
        help="Customer.io export people per second (default 20000; 0 = poll-driven)",
    )
    group.add_argument(
        "--export-queue-s",
        type=float,
        default=None,
        metavar="S",
        help="seconds an export waits before it starts (default 0.2)",
    )


def processing_settings(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """The processing flags as settings (``rate_per_s``, ``queue_s``, ``serial``, ``export_*``)."""
    out: dict[str, Any] = {}
    for flag, key, rate in (
        ("import_rate", "rate_per_s", True),
        ("import_queue_s", "queue_s", False),
        ("export_rate", "export_rate_per_s", True),
        ("export_queue_s", "export_queue_s", False),
    ):
        value = getattr(args, flag)
        if value is None:
            continue
        if value < 0:
            parser.error(f"--{flag.replace('_', '-')}: must be >= 0")
        out[key] = (value or None) if rate else value
    if args.parallel_imports:
        out["serial"] = False
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_customerio.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 = pick a free one; see the info JSON)")
    parser.add_argument("--seed-people", type=int, default=0, help="seed N Customer.io people (deterministic)")
    parser.add_argument("--info-file", default=None, help="write the info JSON here instead of stdout")
    parser.add_argument("--no-rate-limits", action="store_true", help="start with vendor rate limits disabled")
    add_processing_arguments(parser)
    args = parser.parse_args(argv)
    if args.seed_people < 0:
        parser.error("--seed-people: must be >= 0")
    processing = processing_settings(parser, args)
    try:
        sock = make_socket(args.host, args.port)
    except (ValueError, OSError) as exc:
        parser.error(f"--host/--port: {exc}")
    ctx = SandboxContext(seed_people=args.seed_people, rate_limits=not args.no_rate_limits, processing=processing)
    ctx.reset()
    info = build_info(args.host, sock.getsockname()[1], ctx)
    ctx.info = info
    import threading

    server = _InfoServer(uvicorn_config(create_app(ctx)), threading.Event(), info, args.info_file)
    # uvicorn installs SIGTERM/SIGINT handlers in the main thread and shuts down gracefully.
    asyncio.run(server.serve(sockets=[sock]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
