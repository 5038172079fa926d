"""`geosip run` as a real process on loopback ports: start, answer, stop, refuse."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import BIN, START_TIMEOUT, Server, geosip_command


def options(host: str, port: int, transport: str) -> bytes:
    """A keep-alive OPTIONS to the server itself, as phones and sipp send."""
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return (f"OPTIONS sip:{hostport} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {hostport};branch=z9hG4bK-test-1;rport\r\n"
            f"From: <sip:probe@{hostport}>;tag=t1\r\nTo: <sip:{hostport}>\r\n"
            f"Call-ID: run-test-{transport}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n").encode()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_answers_and_stops(
    start: Callable[..., Server], free_port: Callable[..., int], tmp_path: Path, signum: int
) -> None:
    udp_port, tcp_port = free_port(), free_port()
    data_dir = tmp_path / "data"
    server = start(
        "-l", f"udp:127.0.0.1:{udp_port}", "-l", f"tcp:127.0.0.1:{tcp_port}",
        "--data-dir", str(data_dir),
    )
    server.wait_for(f"listening on udp:127.0.0.1:{udp_port}")
    server.wait_for(f"listening on tcp:127.0.0.1:{tcp_port}")
    server.wait_for("geosip ready")
    assert data_dir.is_dir()

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto(options("127.0.0.1", udp_port, "UDP"), ("127.0.0.1", udp_port))
        answer = udp.recv(65535)
        source_port = udp.getsockname()[1]
    assert answer.startswith(b"SIP/2.0 200 Keepalive\r\n")
    # RFC 3581 §4: with rport asked for, rport and received are both filled in
    assert b";rport=%d;received=127.0.0.1\r\n" % source_port in answer
    with socket.create_connection(("127.0.0.1", tcp_port), timeout=5) as tcp:
        tcp.sendall(options("127.0.0.1", tcp_port, "TCP"))
        answer = tcp.recv(65535)
    assert answer.startswith(b"SIP/2.0 200 Keepalive\r\n")
    assert server.stop(signum) == 0
    server.wait_for(f"stopping on {signal.Signals(signum).name}")


def test_ipv6_and_default_data_dir(
    start: Callable[..., Server], free_port: Callable[..., int], tmp_path: Path
) -> None:
    if not socket.has_ipv6:
        pytest.fail("this Python has no IPv6; the loopback ::1 is needed")
    port = free_port("::1")
    server = start("-l", f"udp:[::1]:{port}")
    server.wait_for(f"listening on udp:[::1]:{port}")
    server.wait_for("geosip ready")
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto(options("::1", port, "UDP"), ("::1", port))
        assert udp.recv(65535).startswith(b"SIP/2.0 200 Keepalive\r\n")
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
         "geosip: cannot listen on tls:127.0.0.1:5061: tls and wss listeners need "
         "tls_certificate and tls_private_key in the configuration"),
        (["--router", "nosuch"],
         "geosip: unknown router 'nosuch': use relay, forward or module:attribute"),
    ],
    ids=["missing-config", "config-is-dir", "tls-without-cert", "bad-router"],
)
def test_refused_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run(
        geosip_command("run", *args), cwd=tmp_path, capture_output=True, text=True,
        timeout=START_TIMEOUT,
    )
    assert (done.returncode, done.stderr, done.stdout) == (2, message + "\n", "")


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


@pytest.mark.parametrize("args, code, stderr", [
    ([], 2, "geosipctl: error: the following arguments are required: method, params\n"),
    (["core.uptime"], 1, "geosipctl: geosip is not running (no control socket at "
     "./geosip-data/geosip_ctl)\n"),
    (["-s", "/run/geosip.sock", "ul.dump"], 1,
     "geosipctl: geosip is not running (no control socket at /run/geosip.sock)\n"),
])
def test_geosipctl_without_a_server(tmp_path: Path, args: list[str], code: int,
                                    stderr: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "geosip.cli.ctl", *args], capture_output=True, text=True,
        timeout=60, cwd=tmp_path,
    )
    assert (done.returncode, done.stdout) == (code, "")
    assert done.stderr.endswith(stderr)


def test_database_defaults_to_sqlite_in_the_data_dir(
    start: Callable[..., Server], free_port: Callable[..., int], tmp_path: Path
) -> None:
    import sqlite3

    port = free_port()
    server = start("-l", f"udp:127.0.0.1:{port}", "--data-dir", str(tmp_path / "d"))
    server.wait_for("geosip ready")
    assert server.stop() == 0
    with sqlite3.connect(tmp_path / "d" / "geosip.sqlite") as db:  # created on first use
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
        versions = dict(db.execute("select table_name, table_version from version"))
    assert {"subscriber", "location", "domain", "version"} <= tables
    assert versions["subscriber"] == 7 and versions["location"] == 9  # Kamailio 5.6


@pytest.mark.parametrize(("url", "code", "message"), [
    ("mysql://x", 2, "geosip: bad database URL 'mysql://x': expected sqlite:///PATH"),
    ("postgres://geosip:secret@127.0.0.1:1/nodb", 1,
     "geosip: database unavailable at postgres://geosip:***@127.0.0.1:1/nodb: "),
], ids=["bad-url", "postgres-down"])
def test_database_errors_are_one_line(tmp_path: Path, free_port: Callable[..., int],
                                      url: str, code: int, message: str) -> None:
    done = subprocess.run(geosip_command("run", "-l", f"udp:127.0.0.1:{free_port()}",
                                         "--db", url), cwd=tmp_path,
                          capture_output=True, text=True, timeout=START_TIMEOUT)
    assert done.returncode == code
    assert done.stderr.splitlines()[-1].startswith(message)
    assert "secret" not in done.stderr  # the password is masked


def test_runs_on_postgresql(start: Callable[..., Server], free_port: Callable[..., int],
                            postgres_url: str) -> None:
    init = subprocess.run([str(BIN / "geosipctl"), "--db", postgres_url, "db", "init"],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    server = start("-l", f"udp:127.0.0.1:{free_port()}", "--db", postgres_url)
    server.wait_for(f"INFO geosip: database {postgres_url}")  # no password to mask here
    server.wait_for("geosip ready")
    assert "lacks" not in "\n".join(server.lines)
    assert server.stop() == 0
