"""KSR.nathelper through a real Lua script and the real Core: nat_uac_test's tests one
by one (Kamailio's nathelper README, 5.5), is_rfc1918, the Contact and Request-URI on
the wire after add_contact_alias / handle_ruri_alias / fix_nated_contact /
add_rcv_param, fix_nated_sdp's body, fix_nated_register feeding registrar's save, the
alias added to a reply in ksr_reply_route and followed by the in-dialog ACK, and the
keepalive pings to a NATed binding.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest

from geosip.modules.nathelper import mod as nathelper_mod
from geosip.modules.nathelper import ping
from geosip.modules.registrar import mod as registrar_mod
from geosip.modules.usrloc import api as ul
from geosip.modules.usrloc import mod as usrloc_mod
from geosip.sip import Request, Response
from geosip.transport.base import Endpoint
from tests.support.luanet import UAC, UAS, LuaNet, request
from tests.unit.script.kemi_harness import Proxy, wire

MODULES = ("nathelper",)
CONTACT = "Contact: <sip:alice@127.0.0.1:5070>"
PRIVATE_CONTACT = wire((CONTACT, "Contact: <sip:alice@192.168.1.20:5060>"))
CGNAT_CONTACT = wire((CONTACT, "Contact: <sip:alice@100.64.0.7:5070>"))
VIA = "Via: SIP/2.0/UDP 127.0.0.1:5070;"
OTHER_VIA_HOST = wire((VIA, "Via: SIP/2.0/UDP 203.0.113.5:5070;"))
PRIVATE_VIA = wire((VIA, "Via: SIP/2.0/UDP 10.1.1.1:5070;"))
OTHER_VIA_PORT = wire((VIA, "Via: SIP/2.0/UDP 127.0.0.1:5071;"))
NO_VIA_PORT = wire((VIA, "Via: SIP/2.0/UDP 127.0.0.1;"))   # 5060 != 5070
PUBLIC_SDP = wire(("c=IN IP4 10.0.0.1", "c=IN IP4 127.0.0.1"))
CONTACT_PORT = wire((CONTACT, "Contact: <sip:alice@127.0.0.1:5090>"))
BEHIND_NAT = Endpoint("udp", "192.168.7.7", 5070)
OVER_WS = Endpoint("ws", "127.0.0.1", 5070)

RETURNS = [
    # (script line, request (None: the harness INVITE), source (None: UAC), value)
    ("KSR.nathelper.nat_uac_test(1)", None, None, -1),
    ("KSR.nathelper.nat_uac_test(1)", PRIVATE_CONTACT, None, 1),
    ("KSR.nathelper.nat_uac_test(1)", CGNAT_CONTACT, None, 1),          # RFC 6598
    ("KSR.nathelper.nat_uac_test(2)", None, None, -1),
    ("KSR.nathelper.nat_uac_test(2)", OTHER_VIA_HOST, None, 1),
    ("KSR.nathelper.nat_uac_test(4)", None, None, -1),
    ("KSR.nathelper.nat_uac_test(4)", PRIVATE_VIA, None, 1),
    ("KSR.nathelper.nat_uac_test(8)", None, None, 1),                   # c=IN IP4 10.0.0.1
    ("KSR.nathelper.nat_uac_test(8)", PUBLIC_SDP, None, -1),
    ("KSR.nathelper.nat_uac_test(16)", None, None, -1),
    ("KSR.nathelper.nat_uac_test(16)", OTHER_VIA_PORT, None, 1),
    ("KSR.nathelper.nat_uac_test(16)", NO_VIA_PORT, None, 1),
    ("KSR.nathelper.nat_uac_test(32)", None, None, -1),
    ("KSR.nathelper.nat_uac_test(32)", None, BEHIND_NAT, 1),
    ("KSR.nathelper.nat_uac_test(64)", None, None, -1),
    ("KSR.nathelper.nat_uac_test(64)", None, OVER_WS, 1),
    ("KSR.nathelper.nat_uac_test(128)", None, None, -1),
    ("KSR.nathelper.nat_uac_test(128)", CONTACT_PORT, None, 1),
    ("KSR.nathelper.nat_uac_test(256)", None, None, 1),                 # 10.0.0.1 != source
    ("KSR.nathelper.nat_uac_test(256)", PUBLIC_SDP, None, -1),
    ("KSR.nathelper.nat_uac_test(19)", None, None, -1),
    ("KSR.nathelper.nat_uac_test(19)", PRIVATE_CONTACT, None, 1),
    ("KSR.nathelper.nat_uac_test(19)", OTHER_VIA_PORT, None, 1),
    ('KSR.nathelper.is_rfc1918("10.1.2.3")', None, None, 1),
    ('KSR.nathelper.is_rfc1918("172.31.0.1")', None, None, 1),
    ('KSR.nathelper.is_rfc1918("172.32.0.1")', None, None, -1),
    ('KSR.nathelper.is_rfc1918("192.0.0.100")', None, None, 1),          # nat_addr_mode 1
    ('KSR.nathelper.is_rfc1918("8.8.8.8")', None, None, -1),
    ('KSR.nathelper.is_rfc1918("fd00::1")', None, None, -1),              # IPv4 only
    ('KSR.nathelper.is_rfc1918("example.com")', None, None, -1),
    ("KSR.nathelper.add_contact_alias()", None, None, 2),    # the Contact is the source
    ("KSR.nathelper.add_contact_alias()", PRIVATE_CONTACT, None, 1),
    ('KSR.nathelper.add_contact_alias_addr("1.2.3.4", "0", "udp")', None, None, -1),
    ('KSR.nathelper.add_contact_alias_addr("1.2.3.4", "5060", "carrier-pigeon")',
     None, None, -1),
    ("KSR.nathelper.handle_ruri_alias()", None, None, 2),
    ("KSR.nathelper.handle_ruri_alias()",
     wire(("INVITE sip:bob@127.0.0.1:5080", "INVITE sip:bob@h.invalid;alias=1.2.3.4~x~1")),
     None, -1),
    ("KSR.nathelper.handle_ruri_alias()",
     wire(("INVITE sip:bob@127.0.0.1:5080", "INVITE sip:bob@h.invalid;alias=b.example~5~1")),
     None, -1),
    ("KSR.nathelper.fix_nated_sdp(2)", None, None, 1),
    ("KSR.nathelper.fix_nated_sdp(2)", PUBLIC_SDP, None, 2),   # already the source IP
    ("KSR.nathelper.fix_nated_register()", None, None, 1),
]


@pytest.fixture(autouse=True)
def defaults() -> Iterator[None]:
    nathelper_mod.init()
    yield
    nathelper_mod.init()


@pytest.mark.parametrize("line,data,source,expected", RETURNS)
def test_returns(tmp_path: Path, line: str, data: bytes | None, source: Endpoint | None,
                 expected: int) -> None:
    proxy = Proxy(tmp_path, f"KSR.t.out({line})", MODULES)
    try:
        got = proxy.send(data or wire(), source or UAC)
    finally:
        proxy.close()
    assert got == [expected]
    assert proxy.violations == 0


def forwarded(tmp_path: Path, route: str, data: bytes | None = None,
              source: Endpoint = UAC) -> tuple[list[Any], Request]:
    """Run `route` then forward statelessly; (what the script recorded, what left)."""
    proxy = Proxy(tmp_path, route + "\nKSR.t.forward()", MODULES)
    try:
        got = proxy.send(data or wire(), source)
        [out] = proxy.take()
    finally:
        proxy.close()
    assert isinstance(out, Request)
    return got, out


WIRE = [
    # (route, request, source, Contact values that leave)
    ("KSR.nathelper.add_contact_alias()", PRIVATE_CONTACT, UAC,
     ["<sip:alice@192.168.1.20:5060;alias=127.0.0.1~5070~1>"]),
    ("KSR.nathelper.add_contact_alias()", None, Endpoint("tcp", "127.0.0.1", 5070),
     ["<sip:alice@127.0.0.1:5070;alias=127.0.0.1~5070~2>"]),    # the transport differs
    ("KSR.nathelper.add_contact_alias()", None, Endpoint("udp", "2001:db8::5", 5070),
     ["<sip:alice@127.0.0.1:5070;alias=[2001:db8::5]~5070~1>"]),
    ('KSR.nathelper.add_contact_alias("198.51.100.1", "5080", "wss")', None, UAC,
     ["<sip:alice@127.0.0.1:5070;alias=198.51.100.1~5080~6>"]),
    ('KSR.nathelper.add_contact_alias_addr("198.51.100.1", "5080", "tcp")', None,
     UAC, ["<sip:alice@127.0.0.1:5070;alias=198.51.100.1~5080~2>"]),
    ("KSR.nathelper.set_contact_alias()", None, OVER_WS,
     ["<sip:alice@127.0.0.1:5070;alias=127.0.0.1~5070~5>"]),
    ("KSR.nathelper.set_contact_alias()",
     wire((CONTACT, "Contact: <sip:a@h.invalid;transport=ws;alias=9.9.9.9~1~5>")), OVER_WS,
     ["<sip:a@h.invalid;transport=ws;alias=127.0.0.1~5070~5>"]),   # replaced, not added
    ("KSR.nathelper.fix_nated_contact()", PRIVATE_CONTACT, BEHIND_NAT,
     ["<sip:alice@192.168.7.7:5070>"]),
    ("KSR.nathelper.fix_nated_contact()",
     wire((CONTACT, 'Contact: "A" <sip:alice@10.0.0.2:5062;transport=tcp>;expires=60, '
                    "<sip:alice@10.0.0.2:5063>")), UAC,
     ['"A" <sip:alice@127.0.0.1:5070;transport=tcp>;expires=60', "<sip:alice@10.0.0.2:5063>"]),
    ("KSR.nathelper.add_rcv_param(0)", PRIVATE_CONTACT, BEHIND_NAT,
     ['<sip:alice@192.168.1.20:5060>;received="sip:192.168.7.7:5070"']),
    ("KSR.nathelper.add_rcv_param(1)", PRIVATE_CONTACT, BEHIND_NAT,
     ["<sip:alice@192.168.1.20:5060;received=sip:192.168.7.7:5070>"]),
]


@pytest.mark.parametrize("route,data,source,contacts", WIRE)
def test_contact_on_the_wire(tmp_path: Path, route: str, data: bytes | None,
                             source: Endpoint, contacts: list[str]) -> None:
    _, out = forwarded(tmp_path, route, data, source)
    assert out.values("contact") == contacts


def test_add_rcv_param_with_flag_needs_udp(tmp_path: Path) -> None:
    got, out = forwarded(tmp_path, "KSR.t.out(KSR.nathelper.add_rcv_param(1))", None,
                         Endpoint("tcp", "127.0.0.1", 5070))
    assert got == [-1] and out.values("contact") == ["<sip:alice@127.0.0.1:5070>"]


@pytest.mark.parametrize("alias,du,dest", [
    ("127.0.0.1~5080~1", "sip:127.0.0.1:5080", UAS),
    ("127.0.0.1~5080~5", "sip:127.0.0.1:5080;transport=ws", Endpoint("ws", "127.0.0.1", 5080)),
    ("[2001:db8::1]~5090~2", "sip:[2001:db8::1]:5090;transport=tcp",
     Endpoint("tcp", "2001:db8::1", 5090)),
])
def test_handle_ruri_alias_routes_by_the_alias(tmp_path: Path, alias: str, du: str,
                                               dest: Endpoint) -> None:
    data = wire(("INVITE sip:bob@127.0.0.1:5080",
                 f"INVITE sip:bob@h.invalid;transport=ws;alias={alias};ob"))
    proxy = Proxy(tmp_path, "KSR.t.out(KSR.nathelper.handle_ruri_alias())\n"
                            "KSR.t.forward()", MODULES)
    try:
        got = proxy.send(data, UAC)
        [out] = proxy.take(dest)
    finally:
        proxy.close()
    assert got == [1] and proxy.ctx.dst_uri == du
    assert isinstance(out, Request) and out.uri_text == "sip:bob@h.invalid;transport=ws;ob"


def test_fix_nated_sdp(tmp_path: Path) -> None:
    _, out = forwarded(tmp_path, "KSR.nathelper.fix_nated_sdp(2 + 4 + 1)", None, BEHIND_NAT)
    assert out.body == (b"v=0\r\nc=IN IP4 192.168.7.7\r\n"
                        b"a=nortpproxy:yes\r\n")   # no m= line: no a=direction
    assert out.header("content-length") == str(len(out.body))
    sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n"
    data = wire(("v=0\r\nc=IN IP4 10.0.0.1\r\n\r\n", sdp),
                ("Content-Length: 26", f"Content-Length: {len(sdp)}"))
    _, out = forwarded(tmp_path, 'KSR.nathelper.fix_nated_sdp_ip(8 + 1, "203.0.113.9")', data)
    assert out.body == (b"v=0\r\no=- 1 1 IN IP4 203.0.113.9\r\nc=IN IP4 10.0.0.1\r\n"
                        b"m=audio 4000 RTP/AVP 0\r\na=direction:active\r\n")


# ---- with the registrar, a reply route and the ping timer (LuaNet) --------------------

NET_SCRIPT = """
function ksr_request_route()
  KSR.force_rport()
  if KSR.is_REGISTER() then
    if KSR.nathelper.nat_uac_test(19) > 0 or KSR.pv.get("$hdr(X-Fix)") then
      KSR.nathelper.fix_nated_register()
    end
    KSR.registrar.save("location", 0)
    return
  end
  if KSR.siputils.has_totag() > 0 then
    KSR.test.record(KSR.nathelper.handle_ruri_alias())
    KSR.tm.t_relay()
    return
  end
  KSR.registrar.lookup("location")
  KSR.test.record(KSR.pv.get("$du") or "")
  KSR.tm.t_relay()
