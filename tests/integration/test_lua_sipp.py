"""`geosip run -c proxy.lua`: the real process routed by a Kamailio KEMI script
(tests/integration/scripts/proxy.lua), driven by sipp and by raw datagrams.

- Calls refused by their callee fail over (t_on_failure, t_relay in the failure
  route) to a second callee, and the dialog then follows the record-routed path.
- 200 calls whose route sleeps 200 ms (KSR.async.ms_sleep) all complete, and far
  faster than one after the other.
- A route that loops, eats memory or fails answers 500 and the server goes on.
- SIGHUP reloads the script; a broken one is refused and the old one keeps serving.
- A script that does not load stops `geosip run` with one line naming file and line.

The script is copied into the test's folder (the server's working directory) and
given by its short name, so error messages name `proxy.lua:<line>`.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ._proxy import HOST, Proxy
from ._sipp import BENCH, SCENARIOS, Sipp, SippResult
from .conftest import START_TIMEOUT, geosip_command

SCRIPT = Path(__file__).resolve().parent / "scripts" / "proxy.lua"


@pytest.fixture
def lua_proxy(proxy: Callable[..., Proxy], tmp_path: Path) -> Callable[..., Proxy]:
    def make(*args: str) -> Proxy:
        shutil.copy(SCRIPT, tmp_path / "proxy.lua")
        return proxy("-c", "proxy.lua", *args)
    return make


def with_header(folder: Path, name: str, header: str) -> Path:
    """bench/sipp/uac.xml with one more header line in its INVITE."""
    text = (BENCH / "uac.xml").read_text()
    anchor = "Subject: geosip bench\n"
    assert anchor in text, "bench/sipp/uac.xml changed: update this test"
    target = folder / name
    target.write_text(text.replace(anchor, anchor + f"      {header}\n", 1))
    return target


def report(p: Proxy, *results: SippResult) -> str:
    return "\n\n".join([*(r.report() for r in results), "==== geosip log:", p.log()[-20000:]])


def options(port: int, extra: str = "", n: int = 1, uri: str | None = None) -> bytes:
    target = uri or f"sip:{HOST}:{port}"
    return (f"OPTIONS {target} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:9;branch=z9hG4bK-lua-{n};rport\r\n"
            f"From: <sip:probe@{HOST}>;tag=t{n}\r\nTo: <{target}>\r\n"
            f"Call-ID: lua-test-{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            f"{extra}Content-Length: 0\r\n\r\n").encode()


def ask(p: Proxy, data: bytes, timeout: float = 10.0) -> str:
    """Send one datagram to the proxy; the status line of the first answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(timeout)
        udp.sendto(data, (HOST, p.port))
        return udp.recv(65535).split(b"\r\n", 1)[0].decode()


def test_failover_to_a_second_callee(
    lua_proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
    tmp_path: Path,
) -> None:
    calls = 10
    p = lua_proxy()
    busy_port, backup_port = free_port(), free_port()
    busy = sipp("busy", SCENARIOS / "reject_uas.xml", port=busy_port, calls=calls)
    backup = sipp("backup", BENCH / "uas.xml", port=backup_port, calls=calls)
    busy.start().wait_listening()
    backup.start().wait_listening()
    uac_scenario = with_header(tmp_path, "uac_failover.xml",
                               f"X-Failover: sip:{HOST}:{backup_port}")
    caller = sipp("uac", uac_scenario, port=free_port(), calls=calls, rate=20,
                  remote=f"{HOST}:{busy_port}", proxy=p.addr()).run()
    refused, answered = busy.wait(), backup.wait()
    context = report(p, caller, refused, answered)
    for result in (caller, refused, answered):
        assert (result.returncode, result.successful, result.failed) == (0, calls, 0), context
    # the caller never saw the 486; the callee that answered got ACK and BYE through us
    assert caller.received("INVITE", 486) == [], context
    assert len(answered.received("BYE")) >= calls, context
    assert all(m.vias()[0].startswith(f"SIP/2.0/UDP {p.addr()}")
               for m in answered.received("BYE")), context
    assert p.log().count("failover of ") >= calls, context
    p.assert_no_tracebacks()


