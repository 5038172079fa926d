"""`geosip run --workers N` (geosip/cli/workers.py): several processes share the SIP
ports, every call completes, a worker that dies is replaced, and configurations that
would lose registrations between workers are refused at start."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Server
from ._proxy import HOST
from ._sipp import BENCH, Sipp

CALLS = 60

SCRIPT = """
function ksr_request_route()
  if KSR.maxfwd.process_maxfwd(10) < 0 then KSR.sl.sl_send_reply(483, "Too Many Hops") return end
  if KSR.siputils.has_totag() > 0 then
    if KSR.rr.loose_route() > 0 or KSR.is_ACK() then KSR.tm.t_relay() end
    return
  end
  KSR.rr.record_route()
  KSR.tm.t_relay()
end
"""


def workers_of(server: Server) -> list[int]:
    """The pids of the parent's children (the workers)."""
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
    return [int(pid) for pid in children.read_text().split()]


def start_workers(start: Callable[..., Server], tmp_path: Path, port: int,
                  *extra: str) -> Server:
    script = tmp_path / "workers.lua"
    script.write_text(SCRIPT)
    server = start("-c", str(script), "-l", f"udp:{HOST}:{port}", "-l", f"tcp:{HOST}:{port}",
                   "--workers", "2", *extra)
    server.wait_for_count("geosip ready", 2)
    return server


def calls_through(sipp: Callable[..., Sipp], free_port: Callable[..., int], port: int, log: list[str],
                  name: str) -> tuple[int, set[str]]:
    """CALLS calls from a caller with a socket per call (sipp -t un, as many phones);
    returns the successful calls and the Via sent-by ports geosip used towards the callee."""
    uas_port = free_port()
    uas = sipp(f"{name}-uas", BENCH / "uas.xml", port=uas_port, calls=CALLS)
    uas.start().wait_listening()
    uac = sipp(f"{name}-uac", BENCH / "uac.xml", port=free_port(), transport="un",
               calls=CALLS, rate=30, remote=f"{HOST}:{uas_port}", proxy=f"{HOST}:{port}",
               extra=["-max_socket", "200"]).run()
    seen = uas.wait()
    assert (uac.returncode, uac.successful, uac.failed) == (0, CALLS, 0), (
        uac.report() + "\n".join(log))
    ports = set()
    for invite in seen.received("INVITE"):
        top = invite.vias()[0]
        found = re.match(r"SIP/2\.0/UDP [\d.]+:(\d+)", top)
        assert found, top
        ports.add(found.group(1))
    return uac.successful, ports


def test_two_workers_share_the_port_and_every_call_completes(
        start: Callable[..., Server], sipp: Callable[..., Sipp],
        free_port: Callable[..., int], tmp_path: Path) -> None:
    port = free_port()
    server = start_workers(start, tmp_path, port)
    assert len(workers_of(server)) == 2
    ok, ports = calls_through(sipp, free_port, port, server.lines, "first")
    assert ok == CALLS
    # Each worker sends from a socket of its own: two sent-by ports, neither the shared
    # one, so responses return to the worker that holds the transaction.
    assert len(ports) == 2 and str(port) not in ports, ports

    # A worker that dies is replaced, and calls go on.
    victim = workers_of(server)[0]
    os.kill(victim, signal.SIGKILL)
    server.wait_for("starting it again")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = workers_of(server)
        if len(children) == 2 and victim not in children:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"no replacement worker: {workers_of(server)}")
    time.sleep(1.5)  # the new worker loads the script and binds
    ok, _ = calls_through(sipp, free_port, port, server.lines, "after")
    assert ok == CALLS

    workers = workers_of(server)
    assert server.stop() == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or \
            "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


def test_registrations_in_memory_are_refused_with_workers(
        start: Callable[..., Server], free_port: Callable[..., int], tmp_path: Path) -> None:
    script = tmp_path / "registrar.lua"
    script.write_text('geosip = { modules = { tm = {}, sl = {}, usrloc = { db_mode = 0 }, '
                      'registrar = {} } }\nfunction ksr_request_route() end\n')
    port = free_port()
    server = start("-c", str(script), "-l", f"udp:{HOST}:{port}", "--workers", "2")
    assert server.proc.wait(timeout=20) == 2
    line = server.wait_for("usrloc db_mode 3")
    assert line.startswith("geosip: ") and "each worker would know only its own" in line


def test_a_port_in_use_is_one_line(start: Callable[..., Server], free_port: Callable[..., int],
                                   tmp_path: Path) -> None:
    import socket
    port = free_port()
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind((HOST, port))
    try:
        script = tmp_path / "workers.lua"
        script.write_text(SCRIPT)
        server = start("-c", str(script), "-l", f"udp:{HOST}:{port}", "--workers", "2")
        assert server.proc.wait(timeout=20) == 1
        assert f"cannot listen on udp:{HOST}:{port}" in server.wait_for("cannot listen")
    finally:
        taken.close()
