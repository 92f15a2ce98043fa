"""A throwaway PostgreSQL server for tests, started from the local server binaries.

``start_postgres()`` runs ``initdb`` into a fresh temporary folder, starts the server on a
unix socket in that folder only (no TCP), and stops it and deletes the folder on exit.
PostgreSQL refuses to run as root, so as root the binaries run as the ``postgres`` system user.
Missing binaries are an error naming ``make system-deps``, never a skip.

Use it through a session fixture::

    @pytest.fixture(scope="session")
    def postgres_server():
        with start_postgres() as server:
            yield server

and ``server.create_database()`` for a fresh, empty database (a SQLAlchemy URL) per test.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SERVER_USER = "postgres"  # system user the server runs as when we are root
PORT = 5432  # only names the socket file: the server listens on no TCP address
START_TIMEOUT_S = 30


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl (or fail)."""
    candidates = []
    for bindir in glob.glob("/usr/lib/postgresql/*/bin"):
        path = Path(bindir)
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            version = path.parent.name
            candidates.append((int(version) if version.isdigit() else 0, path))
    if not candidates:
        pytest.fail(
            "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb): "
            "run `make system-deps` (Debian package `postgresql`) to install them",
            pytrace=False,
        )
    return max(candidates)[1]


@dataclass
class PostgresServer:
    """A running server reachable only through the unix socket in ``socket_dir``."""

    socket_dir: Path
    port: int = PORT
    user: str = SERVER_USER
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    def url(self, dbname: str = "postgres") -> str:
        """The SQLAlchemy URL of database ``dbname`` on this server."""
        return f"postgresql+psycopg://{self.user}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a fresh name unless given) and return its URL."""
        import psycopg  # the driver of the `postgres`/`dev` extras

        name = name or f"foley_test_{next(self._counter)}"
        with psycopg.connect(
            dbname="postgres",
            user=self.user,
            host=str(self.socket_dir),
            port=self.port,
            autocommit=True,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def start_postgres() -> Iterator[PostgresServer]:
    """Start a throwaway server; stop it and delete its files on exit."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.fail(
            "the PostgreSQL driver psycopg is missing: pip install -e '.[dev]' (or `make install`)",
            pytrace=False,
        )
    bindir = find_bindir()
    as_root = os.geteuid() == 0
    if as_root and shutil.which("runuser") is None:
        pytest.fail("running as root needs `runuser` to start PostgreSQL as postgres", False)
    # /tmp rather than pytest's tmp_path: the server user must be able to reach the folder
    root = Path(tempfile.mkdtemp(prefix="foley-pg-", dir="/tmp" if as_root else None))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    if as_root:
        try:
            shutil.chown(root, SERVER_USER, SERVER_USER)
            shutil.chown(sockets, SERVER_USER, SERVER_USER)
        except (LookupError, PermissionError) as exc:
            shutil.rmtree(root, ignore_errors=True)
            pytest.fail(
                f"cannot hand {root} to the {SERVER_USER!r} user ({exc}); "
                "run `make system-deps` (Debian package `postgresql` creates that user)",
                pytrace=False,
            )

    def run(*args: str, timeout: float = START_TIMEOUT_S) -> None:
        cmd = [str(bindir / args[0]), *args[1:]]
        if as_root:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=root)
        if done.returncode != 0:
            output = done.stderr or done.stdout
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {output}")

    options = " ".join(
        [
            "-c listen_addresses=''",
            f"-c unix_socket_directories='{sockets}'",
            f"-p {PORT}",
            "-c fsync=off",  # a throwaway cluster: durability buys nothing here
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c max_connections=50",
        ]
    )
    try:
        run("initdb", "-D", str(data), "-A", "trust", "-U", SERVER_USER, "-E", "UTF8",
            "--locale=C", "--no-sync")  # fmt: skip
        run("pg_ctl", "start", "-D", str(data), "-w", "-t", str(START_TIMEOUT_S),
            "-l", str(root / "server.log"), "-o", options)  # fmt: skip
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        log = root / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        _stop(run, data)
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL from {bindir}: {exc}\n{tail}", pytrace=False)
    try:
        yield PostgresServer(socket_dir=sockets)
    finally:
        _stop(run, data)
        shutil.rmtree(root, ignore_errors=True)


def _stop(run: Callable[..., None], data: Path) -> None:
    if not (data / "postmaster.pid").exists():
        return
    with suppress(RuntimeError, subprocess.TimeoutExpired):
        run("pg_ctl", "stop", "-D", str(data), "-m", "immediate", "-w")
