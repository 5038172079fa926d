"""ksr_onsend_route with $snd/$sndfrom, KSR.corex.set_send_socket and $fs, and the
Record-Route parameters of KSR.rr (ftag, add_rr_param, record_route_params,
record_route_preset, $route_uri) through a real Lua script and the real Core
(tests/support/luanet.py). Behaviour from Kamailio's core cookbook (onsend_route: drop
cancels the send; $snd(ip/port/proto/af/buf/len)) and rr README (append_fromtag,
add_rr_param, record_route_preset, is_direction)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from geosip.modules.rr import mod as rr_mod
from geosip.sip import Request, Response
from geosip.transport.base import Endpoint, Listener
from tests.support.luanet import PROXY, UAC, UAS, LuaNet, request

MODULES = ("tm", "tmx", "sl", "rr", "corex")
TCP = Listener(Endpoint("tcp", "127.0.0.1", 5060))
OTHER = Listener(Endpoint("udp", "127.0.0.1", 5062))


@pytest.fixture(autouse=True)
def rr_defaults() -> Iterator[None]:
    rr_mod.init()
    yield
    rr_mod.init()


def script(route: str, onsend: str | None = None) -> str:
    text = f"function ksr_request_route()\n{route}\nend\n"
    if onsend is not None:
        text += f"function ksr_onsend_route()\n{onsend}\nend\n"
    return text


def routed(tmp_path: Path, route: str, onsend: str | None = None,
           data: bytes | None = None) -> tuple[LuaNet, list[object]]:
    """One request (an INVITE from UAC by default) through the script."""
    net = LuaNet(script(route, onsend), tmp_path, modules=MODULES, guard=True)
    net.core.myself.listeners.extend([TCP, OTHER])
    try:
        net.deliver(data or request())
        assert net.engine.violations == 0
    finally:
        net.stop()
    return net, net.recorded


# ---- onsend_route ----------------------------------------------------------------------

SND = """
for _, n in ipairs({"ip", "port", "proto", "sproto", "af", "len"}) do
  KSR.test.record(KSR.pv.get("$snd(" .. n .. ")"))
end
KSR.test.record(KSR.pv.get("$sndfrom(ip)") .. ":" .. KSR.pv.get("$sndfrom(port)"))
KSR.test.record(KSR.pv.get("$sndto(ip)") == KSR.pv.get("$snd(ip)"))
KSR.test.record(string.sub(KSR.pv.get("$snd(buf)"), 1, 41))
KSR.test.record(KSR.pv.get("$ru"))
"""


def test_onsend_route_sees_the_destination_and_lets_it_go(tmp_path: Path) -> None:
    net, recorded = routed(tmp_path, "KSR.test.record(KSR.pv.get('$snd(ip)')) "
                                     "KSR.test.record(KSR.tm.t_relay())", SND)
    [sent] = net.take(UAS)
    assert isinstance(sent, Request) and sent.method == "INVITE"
    length = len(sent.to_bytes())
    assert recorded == [None,                                  # $snd outside onsend_route
                        "127.0.0.1", 5080, 1, "udp", 2, length, "127.0.0.1:5060", True,
                        "INVITE sip:service@127.0.0.1:5080 SIP/2.0",
                        "sip:service@127.0.0.1:5080", 1]


def test_drop_in_onsend_route_fails_the_branch(tmp_path: Path) -> None:
    """The branch ends with a local 503, as for a transport failure; upstream that is a
    500 (RFC 3261 §16.7 step 6: a 503 is not passed on as such)."""
    net, recorded = routed(tmp_path, "KSR.test.record(KSR.tm.t_relay())",
                           "KSR.test.record('onsend') KSR.x.drop() KSR.test.record('not here')")
    assert net.take(UAS) == []
    replies = [m for m in net.take(UAC) if isinstance(m, Response)]
    assert [r.status for r in replies] == [100, 500]
    assert recorded == ["onsend", -1]  # t_relay: no branch went out


def test_onsend_route_may_wait(tmp_path: Path) -> None:
    """t_relay is a blocking KSR call: it runs outside Lua (engine.py), so the onsend
    route it runs is not nested in the request route's Lua stack and may wait."""
    net = LuaNet(script("KSR.test.record(KSR.tm.t_relay())",
                        "KSR.test.record('onsend') KSR.async.ms_sleep(10) "
                        "KSR.test.record('slept')"),
                 tmp_path, modules=(*MODULES, "async"), guard=True)
    try:
        net.deliver(request(), wait=0.1)
        assert net.engine.violations == 0
        assert net.take(UAS)[0].method == "INVITE"  # (and its retransmissions)
    finally:
        net.stop()
    assert net.recorded == ["onsend", "slept", 1]


