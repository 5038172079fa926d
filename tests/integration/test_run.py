"""`geosip run` as a real process on loopback ports (README, Status: count and drop)."""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_listens_counts_and_stops(
    start: Callable[..., Server], free_port: Callable[..., int], tmp_path: Path, signum: int
) -> None:
    udp_port, tcp_port = free_port(), free_port()
    data_dir = tmp_path / "data"
    server = start(
        "-l", f"udp:127.0.0.1:{udp_port}", "-l", f"tcp:127.0.0.1:{tcp_port}",
        "--data-dir", str(data_dir), "--log-level", "debug",
    )
    server.wait_for(f"listening on udp:127.0.0.1:{udp_port}")
    server.wait_for(f"listening on tcp:127.0.0.1:{tcp_port}")
    server.wait_for("routing is not built yet: received messages are counted and dropped")
    assert data_dir.is_dir()

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"OPTIONS sip:x SIP/2.0\r\n\r\n", ("127.0.0.1", udp_port))
    with socket.create_connection(("127.0.0.1", tcp_port), timeout=5) as tcp:
        tcp.sendall(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
        tcp.shutdown(socket.SHUT_WR)
        assert tcp.recv(1) == b""  # the server drops and closes at our EOF: nothing answered

    server.wait_for("dropped 25 bytes from udp:127.0.0.1:")
    server.wait_for("dropped 25 bytes from tcp:127.0.0.1:")
    assert server.stop(signum) == 0
    line = server.wait_for(f"stopping on {signal.Signals(signum).name}")
    assert "2 messages received and dropped" in line


def test_ipv6_and_default_data_dir(
    start: Callable[..., Server], free_port: Callable[..., int], tmp_path: Path
) -> None:
    if not socket.has_ipv6:
        pytest.fail("this Python has no IPv6; the loopback ::1 is needed")
    port = free_port("::1")
    server = start("-l", f"udp:[::1]:{port}", "--log-level", "debug")
    server.wait_for(f"listening on udp:[::1]:{port}")
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"x" * 7, ("::1", port))
    server.wait_for("dropped 7 bytes from udp:[::1]:")
    assert server.stop() == 0
    assert (tmp_path / "geosip-data").is_dir()


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_port_in_use(free_port: Callable[..., int], tmp_path: Path, proto: str) -> None:
    port = free_port()
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as holder:
        holder.bind(("127.0.0.1", port))
        if proto == "tcp":
            holder.listen()
        done = subprocess.run(
            geosip_command("run", "-l", f"{proto}:127.0.0.1:{port}"),
            cwd=tmp_path, capture_output=True, text=True, timeout=START_TIMEOUT,
        )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1:] == [
        f"geosip: cannot listen on {proto}:127.0.0.1:{port}: Address already in use"
    ]
    assert "listening on" not in done.stderr


def test_second_socket_in_use_closes_the_first(free_port: Callable[..., int], tmp_path: Path) -> None:
    free, taken = free_port(), free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", taken))
        done = subprocess.run(
            geosip_command("run", "-l", f"udp:127.0.0.1:{free}", "-l", f"udp:127.0.0.1:{taken}"),
            cwd=tmp_path, capture_output=True, text=True, timeout=START_TIMEOUT,
        )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].endswith("Address already in use")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(("127.0.0.1", free))  # released: the process is gone, nothing half-open


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-c", "missing.lua"], "geosip: cannot read config missing.lua: No such file or directory"),
        (["-c", "."], "geosip: cannot read config .: Is a directory"),
        (["-l", "tls:127.0.0.1:5061"],
         "geosip: cannot listen on tls:127.0.0.1:5061: tls/ws/wss transports are not built yet"),
        (["-l", "wss:[::1]:443"],
         "geosip: cannot listen on wss:[::1]:443: tls/ws/wss transports are not built yet"),
    ],
    ids=["missing-config", "config-is-dir", "tls", "wss"],
)
def test_refused_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run(
        geosip_command("run", *args), cwd=tmp_path, capture_output=True, text=True,
        timeout=START_TIMEOUT,
    )
    assert (done.returncode, done.stderr, done.stdout) == (2, message + "\n", "")
    assert not (tmp_path / "geosip-data").exists()  # refused before touching anything


def test_bad_listen_spec_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        geosip_command("run", "-l", "udp:::1:5060"), cwd=tmp_path, capture_output=True,
        text=True, timeout=START_TIMEOUT,
    )
    assert done.returncode == 2
    assert "an IPv6 address needs brackets, as in udp:[::1]:5060" in done.stderr


def test_console_scripts() -> None:
    # The entry points of setup.py, as `make venv` installs them beside this Python.
    from geosip import __version__

    for name in ("geosip", "geosipctl"):
        script = BIN / name
        assert script.exists(), f"{script} missing: install geosip in this Python (make venv)"
        done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout) == (0, f"{name} {__version__}\n")


@pytest.mark.parametrize("args", [[], ["core.uptime"], ["-s", "/run/geosip.sock", "ul.dump"]])
def test_geosipctl_says_not_built(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "geosip.cli.ctl", *args], capture_output=True, text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "geosipctl: the control interface is not built yet (see README, Status)\n"
    )
