"""scripts/default.lua under `geosip run -c`, driven by sipp: what a user of the default
proxy notices. It authenticates (auth, auth_db: a REGISTER without credentials gets 401;
test_register_auth.py registers with passwords), answers calls to unregistered users of
ours 404 and refuses to relay between two strangers (403, Kamailio's "Not relaying");
CANCEL, Max-Forwards 0 and keep-alive OPTIONS as in Kamailio's basic example. Without
auth (the lab setup its header describes), calls to other hosts are relayed statefully
with Record-Route.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from ._proxy import HOST, Proxy
from ._sipp import BENCH, SCENARIOS, Sipp, SippResult

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "scripts" / "default.lua"
REF = Path(__file__).resolve().parent / "kamailio_ref"


@pytest.fixture
def default_proxy(proxy: Callable[..., Proxy]) -> Proxy:
    p = proxy("-c", str(DEFAULT))
    assert "router lua" in p.log(), p.log()
    return p


def finals(result: SippResult) -> list[str]:
    return sorted({f"{m.method} {m.status}" for m in result.finals()})


def explain(proxy: Proxy, *results: SippResult) -> str:
    return "\n\n".join([*(r.report(60) for r in results), "==== geosip log:",
                        proxy.log()[-12000:]])


def test_call_and_cancel_are_relayed_without_auth(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
) -> None:
    p = proxy()  # default.lua without auth and auth_db (tests/support/scripts.py)
    assert "default-open.lua" in p.log(), p.log()
    uas = sipp("uas", BENCH / "uas.xml", port=free_port(), calls=3).start().wait_listening()
    uac = sipp("uac", BENCH / "uac.xml", port=free_port(), calls=3, rate=10,
               remote=f"{HOST}:{uas.port}", proxy=p.addr()).run()
    callee = uas.wait()
    assert (uac.returncode, uac.successful, callee.returncode) == (0, 3, 0), explain(p, uac, callee)
    # (rr's ftag parameter, when appended, is left out of the comparison)
    assert all([re.sub(r";ftag=[^;>]*", "", r) for r in m.values("Record-Route")]
               == [f"<sip:{p.addr()};lr>"]
               for m in callee.received("INVITE")), explain(p, uac, callee)

    uas = sipp("cancel-uas", SCENARIOS / "cancel_uas.xml", port=free_port(), calls=2)
    uas.start().wait_listening()
    uac = sipp("cancel-uac", SCENARIOS / "cancel_uac.xml", port=free_port(), calls=2,
               remote=f"{HOST}:{uas.port}", proxy=p.addr()).run()
    callee = uas.wait()
    assert finals(uac) == ["CANCEL 200", "INVITE 487"], explain(p, uac, callee)
    assert (uac.returncode, callee.returncode) == (0, 0), explain(p, uac, callee)
    p.assert_no_tracebacks()


def test_answers_of_the_script(default_proxy: Proxy, sipp: Callable[..., Sipp],
                               free_port: Callable[..., int]) -> None:
    p = default_proxy
    register = sipp("register", REF / "register_uac.xml", port=free_port(),
                    remote=p.addr()).run()
    # a stranger calling a stranger through us: not an open relay
    uas_port = free_port()
    relay = sipp("relay", REF / "invite_uac.xml", port=free_port(),
                 remote=f"{HOST}:{uas_port}", proxy=p.addr(),
                 keys={"user": "service", "max_forwards": "70"}).run()
    # bob@ this proxy: ours, but not registered
    local = sipp("local-user", REF / "invite_uac.xml", port=free_port(), remote=p.addr(),
                 keys={"user": "bob", "max_forwards": "70"}).run()
    hops = sipp("max-forwards", REF / "invite_uac.xml", port=free_port(),
                remote=f"{HOST}:{free_port()}", proxy=p.addr(),
                keys={"user": "service", "max_forwards": "0"}).run()
    context = explain(p, register, relay, local, hops)
    assert finals(register) == ["REGISTER 401"], context  # default.lua loads auth
    [challenge] = register.received("REGISTER", 401)
    assert challenge.header("WWW-Authenticate")[0].startswith("Digest realm="), context
    assert finals(relay) == ["INVITE 403"], context
    assert finals(local) == ["INVITE 404"], context
    assert finals(hops) == ["INVITE 483"], context
    assert [r.returncode for r in (register, relay, local, hops)] == [0, 0, 0, 0], context

    # a keep-alive: OPTIONS to the proxy itself, no user part. Its Via says port 9 and
    # asks for no rport, yet it comes from another port: natdetect's force_rport sends
    # the answer back where it came from (RFC 3581).
    host, port = HOST, p.port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((host, 0))
        udp.settimeout(5)
        udp.sendto((f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP {host}:9;branch=z9hG4bK-ka-1\r\n"
                    f"From: <sip:probe@{host}>;tag=1\r\nTo: <sip:{host}:{port}>\r\n"
                    "Call-ID: keepalive-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                    "Content-Length: 0\r\n\r\n").encode(), (host, port))
        answer = udp.recv(65535)
        source_port = udp.getsockname()[1]
    assert answer.startswith(b"SIP/2.0 200 Keepalive\r\n"), answer
    assert b";rport=%d" % source_port in answer, answer
    p.assert_no_tracebacks()