def test_200_calls_sleeping_200ms_complete_well_under_2s(
    lua_proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
    tmp_path: Path,
) -> None:
    calls = 200
    p = lua_proxy()
    uas_port = free_port()
    callee = sipp("uas", BENCH / "uas.xml", port=uas_port, calls=calls)
    callee.start().wait_listening()
    caller = sipp("uac", with_header(tmp_path, "uac_sleep.xml", "X-Sleep: 200"),
                  port=free_port(), calls=calls, rate=400, remote=f"{HOST}:{uas_port}",
                  proxy=p.addr()).run()
    answered = callee.wait()
    context = report(p, caller, answered)
    for result in (caller, answered):
        assert (result.returncode, result.successful, result.failed) == (0, calls, 0), context
    # Issue 4: well under 2 s (0.8 s measured at 400 calls/s); one after the other the
    # sleeps alone would take 40 s. Each call did wait its 200 ms.
    assert caller.seconds < 2, f"{calls} sleeping calls took {caller.seconds:.1f} s\n{context}"
    setup = _setup_times(caller)
    assert len(setup) == calls and all(t > 0.19 for t in setup), context
    p.assert_no_tracebacks()


def _setup_times(result: SippResult) -> list[float]:
    """Seconds from each INVITE sent to its 200 received, from the message trace."""
    sent = {m.header("Call-ID")[0]: m.when for m in result.sent("INVITE")}
    return [m.when - sent[m.header("Call-ID")[0]] for m in result.received("INVITE", 200)
            if m.header("Call-ID")[0] in sent]


@pytest.mark.parametrize("abuse,logged", [
    ("loop", "sandbox: instruction/time limit exceeded"),
    ("memory", "sandbox: memory limit exceeded"),
    ("error", "proxy.lua:12: attempt to index a nil value (local 'missing')"),
])
def test_a_failing_route_answers_500_and_the_server_goes_on(
    lua_proxy: Callable[..., Proxy], abuse: str, logged: str,
) -> None:
    p = lua_proxy()
    assert ask(p, options(p.port, f"X-Abuse: {abuse}\r\n", n=1)) == \
        "SIP/2.0 500 Server Internal Error"
    assert logged in p.log(), p.log()
    for n in range(2, 5):
        assert ask(p, options(p.port, n=n)) == "SIP/2.0 200 Keepalive"
    p.assert_no_tracebacks()


def test_sighup_reloads_and_a_broken_script_is_refused(
    lua_proxy: Callable[..., Proxy], tmp_path: Path,
) -> None:
    p = lua_proxy()
    script = tmp_path / "proxy.lua"
    assert ask(p, options(p.port, n=1)) == "SIP/2.0 200 Keepalive"
    script.write_text(SCRIPT.read_text().replace('"Keepalive"', '"Reloaded"'))
    p.server.proc.send_signal(signal.SIGHUP)
    p.server.wait_for("script proxy.lua reloaded")
    assert ask(p, options(p.port, n=2)) == "SIP/2.0 200 Reloaded"
    script.write_text("function ksr_request_route(\n")
    p.server.proc.send_signal(signal.SIGHUP)
    refused = p.server.wait_for("script reload refused")
    assert "proxy.lua:" in refused
    assert ask(p, options(p.port, n=3)) == "SIP/2.0 200 Reloaded"  # the old one serves
    p.assert_no_tracebacks()


@pytest.mark.parametrize("text,message", [
    ("function ksr_request_route()\n  local x = \n",
     "geosip: broken.lua:3: unexpected symbol near <eof>"),
    ("function other() end\n",
     "geosip: broken.lua: the script defines no function ksr_request_route()"),
    ("error('at load')\n", "geosip: broken.lua:1: at load"),
], ids=["syntax", "no-request-route", "runtime-at-load"])
def test_a_script_that_does_not_load_stops_the_start(
    tmp_path: Path, free_port: Callable[..., int], text: str, message: str,
) -> None:
    (tmp_path / "broken.lua").write_text(text)
    started = time.monotonic()
    done = subprocess.run(
        geosip_command("run", "-c", "broken.lua", "-l", f"udp:{HOST}:{free_port()}"),
        cwd=tmp_path, capture_output=True, text=True, timeout=START_TIMEOUT)
    assert (done.returncode, done.stderr.splitlines()[-1:]) == (2, [message]), done.stderr
    assert time.monotonic() - started < START_TIMEOUT


def test_router_option_wins_over_the_script(lua_proxy: Callable[..., Proxy]) -> None:
    p = lua_proxy("--router", "relay")
    p.server.wait_for("config proxy.lua is checked but not loaded: routing with the 'relay'")
    # the Python relay router answers keep-alives with its own reason
    assert ask(p, options(p.port)) == "SIP/2.0 200 Keepalive"
