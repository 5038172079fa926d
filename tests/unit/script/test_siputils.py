"""KSR.siputils through a real Lua script and the real Core (kemi_harness.py): tables
of (script line, request, value returned), and the Request-URI on the wire after the
functions that change it."""

from __future__ import annotations

from email.utils import formatdate
from pathlib import Path

import pytest

from geosip.modules.siputils import checks, mod
from geosip.sip import Request, Response
from tests.unit.script.kemi_harness import UAC, UAS, run, wire

MODULES = ("siputils",)
RURI = "INVITE sip:bob@127.0.0.1:5080"
PARAMS = wire((RURI, "INVITE sip:bob@127.0.0.1:5080;transport=udp;lr;user=phone"))
IN_DIALOG = wire(("To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=t2"))
TWO_VIAS = wire(("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-abc;rport\r\n",
                 "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-abc;rport\r\n"
                 "Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-first\r\n"))
GRUU = wire((RURI, "INVITE sip:bob@127.0.0.1:5080;gr=urn:uuid:f81d4fae"))
GRUU_FLAG = wire((RURI, "INVITE sip:bob@127.0.0.1:5080;gr"))
OLD_DATE = wire(("X-Foo: one\r\n", "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\nX-Foo: one\r\n"))
NEW_DATE = wire(("X-Foo: one\r\n", f"Date: {formatdate(usegmt=True)}\r\nX-Foo: one\r\n"))
BAD_EXPIRES = wire(("X-Foo: one\r\n", "Expires: soon\r\nX-Foo: one\r\n"))

RETURNS = [
    ("KSR.siputils.has_totag()", None, -1),
    ("KSR.siputils.has_totag()", IN_DIALOG, 1),
    ("KSR.siputils.is_request()", None, 1),
    ("KSR.siputils.is_reply()", None, -1),
    ("KSR.siputils.is_sip()", None, 1),
    ("KSR.siputils.is_http()", None, -1),
    ("KSR.siputils.is_first_hop()", None, 1),
    ("KSR.siputils.is_first_hop()", TWO_VIAS, -1),
    ("KSR.siputils.is_first_hop_mode(1)", TWO_VIAS, -1),
    ('KSR.siputils.is_uri("sip:alice@example.com;transport=tcp")', None, 1),
    ('KSR.siputils.is_uri("tel:+4930123")', None, 1),
    ('KSR.siputils.is_uri("urn:service:sos")', None, 1),
    ('KSR.siputils.is_uri("http://example.com/")', None, -1),
    ('KSR.siputils.is_uri("tels:+4930123")', None, -1),        # as Kamailio 5.6
    ('KSR.siputils.is_uri("not a uri")', None, -1),
    ('KSR.siputils.is_tel_number("+4930123")', None, 1),
    ('KSR.siputils.is_tel_number("004930123")', None, 1),
    ('KSR.siputils.is_tel_number("+04930")', None, -2),
    ('KSR.siputils.is_tel_number("+")', None, -2),
    ('KSR.siputils.is_tel_number("12a")', None, -2),
    ('KSR.siputils.is_tel_number("")', None, -2),
    ('KSR.siputils.is_numeric("0123")', None, 1),
    ('KSR.siputils.is_numeric("12a")', None, -2),
    ('KSR.siputils.is_numeric("")', None, -2),
    ('KSR.siputils.is_alphanum("abc123")', None, 1),
    ('KSR.siputils.is_alphanum("ab-c")', None, -3),
    ('KSR.siputils.is_alphanum("")', None, -2),
    ('KSR.siputils.is_alphanumex("ab-c.d", "-.")', None, 1),
    ('KSR.siputils.is_alphanumex("ab_c", "-")', None, -3),
    ('KSR.siputils.uri_param("lr")', PARAMS, 1),
    ('KSR.siputils.uri_param("transport")', PARAMS, -1),       # it has a value
    ('KSR.siputils.uri_param("maddr")', PARAMS, -1),
    ('KSR.siputils.uri_param_value("transport", "udp")', PARAMS, 1),
    ('KSR.siputils.uri_param_value("transport", "tcp")', PARAMS, -1),
    ('KSR.siputils.uri_param_value("Transport", "udp")', PARAMS, -1),  # exact name
    ('KSR.siputils.uri_param_any("TRANSPORT")', PARAMS, 1),
    ('KSR.siputils.uri_param_any("maddr")', PARAMS, -1),
    ("KSR.siputils.is_gruu()", GRUU, 1),
    ("KSR.siputils.is_gruu()", GRUU_FLAG, 2),
    ("KSR.siputils.is_gruu()", None, -1),
    ('KSR.siputils.cmp_uri("sip:a@B.example.com", "sip:a@b.example.com")', None, 1),
    ('KSR.siputils.cmp_uri("sip:a@b.com", "sip:A@b.com")', None, -1),
    ('KSR.siputils.cmp_uri("sip:a@b.com;user=phone", "sip:a@b.com")', None, -1),
    ('KSR.siputils.cmp_uri("sip:a@b.com;foo=1", "sip:a@b.com")', None, 1),
    ('KSR.siputils.cmp_uri("sip:a@b.com;transport=UDP", "sip:a@b.com;transport=udp")',
     None, 1),
    ('KSR.siputils.cmp_uri("sip:a@b.com;transport=tcp", "sip:a@b.com;transport=udp")',
     None, -1),
    ('KSR.siputils.cmp_uri("sip:a@b.com:5060", "sip:a@b.com")', None, -1),
    ('KSR.siputils.cmp_uri("sips:a@b.com", "sip:a@b.com")', None, -1),
    ('KSR.siputils.cmp_uri("nonsense", "sip:a@b.com")', None, -2),
    ('KSR.siputils.cmp_aor("sip:a@b.com:5060", "sip:a@B.com;transport=tcp")', None, 1),
    ('KSR.siputils.cmp_aor("sip:a@b.com:5070", "sip:a@b.com")', None, -1),
    ('KSR.siputils.cmp_aor("sip:b@b.com", "sip:a@b.com")', None, -1),
    ('KSR.siputils.cmp_hdr_name("Via", "via")', None, 1),
    ('KSR.siputils.cmp_hdr_name("Via", "v")', None, 1),          # compact form
    ('KSR.siputils.cmp_hdr_name("i", "Call-ID")', None, 1),
    ('KSR.siputils.cmp_hdr_name("a", "b")', None, -1),           # two known headers
    ('KSR.siputils.cmp_hdr_name("X-A", "X-B")', None, -2),
    ('KSR.siputils.cmp_hdr_name("X-B", "X-A")', None, -1),
    ("KSR.siputils.hdr_date_check(60)", OLD_DATE, -4),
    # NEW_DATE is made when the module is collected: allow for a long test session
    ("KSR.siputils.hdr_date_check(3600)", NEW_DATE, 1),
    ("KSR.siputils.hdr_date_check(60)", None, -1),
    ("KSR.siputils.sip_parse_headers()", None, 1),
    ("KSR.siputils.sip_parse_headers()", BAD_EXPIRES, -1),
    ("KSR.siputils.options_reply()", None, -1),               # not an OPTIONS
]