def test_drop_only_the_branch_to_one_destination(tmp_path: Path) -> None:
    route = ('KSR.corex.append_branch_uri("sip:other@127.0.0.1:5090") '
             'KSR.tm.t_relay()')
    onsend = 'if KSR.pv.get("$snd(port)") == 5090 then KSR.x.drop() end'
    net, _ = routed(tmp_path, route, onsend)
    [sent] = net.take(UAS)
    assert sent.uri_text == "sip:service@127.0.0.1:5080"
    assert net.take(Endpoint("udp", "127.0.0.1", 5090)) == []


def test_drop_in_onsend_route_fails_stateless_forward(tmp_path: Path) -> None:
    net, recorded = routed(tmp_path, "KSR.test.record(KSR.forward())", "KSR.x.drop()")
    assert net.take(UAS) == [] and recorded == [-1]


def test_without_onsend_route_no_handler_is_armed(tmp_path: Path) -> None:
    net = LuaNet(script("KSR.tm.t_relay()"), tmp_path, modules=MODULES)
    contexts = []
    original = net.core.router.request
    net.core.router.request = lambda ctx: (contexts.append(ctx), original(ctx))  # type: ignore[method-assign]
    try:
        net.deliver(request())
    finally:
        net.stop()
    assert contexts[0].send_handler is None and len(net.take(UAS)) == 1


def test_script_error_in_onsend_route_lets_the_request_go(tmp_path: Path) -> None:
    net, _ = routed(tmp_path, "KSR.tm.t_relay()", "error('boom')")
    assert len(net.take(UAS)) == 1


# ---- set_send_socket, $fs ------------------------------------------------------------------

def via_of(net: LuaNet, dest: Endpoint) -> str:
    [sent] = net.take(dest)
    return sent.values("Via")[0]


@pytest.mark.parametrize("route,recorded,sent_by", [
    ('KSR.test.record(KSR.corex.set_send_socket("udp:127.0.0.1:5062"))', [1],
     "SIP/2.0/UDP 127.0.0.1:5062"),
    ('KSR.test.record(KSR.pv.sets("$fs", "127.0.0.1:5062")) '
     'KSR.test.record(KSR.pv.get("$fs"))', [1, "udp:127.0.0.1:5062"],
     "SIP/2.0/UDP 127.0.0.1:5062"),
    ('KSR.test.record(KSR.corex.set_send_socket("udp:10.9.9.9:5060"))', [-1],  # not ours
     "SIP/2.0/UDP 127.0.0.1:5060"),
    # a TCP socket cannot send to a UDP destination: the core keeps its choice
    ('KSR.test.record(KSR.corex.set_send_socket("tcp:127.0.0.1:5060"))', [1],
     "SIP/2.0/UDP 127.0.0.1:5060"),
    ('KSR.corex.set_send_socket("udp:127.0.0.1:5062") '
     'KSR.test.record(KSR.corex.set_send_socket(""))', [1], "SIP/2.0/UDP 127.0.0.1:5060"),
])
def test_set_send_socket(tmp_path: Path, route: str, recorded: list[object],
                         sent_by: str) -> None:
    net, got = routed(tmp_path, route + " KSR.tm.t_relay()")
    assert got == recorded
    assert via_of(net, UAS).startswith(sent_by + ";branch=")


def test_sndfrom_names_the_forced_socket(tmp_path: Path) -> None:
    net, got = routed(tmp_path, 'KSR.corex.set_send_socket("udp:127.0.0.1:5062") '
                                'KSR.forward()',
                      'KSR.test.record(KSR.pv.get("$sndfrom(port)"))')
    assert got == [5062] and via_of(net, UAS).startswith("SIP/2.0/UDP 127.0.0.1:5062;")


# ---- Record-Route parameters ---------------------------------------------------------------

def record_routes(net: LuaNet, dest: Endpoint = UAS) -> list[str]:
    [sent] = net.take(dest)
    return sent.values("Record-Route")


FTAG = ";ftag=1SIPpTag001"


