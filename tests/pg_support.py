"""A throwaway PostgreSQL server for the tests: initdb into a new temporary
directory, listening only on a Unix socket there, fsync and
synchronous_commit on (the defaults, stated), stopped and removed after.

PostgreSQL refuses to run as root, and CI runs as root: then the server
runs as the `postgres` system user (Debian's package makes it) or, failing
that, `nobody`, through `runuser`, in a directory that user owns. The
tests connect over the socket as the cluster's superuser `dvr`, with trust
authentication, which only processes on this machine that can reach the
socket directory can use.

No PostgreSQL binaries is a failure, not a skip: .ci/run installs them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

SUPERUSER = "dvr"
SHARED_DATABASE = "dvr_schemas"  # new_schema's
PORT = 5432  # only names the socket file (.s.PGSQL.5432): every cluster has its own directory


def bindir() -> Path:
    """Where initdb, pg_ctl and postgres are: `pg_config --bindir`, else the
    newest /usr/lib/postgresql/*/bin. Fails the test when neither has them."""
    candidates: list[Path] = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10, check=True)
        candidates.append(Path(out.stdout.strip()))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    candidates += [Path(p) for p in versions]
    for path in candidates:
        if all((path / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return path
    pytest.fail(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found via pg_config or in /usr/lib/postgresql/*/bin;"
        " install Debian's postgresql package (.ci/run does)"
    )


def _server_user() -> str | None:
    """The user to run the server as when we are root (None: ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    pytest.fail("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as")


class PgCluster:
    """One PostgreSQL cluster in its own temporary directory.

    `settings` are extra postgresql.conf lines (a replica's, for instance)."""

    def __init__(self, name: str = "pg", settings: dict[str, str] | None = None, *, init: bool = True) -> None:
        self.bin = bindir()
        self.user = _server_user()
        self.root = Path(tempfile.mkdtemp(prefix=f"dvr-{name}-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self.logfile = self.root / "server.log"
        self._shared_made = False  # new_schema's database
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o755)  # the tests (root or the owner) reach the socket; the data directory stays 0700
        if init:
            self.run(
                "initdb",
                "-D",
                self.data,
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-instructions",
            )
            self.configure(
                {
                    "listen_addresses": "''",
                    "unix_socket_directories": f"'{self.socket_dir}'",
                    "port": str(PORT),
                    "fsync": "on",
                    "synchronous_commit": "on",
                    "full_page_writes": "on",
                    "max_connections": "100",
                    "shared_buffers": "32MB",
                    "logging_collector": "off",
                    "log_min_messages": "warning",
                    **(settings or {}),
                }
            )

    # -- plumbing --------------------------------------------------------

    def run(self, tool: str, *args: Any, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool as the server's user."""
        argv = [str(self.bin / tool), *map(str, args)]
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{tool} failed ({proc.returncode}): {proc.stderr.strip()}\n{self.server_log()}")
        return proc

    def configure(self, settings: dict[str, str]) -> None:
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")

    def server_log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # -- life --------------------------------------------------------------

    def start(self) -> PgCluster:
        self.run("pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        if self.pid() is not None:
            self.run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop", check=False)

    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def kill9(self) -> None:
        """SIGKILL the postmaster and every backend, as a crash of the host would."""
        pid = self.pid()
        if pid is None:
            return
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        for p in [pid, *map(int, children)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in [pid, *map(int, children)]):
            time.sleep(0.05)

    def promote(self) -> None:
        self.run("pg_ctl", "-D", self.data, "-w", "-t", "60", "promote")

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- addresses -----------------------------------------------------------

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.socket_dir} port={PORT} user={SUPERUSER} dbname={dbname}"

    def url(self, dbname: str) -> str:
        """The URL an intake is given (`--store`), over the Unix socket."""
        return f"postgresql:///{dbname}?host={self.socket_dir}&port={PORT}&user={SUPERUSER}"

    def sql(self, statement: str, dbname: str = "postgres") -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.conninfo(dbname), autocommit=True) as conn:
            cur = conn.execute(statement.encode())
            return cur.fetchall() if cur.description else []

    def new_database(self) -> str:
        """A new empty database's URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def new_schema(self) -> str:
        """The URL of a new, empty schema in one database the tests share:
        its sessions make and see their tables there (search_path). Far
        cheaper than a database (CREATE DATABASE copies a template: about a
        second on a busy machine), for the many tests that only need an
        empty store. Advisory locks are the database's: fine for tests that
        run one at a time."""
        if not self._shared_made:
            self.sql(f"CREATE DATABASE {SHARED_DATABASE}")
            self._shared_made = True
        name = "s_" + uuid.uuid4().hex[:12]
        self.sql(f"CREATE SCHEMA {name}", SHARED_DATABASE)
        return self.url(SHARED_DATABASE) + f"&options=-csearch_path%3D{name}"


def start_sync_standby(primary: PgCluster, name: str = "standby1", timeout: float = 30) -> PgCluster:
    """A hot standby of the running `primary`, streaming from it (a base
    backup with `pg_basebackup -R`, which writes primary_conninfo and
    standby.signal), listening on its own socket directory, and made the
    primary's one synchronous standby (synchronous_standby_names, reloaded):
    returned once pg_stat_replication on the primary shows it streaming
    with sync_state 'sync', so every commit from then on waits for it."""
    standby = PgCluster(name, init=False)
    source = f"{primary.conninfo()} application_name={name}"
    # --no-sync: the copy's files are not flushed (seconds on a slow disk);
    # the standby's server flushes the WAL it receives (fsync=on, copied).
    standby.run("pg_basebackup", "-D", standby.data, "-d", source, "-R", "-X", "stream", "-c", "fast", "--no-sync")
    standby.configure(
        {
            "unix_socket_directories": f"'{standby.socket_dir}'",  # the copied postgresql.conf names the primary's
            "hot_standby": "on",
            "cluster_name": f"'{name}'",
        }
    )
    standby.start()
    primary.configure({"synchronous_standby_names": f"'{name}'"})
    primary.run("pg_ctl", "-D", primary.data, "reload")
    deadline = time.monotonic() + timeout
    query = f"SELECT state, sync_state FROM pg_stat_replication WHERE application_name = '{name}'"  # noqa: S608
    while primary.sql(query) != [("streaming", "sync")]:
        if time.monotonic() > deadline:
            standby.remove()
            raise RuntimeError(
                f"{name} did not become a synchronous standby: {primary.sql(query)}\n{standby.server_log()}"
            )
        time.sleep(0.05)
    return standby


def failover_url(dbname: str, *clusters: PgCluster) -> str:
    """One URL naming every cluster's socket, for an intake that must follow
    the primary: libpq tries them in order and keeps the first that accepts
    writes (target_session_attrs=read-write), so a standby is passed over
    until it is promoted."""
    hosts = ",".join(str(c.socket_dir) for c in clusters)
    return f"postgresql:///{dbname}?host={hosts}&port={PORT}&user={SUPERUSER}&target_session_attrs=read-write"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours counts as gone
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return False


def database_of(url: str) -> str:
    """The database name in a URL made by PgCluster.url."""
    return url.split("///", 1)[1].split("?", 1)[0]