@pytest.mark.parametrize("expr,data,value", RETURNS)
def test_siputils_returns(tmp_path: Path, expr: str, data: bytes | None, value: object) -> None:
    out, proxy = run(tmp_path, f"KSR.t.out({expr})", data or wire(), MODULES)
    assert out == [value]
    assert proxy.violations == 0


URI_EDITS = [
    # (script line, request, returned, Request-URI on the wire)
    ('KSR.t.out(KSR.siputils.add_uri_param("user=phone"))', None, [1],
     "sip:bob@127.0.0.1:5080;user=phone"),
    ('KSR.t.out(KSR.siputils.add_uri_param(""))', None, [1], "sip:bob@127.0.0.1:5080"),
    ('KSR.t.out(KSR.siputils.uri_param_rm("TRANSPORT"))', PARAMS, [1],
     "sip:bob@127.0.0.1:5080;lr;user=phone"),
    ('KSR.t.out(KSR.siputils.uri_param_rm("maddr"))', PARAMS, [1],
     "sip:bob@127.0.0.1:5080;transport=udp;lr;user=phone"),
]


@pytest.mark.parametrize("line,data,returned,ruri", URI_EDITS)
def test_siputils_request_uri(tmp_path: Path, line: str, data: bytes | None,
                              returned: list[object], ruri: str) -> None:
    out, proxy = run(tmp_path, f"{line}\nKSR.t.forward()", data or wire(), MODULES)
    assert out == returned
    [sent] = proxy.take(UAS)
    assert isinstance(sent, Request) and sent.uri_text == ruri


OPTIONS = (
    "OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-opt\r\n"
    "From: <sip:alice@example.com>;tag=o1\r\nTo: <sip:127.0.0.1:5060>\r\n"
    "Call-ID: opt-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


def test_options_reply(tmp_path: Path) -> None:
    out, proxy = run(tmp_path, "KSR.t.out(KSR.siputils.options_reply())", OPTIONS.encode(),
                     MODULES)
    assert out == [1]
    [reply] = proxy.take(UAC)
    assert isinstance(reply, Response) and (reply.status, reply.reason) == (200, "OK")
    assert reply.header("Accept") == "*/*" and reply.header("Accept-Language") == "en"
    assert reply.header("Accept-Encoding") == "" and reply.header("Supported") == ""


def test_options_reply_uses_the_module_parameters(tmp_path: Path) -> None:
    mod.init({"options_accept": "application/sdp", "options_support": "100rel"})
    try:
        run_out, proxy = run(tmp_path, "KSR.siputils.options_reply()", OPTIONS.encode(),
                             MODULES)
        [reply] = proxy.take(UAC)
        assert reply.header("Accept") == "application/sdp"
        assert reply.header("Supported") == "100rel"
    finally:
        mod.init()
    assert checks.SETTINGS["options_accept"] == "*/*"


def test_options_reply_refuses_a_user_part(tmp_path: Path) -> None:
    data = OPTIONS.replace("OPTIONS sip:127.0.0.1", "OPTIONS sip:carol@127.0.0.1").encode()
    out, proxy = run(tmp_path, "KSR.t.out(KSR.siputils.options_reply())", data, MODULES)
    assert out == [-1] and proxy.take(UAC) == []