@pytest.mark.parametrize("route,recorded,values", [
    ("KSR.rr.record_route()", [], [f"<sip:127.0.0.1:5060;lr{FTAG}>"]),
    ('KSR.test.record(KSR.rr.add_rr_param(";nat=yes")) KSR.rr.record_route() '
     'KSR.test.record(KSR.rr.add_rr_param(";did=a1"))', [1, 1],
     [f"<sip:127.0.0.1:5060;lr{FTAG};nat=yes;did=a1>"]),
    ('KSR.test.record(KSR.rr.record_route_params(";p=1")) '
     'KSR.test.record(KSR.rr.record_route_params(";p=2"))', [1, -1],
     [f"<sip:127.0.0.1:5060;lr{FTAG};p=1>"]),
    ('KSR.test.record(KSR.rr.add_rr_param("nat=yes")) '          # no leading ";"
     'KSR.test.record(KSR.rr.add_rr_param(";a=b>, <sip:evil"))'   # breaks out of <...>
     'KSR.test.record(KSR.rr.record_route_params("x"))', [-1, -1, -1], []),
    ('KSR.test.record(KSR.rr.record_route_preset_one("10.0.0.1:5090;x=y"))', [1],
     [f"<sip:10.0.0.1:5090;x=y{FTAG};lr>"]),
    ('KSR.test.record(KSR.rr.record_route_preset("out.example:5070", "sip:in.example")) '
     'KSR.test.record(KSR.rr.record_route())', [1, -1],
     [f"<sip:out.example:5070{FTAG};lr>", f"<sip:in.example{FTAG};lr>"]),
    ('KSR.test.record(KSR.rr.record_route_preset_one("bad host name"))', [-1], []),
    ('KSR.rr.record_route() KSR.rr.add_rr_param(";n=1") KSR.rr.remove_record_route()',
     [], []),
])
def test_record_route_parameters(tmp_path: Path, route: str, recorded: list[object],
                                 values: list[str]) -> None:
    net, got = routed(tmp_path, route + " KSR.tm.t_relay()")
    assert got == recorded
    assert record_routes(net) == values


def test_append_fromtag_off(tmp_path: Path) -> None:
    rr_mod.init({"append_fromtag": 0})
    net, _ = routed(tmp_path, "KSR.rr.record_route() KSR.tm.t_relay()")
    assert record_routes(net) == ["<sip:127.0.0.1:5060;lr>"]
    with pytest.raises(ValueError):
        rr_mod.init({"append_fromtag": 2})


def test_double_record_route_carries_the_parameters_twice(tmp_path: Path) -> None:
    """In on UDP, out on TCP: two entries (RFC 5658), each with ftag and the params."""
    route = ('KSR.rr.record_route() KSR.rr.add_rr_param(";nat=yes") '
             'KSR.corex.set_send_socket("tcp:127.0.0.1:5060") KSR.tm.t_relay()')
    data = request(uri="sip:service@127.0.0.1:5080;transport=tcp")
    net, _ = routed(tmp_path, route, data=data)
    assert record_routes(net, Endpoint("tcp", "127.0.0.1", 5080)) == [
        f"<sip:127.0.0.1:5060;transport=tcp;lr{FTAG};nat=yes>",
        f"<sip:127.0.0.1:5060;lr{FTAG};nat=yes>"]


DIRECTION = """
KSR.test.record(KSR.pv.get("$route_uri"))
KSR.rr.loose_route()
KSR.test.record(KSR.rr.is_direction("downstream"))
KSR.test.record(KSR.rr.check_route_param("nat=yes"))
"""


def test_is_direction_with_the_ftag_record_route_wrote(tmp_path: Path) -> None:
    """The Record-Route an INVITE got comes back as Route: a BYE from the caller flows
    downstream, one from the callee (its own From tag) upstream."""
    first, _ = routed(tmp_path, 'KSR.rr.record_route() KSR.rr.add_rr_param(";nat=yes") '
                                'KSR.tm.t_relay()')
    [rr] = record_routes(first)
    caller = request("BYE", to_tag="callee", extra=f"Route: {rr}\r\n")
    _, down = routed(tmp_path, DIRECTION, data=caller)
    callee = caller.replace(b"From: sipp <sip:sipp@127.0.0.1:5070>;tag=1SIPpTag001",
                            b"From: service <sip:service@127.0.0.1:5080>;tag=callee")
    callee = callee.replace(b"To: service <sip:service@127.0.0.1:5080>;tag=callee",
                            b"To: sipp <sip:sipp@127.0.0.1:5070>;tag=1SIPpTag001")
    assert callee.count(b"tag=callee") == 1
    _, up = routed(tmp_path, DIRECTION, data=callee)
    uri = rr[1:-1]
    assert down == [uri, 1, 1] and up == [uri, -1, 1]
