"""A throw-away PostgreSQL server for the tests: ``initdb`` in a temporary folder, a unix socket.

Debian's ``postgresql`` package (which ``./dev`` installs as root) puts the server binaries in
``/usr/lib/postgresql/<version>/bin``, off ``PATH``; :func:`find_bindir` looks there and on
``PATH``. The server listens on a unix socket in its own folder only (no TCP port, so no clash
with another server or test run), trusts local connections, and runs with ``fsync`` off: its
data is thrown away. PostgreSQL refuses to run as root, so a root test run starts it as
``nobody`` with the folder handed to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

USER = "autograde"  # the database superuser initdb makes
INSTALL_HINT = (
    "install Debian's postgresql package (./dev does so as root: apt-get install postgresql)"
)


def _version(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)


def find_bindir() -> tuple[Path | None, str]:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or ``None`` and why not."""
    candidates = []
    for name in ("pg_ctl", "initdb"):
        found = shutil.which(name)
        if found:
            candidates.append(Path(found).resolve().parent)
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True):
        candidates.append(Path(d))
    for d in candidates:
        if all(os.access(d / exe, os.X_OK) for exe in ("initdb", "pg_ctl", "postgres")):
            return d, ""
    return None, (
        "PostgreSQL's server binaries (initdb, pg_ctl, postgres) are not on PATH nor in "
        f"/usr/lib/postgresql/*/bin; {INSTALL_HINT}"
    )


class Server:
    """One PostgreSQL server in a temporary folder; :meth:`start`, :meth:`url`, :meth:`stop`."""

    def __init__(self, bindir: Path):
        self.bindir = Path(bindir)
        self._as: dict = {}
        owner = None
        if os.geteuid() == 0:  # postgres: "cannot be run as root"
            try:
                owner = pwd.getpwnam("nobody")
            except KeyError:
                raise RuntimeError(
                    "PostgreSQL refuses to run as root and this machine has no user 'nobody' "
                    "to run it as; run the tests as an unprivileged user"
                ) from None
            self._as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        self.base = Path(tempfile.mkdtemp(prefix="autograde-pg-"))
        if owner is not None:
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.version = ""

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {"PATH": f"{self.bindir}:/usr/bin:/bin", "LC_ALL": "C", "HOME": str(self.base)}
        proc = subprocess.run(
            [str(self.bindir / argv[0]), *argv[1:]],
            env=env,
            cwd=self.base,
            capture_output=True,
            text=True,
            timeout=timeout,
            **self._as,
        )
        if proc.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.is_file() else ""
            raise RuntimeError(
                f"{argv[0]} failed (exit {proc.returncode}): {proc.stdout}{proc.stderr}{log}"
            )
        return proc

    def start(self) -> Server:
        """``initdb`` and ``pg_ctl start``; raises ``RuntimeError`` with the server's words."""
        self.version = self._run("postgres", "--version").stdout.strip()
        self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
                  "--no-locale", "--no-sync")  # fmt: skip
        opts = f"-k {self.base} -c listen_addresses='' -F"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w",
                  "-t", "60", "start")  # fmt: skip
        return self

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for ``database`` through the socket folder (psycopg 3)."""
        return f"postgresql+psycopg://{USER}@/{database}?host={self.base}"

    def createdb(self, name: str) -> str:
        """Create database ``name``; returns its URL."""
        import psycopg

        with psycopg.connect(host=str(self.base), user=USER, dbname="postgres") as con:
            con.autocommit = True
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (immediately: its data is thrown away) and delete its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