end

function ksr_reply_route()
  if KSR.nathelper.nat_uac_test(1 + 64) > 0 then
    KSR.test.record(KSR.nathelper.set_contact_alias())
  end
end
"""
PHONE = Endpoint("udp", "198.51.100.20", 40000)    # the NAT's public side


def register(contact: str, via: str = "127.0.0.1:5080", extra: str = "") -> bytes:
    return (f"REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {via};branch=z9hG4bK-reg1\r\n"
            f"From: <sip:alice@127.0.0.1>;tag=r1\r\nTo: <sip:alice@127.0.0.1>\r\n"
            f"Call-ID: reg-1\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
            f"Contact: {contact}\r\n{extra}Content-Length: 0\r\n\r\n").encode()


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Any]:
    made: list[LuaNet] = []

    def make(**params: Any) -> LuaNet:
        usrloc_mod.init()
        registrar_mod.init()
        nathelper_mod.init(params)
        made.append(LuaNet(NET_SCRIPT, tmp_path, modules=(
            "tm", "tmx", "sl", "siputils", "registrar", "usrloc", "nathelper")))
        return made[-1]

    yield make
    for n in made:
        n.stop()
    ping.destroy()
    usrloc_mod.destroy()
    registrar_mod.init()


def test_fix_nated_register_is_what_the_registrar_stores(net: Any) -> None:
    n = net()
    # the Contact and Via are the source itself: only fix_nated_register (asked for with
    # X-Fix) marks it, through received_avp
    n.deliver(register("<sip:alice@127.0.0.1:5080>", extra="X-Fix: 1\r\n"), UAS)
    [ok] = n.take(UAS)
    assert isinstance(ok, Response) and ok.status == 200
    [binding] = ul.table("location").lookup("alice")
    assert binding.received == "sip:127.0.0.1:5080"


def test_natted_phone_is_called_at_its_source_and_the_dialog_follows_the_alias(
        net: Any) -> None:
    n = net()
    n.deliver(register("<sip:alice@192.168.1.20:5060>", via="192.168.1.20:5060"), PHONE)
    [ok] = n.take(PHONE)
    assert isinstance(ok, Response) and ok.status == 200
    assert ul.table("location").lookup("alice")[0].received == "sip:198.51.100.20:40000"

    n.deliver(request("INVITE", uri="sip:alice@127.0.0.1:5060"))
    assert n.recorded == ["sip:198.51.100.20:40000"]
    [invite] = n.take(PHONE)     # sent to where the REGISTER came from
    assert isinstance(invite, Request) and invite.uri_text == "sip:alice@192.168.1.20:5060"
    # the phone answers from behind its NAT with its private Contact
    answer = (invite.make_response(200, to_tag="callee").to_bytes().decode()
              .replace("Content-Length: 0", "Contact: <sip:alice@192.168.1.20:5060>\r\n"
                                            "Content-Length: 0"))
    n.deliver(answer, PHONE)
    assert n.recorded[1:] == [1]
    [ok] = [m for m in n.take(UAC) if isinstance(m, Response) and m.status == 200]
    alias = "<sip:alice@192.168.1.20:5060;alias=198.51.100.20~40000~1>"
    assert ok.values("contact") == [alias]

    # the caller's ACK goes to that Contact: handle_ruri_alias sends it to the NAT
    ack = (f"ACK {alias.strip('<>')} SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-ack\r\n"
           "From: sipp <sip:sipp@127.0.0.1:5070>;tag=1SIPpTag001\r\n"
           "To: <sip:alice@127.0.0.1:5060>;tag=callee\r\n"
           "Call-ID: 1-call@127.0.0.1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n"
           "Content-Length: 0\r\n\r\n")
    n.deliver(ack)
    assert n.recorded[2:] == [1]
    [relayed] = n.take(PHONE)
    assert isinstance(relayed, Request) and relayed.method == "ACK"
    assert relayed.uri_text == "sip:alice@192.168.1.20:5060"


@pytest.mark.parametrize("params,nated_only_count", [({}, 2), ({"ping_nated_only": 1}, 1)])
def test_pings(net: Any, params: dict[str, Any], nated_only_count: int) -> None:
    n = net(**params)
    n.deliver(register("<sip:alice@192.168.1.20:5060>", via="192.168.1.20:5060"), PHONE)
    n.deliver(register("<sip:bob@127.0.0.1:5090>", via="127.0.0.1:5090")
              .replace(b"alice", b"bob").replace(b"reg-1", b"reg-2"),
              Endpoint("udp", "127.0.0.1", 5090))
    n.deliver(register("<sip:carol@127.0.0.1:5091;transport=tcp>", via="127.0.0.1:5091")
              .replace(b"alice", b"carol").replace(b"reg-1", b"reg-3"),
              Endpoint("udp", "127.0.0.1", 5091))   # not UDP: no ping
    n.out.sent.clear()
    assert ping.ping_all(n.core) == nated_only_count
    assert (ping.UDP_PING, PHONE) in n.out.sent
    assert len(n.out.sent) == nated_only_count


def test_sip_pings(net: Any) -> None:
    n = net(sipping_from="sip:pinger@127.0.0.1", ping_nated_only=1)
    n.deliver(register("<sip:alice@192.168.1.20:5060>", via="192.168.1.20:5060"), PHONE)
    n.take(PHONE)
    assert ping.ping_all(n.core) == 1
    gevent.sleep(0.01)
    [options] = n.take(PHONE)
    assert isinstance(options, Request) and options.method == "OPTIONS"
    assert options.uri_text == "sip:alice@192.168.1.20:5060"
    assert options.from_.uri.user == "pinger"  # type: ignore[union-attr]


def test_enable_ping() -> None:
    assert nathelper_mod.enable_ping(0) == {"enabled": 0}
    assert nathelper_mod.enable_ping("1") == {"enabled": 1}
