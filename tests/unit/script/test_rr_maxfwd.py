"""KSR.maxfwd and KSR.rr through a real Lua script and the real Core (kemi_harness.py):
return codes, and Max-Forwards, Record-Route, Route, Request-URI and destination of the
request forwarded on the wire."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from geosip.modules.maxfwd import mod as maxfwd_mod
from geosip.sip import Request, Response
from geosip.transport.base import Endpoint
from tests.unit.script.kemi_harness import UAC, UAS, run, wire

CONFORMANCE = Path(__file__).parents[2] / "data" / "conformance"
NEXT = Endpoint("udp", "10.0.0.9", 5080)
CALLER = Endpoint("udp", "10.0.0.2", 5090)


@pytest.fixture(autouse=True)
def default_params() -> Iterator[None]:
    maxfwd_mod.init()
    yield
    maxfwd_mod.init()


# ---- maxfwd ------------------------------------------------------------------------------

def mf(value: str | None) -> bytes:
    if value is None:
        return wire(("Max-Forwards: 70\r\n", ""))
    return wire(("Max-Forwards: 70", f"Max-Forwards: {value}"))


MAXFWD = [
    # (expression, request, returned, Max-Forwards forwarded (None: not forwarded))
    ("KSR.maxfwd.process_maxfwd(10)", mf("70"), 1, "69"),
    ("KSR.maxfwd.process_maxfwd(10)", mf("1"), 1, "0"),
    ("KSR.maxfwd.process_maxfwd(10)", mf(None), 2, "10"),
    ("KSR.maxfwd.process_maxfwd(10)", mf("0"), -1, None),
    ("KSR.maxfwd.process_maxfwd(10)", mf("255"), 1, "70"),    # capped at max_limit first
    ("KSR.maxfwd.process_maxfwd(10)", mf("300"), 1, "70"),    # Kamailio reads up to 65535
    ("KSR.maxfwd.process_maxfwd(10)", mf("ten"), -2, "ten"),
    ("KSR.maxfwd.process_maxfwd(256)", mf("70"), -1, None),   # limit out of range
    ("KSR.maxfwd.is_maxfwd_lt(10)", mf("70"), -1, "70"),
    ("KSR.maxfwd.is_maxfwd_lt(10)", mf("5"), 1, "5"),
    ("KSR.maxfwd.is_maxfwd_lt(5)", mf("5"), -1, "5"),
    ("KSR.maxfwd.is_maxfwd_lt(10)", mf(None), -2, None),
    ("KSR.maxfwd.is_maxfwd_lt(10)", mf("ten"), -3, "ten"),
    ("KSR.maxfwd.is_maxfwd_lt(300)", mf("5"), -1, "5"),
]

ROUTE_483 = """
local rc = {expr}
KSR.t.out(rc)
if rc == -1 and {is_process} then KSR.t.reply(483, "Too Many Hops") return end
KSR.t.forward()
"""


@pytest.mark.parametrize("expr,data,returned,forwarded", MAXFWD)
def test_maxfwd(tmp_path: Path, expr: str, data: bytes, returned: int,
                forwarded: str | None) -> None:
    route = ROUTE_483.format(expr=expr, is_process=str("process" in expr).lower())
    out, proxy = run(tmp_path, route, data, ("maxfwd",))
    assert out == [returned]
    sent = proxy.take(UAS)
    if "process" in expr and returned == -1:
        assert sent == []
        [reply] = proxy.take(UAC)
        assert isinstance(reply, Response) and reply.status == 483
        return
    [request] = sent
    assert request.header_all("Max-Forwards") == ([] if forwarded is None else [forwarded])
    if returned == 2:
        assert request.fields[0].name == "Max-Forwards"      # added at the top
    assert proxy.violations == 0


def test_zero_max_forwards_from_rfc4475(tmp_path: Path) -> None:
    route = ('if KSR.maxfwd.process_maxfwd(10) < 0 then KSR.t.reply(483, "Too Many Hops") '
             'return end KSR.t.forward()')
    out, proxy = run(tmp_path, route, (CONFORMANCE / "rfc4475" / "zeromf.sip").read_bytes(),
                     ("maxfwd",))
    [reply] = proxy.take()
    assert isinstance(reply, Response) and reply.status == 483


def test_max_limit_parameter(tmp_path: Path) -> None:
    maxfwd_mod.init({"max_limit": 20})
    out, proxy = run(tmp_path, "KSR.t.out(KSR.maxfwd.process_maxfwd(10)) KSR.t.forward()",
                     mf("70"), ("maxfwd",))
    [request] = proxy.take(UAS)
    # Kamailio lowers 70 to max_limit + 1 and decrements that
    assert out == [1] and request.header("Max-Forwards") == "20"
    with pytest.raises(ValueError):
        maxfwd_mod.init({"max_limit": 256})


# ---- rr ----------------------------------------------------------------------------------

def in_dialog(routes: str, method: str = "BYE", ruri: str = "sip:bob@10.0.0.2:5090",
              from_tag: str = "f1", to_tag: str | None = "t2") -> bytes:
    to = "To: <sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    lines = [f"{method} {ruri} SIP/2.0",
             "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-dlg",
             *([f"Route: {routes}"] if routes else []),
             f"From: <sip:alice@atlanta.example.com>;tag={from_tag}", to,
             "Call-ID: dlg-1", f"CSeq: 2 {method}", "Max-Forwards: 70", "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


OURS = "<sip:127.0.0.1:5060;lr;ftag=f1;nat=yes>"
LOOSE = [
    # (request, returned, $du after, Route forwarded, Request-URI forwarded, sent to)
    (in_dialog(""), -1, None, [], "sip:bob@10.0.0.2:5090", CALLER),
    (in_dialog(f"{OURS}, <sip:10.0.0.9:5080;lr>"), 1, "sip:10.0.0.9:5080;lr",
     ["<sip:10.0.0.9:5080;lr>"], "sip:bob@10.0.0.2:5090", NEXT),
    (in_dialog(OURS), 1, None, [], "sip:bob@10.0.0.2:5090", CALLER),
    # a double Record-Route (RFC 5658): both of ours are removed
    (in_dialog("<sip:127.0.0.1:5060;lr;r2=on>, <sip:127.0.0.1;transport=tcp;lr;r2=on>, "
               "<sip:10.0.0.9:5080;lr>"), 1, "sip:10.0.0.9:5080;lr",
     ["<sip:10.0.0.9:5080;lr>"], "sip:bob@10.0.0.2:5090", NEXT),
    # the next hop is a strict router: the core rewrites when sending (§16.6 item 6)
    (in_dialog(f"{OURS}, <sip:10.0.0.9:5080>"), 1, None,
     ["<sip:bob@10.0.0.2:5090>"], "sip:10.0.0.9:5080", NEXT),
    # the previous hop was a strict router: our URI is the Request-URI (§16.4)
    (in_dialog("<sip:10.0.0.9:5080;lr>, <sip:bob@10.0.0.2:5090>",
               ruri="sip:127.0.0.1:5060;lr;ftag=f1"), 1, "sip:10.0.0.9:5080;lr",
     ["<sip:10.0.0.9:5080;lr>"], "sip:bob@10.0.0.2:5090", NEXT),
    # initial requests: a pre-loaded Route of ours only (-3), and one to someone else
    (in_dialog(OURS, method="INVITE", to_tag=None), -3, None, [],
     "sip:bob@10.0.0.2:5090", CALLER),
    (in_dialog("<sip:10.0.0.9:5080;lr>", method="INVITE", to_tag=None), 1,
     "sip:10.0.0.9:5080;lr", ["<sip:10.0.0.9:5080;lr>"], "sip:bob@10.0.0.2:5090", NEXT),
    (in_dialog("<sip:10.0.0.9:5080;lr;maddr=10.0.0.8>", method="INVITE", to_tag=None), 1,
     "sip:10.0.0.8:5080", ["<sip:10.0.0.9:5080;lr;maddr=10.0.0.8>"],
     "sip:bob@10.0.0.2:5090", Endpoint("udp", "10.0.0.8", 5080)),
    (in_dialog("garbage"), -1, None, None, None, None),      # nothing routable
]


@pytest.mark.parametrize("data,returned,du,routes,ruri,dest", LOOSE)
def test_loose_route(tmp_path: Path, data: bytes, returned: int, du: str | None,
                     routes: list[str] | None, ruri: str | None,
                     dest: Endpoint | None) -> None:
    out, proxy = run(tmp_path, "KSR.t.out(KSR.rr.loose_route()) KSR.t.forward()", data,
                     ("rr",))
    assert out == [returned]
    assert proxy.ctx.dst_uri == du
    if dest is None:
        assert proxy.take() == []
        return
    [sent] = proxy.take(dest)
    assert isinstance(sent, Request)
    assert sent.values("Route") == routes and sent.uri_text == ruri
    assert proxy.violations == 0


RR_RETURNS = [
    # (script, request, values the script sees)
    ("KSR.t.out(KSR.rr.loose_route_preloaded())", in_dialog(OURS, "INVITE", to_tag=None),
     [1]),
    ("KSR.t.out(KSR.rr.loose_route_preloaded())", in_dialog(OURS), [-1]),
    ("KSR.rr.loose_route() KSR.t.out(KSR.rr.next_hop_route())",
     in_dialog(f"{OURS}, <sip:10.0.0.9:5080;lr>"), [1]),
    ("KSR.rr.loose_route() KSR.t.out(KSR.rr.next_hop_route())", in_dialog(OURS), [-1]),
    ('KSR.rr.loose_route() KSR.t.out(KSR.rr.check_route_param("nat=yes"))',
     in_dialog(OURS), [1]),
    ('KSR.rr.loose_route() KSR.t.out(KSR.rr.check_route_param("nat=no"))',
     in_dialog(OURS), [-1]),
    ('KSR.t.out(KSR.rr.check_route_param(";ftag=f1"))', in_dialog(OURS), [1]),  # before
    ('KSR.t.out(KSR.rr.check_route_param("ftag"))', in_dialog("<sip:10.0.0.9;lr;ftag=x>"),
     [-1]),                                               # not our Route
    ('KSR.rr.loose_route() KSR.t.out(KSR.rr.check_route_param("ftag=f1"))',
     in_dialog("<sip:10.0.0.9:5080;lr>, <sip:bob@10.0.0.2:5090>",
               ruri="sip:127.0.0.1:5060;lr;ftag=f1"), [1]),    # after a strict router
    # is_direction compares the ftag of our Route with the From tag
    ('KSR.rr.loose_route() KSR.t.out(KSR.rr.is_direction("downstream")) '
     'KSR.t.out(KSR.rr.is_direction("upstream"))', in_dialog(OURS), [1, -1]),
    ('KSR.rr.loose_route() KSR.t.out(KSR.rr.is_direction("downstream")) '
     'KSR.t.out(KSR.rr.is_direction("UPSTREAM"))', in_dialog(OURS, from_tag="t2", to_tag="f1"),
     [-1, 1]),
    ('KSR.rr.loose_route() KSR.t.out(KSR.rr.is_direction("downstream"))',
     in_dialog("<sip:127.0.0.1:5060;lr>", from_tag="t2", to_tag="f1"), [1]),  # no ftag
    ('KSR.t.out(KSR.rr.is_direction("sideways"))', in_dialog(OURS), [-6]),  # E_CFG
    ("KSR.t.out(KSR.rr.record_route()) KSR.t.out(KSR.rr.record_route())", wire(), [1, -1]),
    ("KSR.t.out(KSR.rr.loose_route_mode(1))",
     in_dialog("<sip:10.0.0.9:5080;lr>", ruri="sip:127.0.0.1:5060"), [1]),
]


@pytest.mark.parametrize("route,data,values", RR_RETURNS)
def test_rr_returns(tmp_path: Path, route: str, data: bytes, values: list[int]) -> None:
    out, proxy = run(tmp_path, route, data, ("rr",))
    assert out == values
    assert proxy.violations == 0


def test_loose_route_mode_1_keeps_our_request_uri(tmp_path: Path) -> None:
    data = in_dialog("<sip:10.0.0.9:5080;lr>", ruri="sip:127.0.0.1:5060")
    out, proxy = run(tmp_path, "KSR.rr.loose_route_mode(1) KSR.t.forward()", data, ("rr",))
    assert proxy.ctx.dst_uri == "sip:10.0.0.9:5080;lr"
    [sent] = proxy.take(NEXT)
    assert isinstance(sent, Request) and sent.uri_text == "sip:127.0.0.1:5060"


def test_record_route_on_the_wire(tmp_path: Path) -> None:
    out, proxy = run(tmp_path, "KSR.rr.record_route() KSR.t.forward()", wire(), ("rr",))
    [sent] = proxy.take(UAS)
    # Kamailio's append_fromtag (on by default): the From tag goes in as ftag
    assert sent.values("Record-Route") == ["<sip:127.0.0.1:5060;lr;ftag=f1>"]


def test_remove_record_route(tmp_path: Path) -> None:
    route = ("KSR.rr.record_route() KSR.t.out(KSR.rr.remove_record_route()) "
             "KSR.t.out(KSR.rr.record_route()) KSR.rr.remove_record_route() KSR.t.forward()")
    out, proxy = run(tmp_path, route, wire(), ("rr",))
    assert out == [1, 1]
    [sent] = proxy.take(UAS)
    assert sent.values("Record-Route") == []
