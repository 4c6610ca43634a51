"""A throwaway PostgreSQL + PostGIS cluster for the test run: ``initdb`` and ``pg_ctl`` in a temporary folder.

The cluster listens on 127.0.0.1 on a free port with trust authentication, has ``fsync`` off (it is thrown
away), and is stopped and deleted at the end of the session. As root (CI), the server runs as the ``postgres``
system user, since PostgreSQL refuses to run as root.

Without the server binaries the tests that need it skip; ``./scripts/test`` installs them and sets
``RASTERCOVER_NO_SKIP=1``, under which a skip is a failure (``tests/conftest.py``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass

__all__ = ["Cluster", "find_bindir", "start_cluster"]


def find_bindir() -> str | None:
    """The newest PostgreSQL server binary folder that has PostGIS installed, or None."""
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True):
        version = bindir.split("/")[-2]
        if os.path.exists(os.path.join(bindir, "initdb")) and glob.glob(
            f"/usr/share/postgresql/{version}/extension/postgis.control"
        ):
            return bindir
    return None


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    """A running cluster: ``url(dbname)`` gives a libpq URL; ``stop()`` ends and deletes it."""

    bindir: str
    root: str
    port: int
    runas: list[str]

    def url(self, dbname: str = "rastercover") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.runas, *args], check=True, capture_output=True, text=True)

    def stop(self) -> None:
        try:
            self._run(
                os.path.join(self.bindir, "pg_ctl"),
                "-D",
                os.path.join(self.root, "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            )
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(dbname: str = "rastercover") -> Cluster:
    """Start a cluster with database ``dbname`` having the postgis and postgis_raster extensions."""
    bindir = find_bindir()
    if bindir is None:
        raise FileNotFoundError(
            "PostgreSQL with PostGIS is not installed (Debian: apt-get install postgresql-15-postgis-3)"
        )
    root = tempfile.mkdtemp(prefix="rastercover-pg-")
    runas: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        os.chmod(root, 0o700)
        runas = ["runuser", "-u", "postgres", "--"]
    data, sock = os.path.join(root, "data"), root
    cluster = Cluster(bindir, root, 0, runas)  # its port is picked once initdb is done
    try:
        cluster._run(
            os.path.join(bindir, "initdb"),
            "-D",
            data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        )
        for attempt in range(3):  # the free port is picked now, after initdb; taken meanwhile, another one
            cluster.port = port = _free_port()
            options = (
                f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
                "-c synchronous_commit=off -c max_connections=40 -c shared_buffers=128MB"
            )
            try:
                cluster._run(os.path.join(bindir, "pg_ctl"), "-D", data, "-o", options, "-l",
                             os.path.join(root, "log"), "-w", "start")  # fmt: skip
                break
            except subprocess.CalledProcessError:
                if attempt == 2 or "could not bind" not in _read(os.path.join(root, "log")):
                    raise
        import psycopg

        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        with psycopg.connect(cluster.url(dbname), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
            conn.execute("CREATE EXTENSION postgis_raster")
    except BaseException:
        log = os.path.join(root, "log")
        if os.path.exists(log):
            print(open(log).read()[-3000:])
        cluster.stop()
        raise
    return cluster
