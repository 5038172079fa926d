"""Fixtures of the integration tests: `geosip run` as a real process."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ._proxy import HOST, Proxy
from ._sipp import Sipp

BIN = Path(sys.executable).parent
START_TIMEOUT = 20.0  # seconds; gevent's import and monkey-patching take about one


def geosip_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "geosip.cli.main", *args]


class Server:
    """A running `geosip run`, its stderr read line by line by a thread."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            geosip_command("run", *args), cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> str:
        """The first line, seen before or within `timeout`, that contains `text`."""
        for line in self.lines:  # greenlets log in no fixed order: look back too
            if text in line:
                return line
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} from geosip; it said:\n" + "\n".join(self.lines))

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
          monkeypatch: pytest.MonkeyPatch) -> Callable[..., Proxy]:
    """Returns proxy(*args, tls_port=None, ws_port=None) -> Proxy: `geosip run` with
    `args` on udp and tcp (one port), plus tls/ws when given, once it is ready."""
    # --router tests.integration.routers:NAME imports from the work tree.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))

    def make(*args: str, tls_port: int | None = None, ws_port: int | None = None) -> Proxy:
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
