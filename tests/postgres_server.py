"""A throw-away PostgreSQL cluster on 127.0.0.1 for the tests that need a real server (the system tier's Airflow
metadata DB, the metrics store's SQL). It uses the machine's PostgreSQL server binaries (Debian package
``postgresql``; ``.ci/run`` installs it when missing)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries, or the cluster could not start; the message says which."""


def pg_bin() -> Path | None:
    """The directory holding initdb, pg_ctl and psql, if any."""
    candidates = [os.environ.get("CIO_TEST_PG_BIN", "")] + sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for c in candidates:
        if c and all((Path(c) / tool).exists() for tool in ("initdb", "pg_ctl", "psql")):
            return Path(c)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("psql") and shutil.which("pg_ctl") else None


@dataclass
class PostgresServer:
    """A running cluster: superuser ``cio`` (trust auth) on ``127.0.0.1:port``."""

    bin_dir: Path
    port: int
    as_user: list[str]

    def psql(self, sql: str, database: str = "postgres") -> list[list[str]]:
        out = subprocess.run(
            [
                *self.as_user,
                str(self.bin_dir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "cio",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-F",
                "|",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode != 0:
            raise AssertionError(f"psql failed: {out.stderr}\nSQL: {sql}")
        return [line.split("|") for line in out.stdout.splitlines() if line]

    def url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://cio@127.0.0.1:{self.port}/{database}"


@contextmanager
def temporary_postgres() -> Iterator[PostgresServer]:
    """Start a cluster in a temporary folder, yield it, stop and delete it.

    :raises PostgresUnavailable: when it cannot be started here.
    """
    bin_dir = pg_bin()
    if bin_dir is None:
        raise PostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl, psql) on this machine")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        import pwd

        runuser = shutil.which("runuser")
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            runuser = None
        if runuser is None:
            raise PostgresUnavailable("running as root without a 'postgres' user to start a PostgreSQL cluster")
        as_user = [runuser, "-u", "postgres", "--"]
    tmp = Path(tempfile.mkdtemp(prefix="cio-pg-"))
    if as_user:
        shutil.chown(tmp, user="postgres")
    data = tmp / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        subprocess.run(
            [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "cio", "-A", "trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *as_user,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-l",
                str(tmp / "log"),
                "-o",
                f"-h 127.0.0.1 -p {port} -k {tmp} -c max_connections=200",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        detail = getattr(exc, "stderr", b"") or b""
        raise PostgresUnavailable(f"no PostgreSQL server could be started here: {exc} {detail[-300:]!r}") from exc
    try:
        yield PostgresServer(bin_dir, port, as_user)
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(tmp, ignore_errors=True)
