"""Fixtures of the integration tests: `geosip run` as a real process."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.lines import ProcessLines
from tests.support.scripts import open_default

from ._proxy import HOST, Proxy
from ._sipp import Sipp

BIN = Path(sys.executable).parent
START_TIMEOUT = 20.0  # seconds; gevent's import and monkey-patching take about one


def geosip_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "geosip.cli.main", *args]


class Server(ProcessLines):
    """A running `geosip run`, its stderr read line by line by a thread."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        super().__init__(subprocess.Popen(
            geosip_command("run", *args), cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ), "geosip")

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> str:
        return super().wait_for(text, timeout)

    def wait_for_count(self, text: str, count: int, timeout: float = START_TIMEOUT) -> None:
        super().wait_for_count(text, count, timeout)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=START_TIMEOUT)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(*args: str) -> Server:
        servers.append(Server(list(args), tmp_path))
        return servers[-1]

    yield start
    for server in servers:  # a failed test must not leave a server behind
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


# ---- geosip as a proxy between peers, and sipp (test_proxy_*.py) ----------------------

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def proxy(start: Callable[..., Server], free_port: Callable[..., int],
          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Proxy]:
    """Returns proxy(*args, tls_port=None, ws_port=None) -> Proxy: `geosip run` with
    `args` on udp and tcp (one port), plus tls/ws when given, once it is ready. Without
    -c or --router: default.lua without authentication (tests/support/scripts.py)."""
    # --router tests.integration.routers:NAME imports from the work tree.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))

    def make(*args: str, tls_port: int | None = None, ws_port: int | None = None) -> Proxy:
        if not {"-c", "--router"} & set(args):
            # scripts/default.lua authenticates and refuses to relay between strangers
            # (403); these tests drive the core with peers that are strangers.
            args = ("-c", str(open_default(tmp_path)), *args)
        port = free_port()
        listen = ["-l", f"udp:{HOST}:{port}", "-l", f"tcp:{HOST}:{port}"]
        ports = {}
        if tls_port:
            listen += ["-l", f"tls:{HOST}:{tls_port}"]
            ports["tls"] = tls_port
        if ws_port:
            listen += ["-l", f"ws:{HOST}:{ws_port}"]
            ports["ws"] = ws_port
        server = start(*listen, *args)
        server.wait_for("geosip ready")
        return Proxy(server, port, ports)

    return make


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[Callable[..., Sipp]]:
    """Returns sipp(name, scenario, port=..., ...) -> Sipp (see _sipp.py); every sipp
    it made is killed at the end of the test, passed or failed."""
    peers: list[Sipp] = []

    def make(name: str, scenario: Path, **kwargs: object) -> Sipp:
        peers.append(Sipp(name, scenario, tmp_path / "sipp", **kwargs))  # type: ignore[arg-type]
        return peers[-1]

    yield make
    for peer in peers:
        peer.kill()


# -- PostgreSQL: a throwaway cluster for the session (STACK-NOTES.md §6) ---------------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "geosip"
PG_DBNAME = "geosip_test"


class PgCluster:
    """A throwaway PostgreSQL 15 cluster (initdb in a scratch dir under /tmp) that a
    test may stop and start again (a database outage). As root, initdb/pg_ctl run as
    user postgres on a data dir chowned to it. Fails (never skips) without the
    binaries: `make test` installs them (.ci/install-peers)."""

    def __init__(self) -> None:
        import shutil
        import tempfile

        from tests.conftest import _free_port

        missing = [b for b in ("initdb", "pg_ctl") if not (PG_BIN / b).exists()]
        if missing:
            pytest.fail(f"PostgreSQL 15 missing ({', '.join(missing)} not in {PG_BIN}): "
                        "run `make test` (installs the postgresql package) or "
                        ".ci/install-peers")
        # /tmp and not tmp_path: pytest's base dir is private to root, postgres cannot
        # enter it.
        self.scratch = Path(tempfile.mkdtemp(prefix="geosip-pg-"))
        self.data, self.sock = self.scratch / "data", self.scratch / "sock"
        self.sock.mkdir()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.scratch, "postgres", "postgres")
            shutil.chown(self.sock, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = _free_port()
        self.url = f"postgres://{PG_USER}@127.0.0.1:{self.port}/{PG_DBNAME}"
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", PG_USER,
                  "--no-sync")
        self.start()
        self._run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                  PG_USER, PG_DBNAME)

    def _run(self, *cmd: str) -> None:
        done = subprocess.run([*self.as_user, *cmd], capture_output=True, text=True,
                              timeout=120, cwd=self.scratch)
        if done.returncode:
            pytest.fail(f"{' '.join(cmd)} failed ({done.returncode}):\n"
                        f"{done.stdout}{done.stderr}")

    def start(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.scratch / "log"), "-w", "-o",
                  f"-k {self.sock} -p {self.port} -c listen_addresses=127.0.0.1 "
                  "-c fsync=off", "start")

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        import shutil

        subprocess.run([*self.as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m",
                        "fast", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """postgres://geosip@127.0.0.1:PORT/geosip_test on a fresh cluster for the session."""
    cluster = PgCluster()
    try:
        yield cluster.url
    finally:
        cluster.remove()


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A cluster of this test's own, which it may stop() and start() (an outage)."""
    cluster = PgCluster()
    try:
        yield cluster
    finally:
        cluster.remove()


_PG_NAMES = itertools.count()


def fresh_pg_database(postgres_url: str, prefix: str = "t") -> str:
    """The URL of a new, empty database on the session's cluster (postgres_url), so
    that every test starts without tables or rows of another."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    name = f"{prefix}_{os.getpid()}_{next(_PG_NAMES)}"
    with psycopg.connect(postgres_url.replace("postgres://", "postgresql://"),
                         autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))
