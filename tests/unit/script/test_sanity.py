"""KSR.sanity through a real Lua script and the real Core (kemi_harness.py): RFC 4475
torture messages and hand-made requests, each with the check bits, what sanity_check
returns and the answer that goes back to the UAC (status, reason, Unsupported)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from geosip.modules.sanity import checks, mod
from geosip.sip import ParseError, Request, Response, parse
from tests.unit.script.kemi_harness import UAC, run, wire

MODULES = ("sanity",)
CONFORMANCE = Path(__file__).parents[2] / "data" / "conformance"
DEFAULTS = 3047          # Kamailio's default_checks
ALL = 32767 - 8 - 16     # every check (8 and 16 are no-ops in Kamailio too)


def torture(name: str) -> bytes:
    return (CONFORMANCE / "rfc4475" / f"{name}.sip").read_bytes()


@pytest.fixture(autouse=True)
def default_params() -> Iterator[None]:
    mod.init()
    yield
    mod.init()


def check(tmp_path: Path, data: bytes, mflags: int, uflags: int = 7,
          before: str = "") -> tuple[int, Response | None]:
    """sanity_check's return value and the reply sent to the UAC (None: no reply)."""
    out, proxy = run(tmp_path, f"{before}\nKSR.t.out(KSR.sanity.sanity_check({mflags}, "
                               f"{uflags}))", data, MODULES)
    # torture messages name other hosts in Via: the answer goes where Via says
    replies = [m for m in proxy.take() if isinstance(m, Response)]
    assert proxy.violations == 0
    assert len(replies) <= 1
    return out[0], replies[0] if replies else None


TORTURE = [
    # (RFC 4475 message, check bits, uri checks, returned, status, reason, Unsupported)
    ("bext01", 512, 7, -1, 420, "Bad Proxy Require Extension",
     "noProxiesSupportThis, norDoAnyProxiesSupportThis"),
    ("bext01", DEFAULTS, 7, -1, 420, "Bad Proxy Require Extension",
     "noProxiesSupportThis, norDoAnyProxiesSupportThis"),
    ("unkscm", 2, 7, -1, 416, "Unsupported URI Scheme in Request URI", None),
    ("novelsc", DEFAULTS, 7, -1, 416, "Unsupported URI Scheme in Request URI", None),
    ("ltgtruri", 2, 7, -1, 400, "Bad Request URI", None),
    ("ltgtruri", 1024, 1, -1, 400, "Bad Request URI", None),
    # Kamailio compares the datagram with Content-Length (RFC 3261 §18.3 would discard
    # the extra octets instead): leave check 128 out to follow the RFC
    ("dblreq", 128, 7, -1, 400, "Content-Length mis-match", None),
    ("dblreq", DEFAULTS - 128, 7, 1, None, None, None),
    ("regbadct", 1024, 8, -1, 400, "Bad Contact Header", None),
    ("unksm2", 1024, 8, -1, 400, "Bad Contact URI", None),
    ("unksm2", 1024, 2, -1, 400, "Invalid From Header", None),
    ("unksm2", 1024, 1, 1, None, None, None),
    # a non-Digest Authorization fails check 2048 without an answer (Kamailio's
    # behaviour); check 8192 lets other schemes through
    ("regaut01", 2048, 7, -1, None, None, None),
    ("regaut01", 8192, 7, 1, None, None, None),
    # To does not parse (RFC 4475 says reject with 400); the reply tags its text as is
    ("badaspec", 1024, 4, -1, 400, "Invalid To Header", None),
    ("quotbal", 1024, 4, -1, 400, "Invalid To Header", None),
    ("wsinv", ALL, 15, 1, None, None, None),
    ("esc01", ALL, 15, 1, None, None, None),
    ("intmeth", ALL, 15, 1, None, None, None),
    ("zeromf", DEFAULTS, 7, 1, None, None, None),     # Max-Forwards 0 is maxfwd's job
]


@pytest.mark.parametrize("name,mflags,uflags,returned,status,reason,unsupported", TORTURE)
def test_rfc4475_messages(tmp_path: Path, name: str, mflags: int, uflags: int,
                          returned: int, status: int | None, reason: str | None,
                          unsupported: str | None) -> None:
    got, reply = check(tmp_path, torture(name), mflags, uflags)
    assert got == returned
    if status is None:
        assert reply is None
    else:
        assert reply is not None and (reply.status, reply.reason) == (status, reason)
        assert reply.header("Unsupported") == unsupported
        assert reply.call_id == parse(torture(name)).call_id


def _valid_requests() -> list[str]:
    entries = json.loads((CONFORMANCE / "manifest.json").read_text())
    names = []
    for entry in entries:
        if not entry["file"].startswith("rfc4475/") or not entry["valid"]:
            continue
        try:
            msg = parse((CONFORMANCE / entry["file"]).read_bytes())
        except ParseError:
            continue
        if isinstance(msg, Request):
            names.append(Path(entry["file"]).stem)
    return names


# What the default checks (3047) refuse among the RFC 4475 requests the RFC calls valid:
# an unknown Proxy-Require tag, an unknown R-URI scheme, extra octets after the body
# and a non-Digest Authorization, as Kamailio's sanity does.
DEFAULT_REFUSALS = {"bext01": 420, "unkscm": 416, "novelsc": 416, "dblreq": 400,
                    "regaut01": None}


@pytest.mark.parametrize("name", _valid_requests())
def test_valid_torture_requests_pass_the_defaults(tmp_path: Path, name: str) -> None:
    out, proxy = run(tmp_path, "KSR.t.out(KSR.sanity.sanity_check_defaults())",
                     torture(name), MODULES)
    replies = [m.status for m in proxy.take() if isinstance(m, Response)]
    if name in DEFAULT_REFUSALS:
        status = DEFAULT_REFUSALS[name]
        assert out == [-1] and replies == ([status] if status else [])
    else:
        assert out == [1] and replies == []


def header(line: str) -> bytes:
    return wire(("X-Foo: one\r\n", f"{line}\r\nX-Foo: one\r\n"))


HAND_MADE = [
    # (request, check bits, uri checks, returned, status, reason)
    (wire(), DEFAULTS, 7, 1, None, None),
    (wire(), ALL, 15, 1, None, None),
    (header("Expires:"), 256, 7, -1, 400, "Missing number in Expires header"),
    (header("Expires: soon"), 256, 7, -1, 400, "Bad Expires Header"),
    (header("Expires: 4294967296"), 256, 7, -1, 400, "Expires value is illegal"),
    (header("Expires: 4294967295"), 256, 7, 1, None, None),
    (header("Proxy-Require: foo, bar"), 512, 7, -1, 420, "Bad Proxy Require Extension"),
    (wire(("tag=f1", "tag=f1;tag=f2")), 4096, 7, -1, 400, "Many From Tag Params"),
    (wire(("To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=a;TAG=b")), 4096, 7,
     -1, 400, "Many To Tag Params"),
    (header('Authorization: Digest username="", realm="a", nonce="n", uri="sip:a", '
            'response="r"'), 2048, 7, -1, 400, "Auth Empty User"),
    (header('Proxy-Authorization: Digest username="u", realm="a", nonce="", uri="sip:a", '
            'response="r"'), 2048, 7, -1, 400, "Auth Empty Nonce"),
    (header('Authorization: Digest username="u", realm="a"'), 2048, 7, -1, 400,
     "Bad Auth Header"),
    (header('Authorization: Digest username="u", realm="a", nonce="n", uri="sip:a", '
            'response="r"'), 2048, 7, 1, None, None),
    (header("Authorization: Bearer abc"), 8192, 7, 1, None, None),
    (wire(("Contact: <sip:alice@127.0.0.1:5070>", "Contact: <mailto:alice@example.com>")),
     1024, 8, -1, 400, "Bad Contact URI"),
]


@pytest.mark.parametrize("data,mflags,uflags,returned,status,reason", HAND_MADE)
def test_hand_made_requests(tmp_path: Path, data: bytes, mflags: int, uflags: int,
                            returned: int, status: int | None, reason: str | None) -> None:
    got, reply = check(tmp_path, data, mflags, uflags)
    assert got == returned
    if status is None:
        assert reply is None
    else:
        assert reply is not None and (reply.status, reply.reason) == (status, reason)


def test_proxy_require_parameter(tmp_path: Path) -> None:
    mod.init({"proxy_require": "noProxiesSupportThis, otherTag"})
    got, reply = check(tmp_path, torture("bext01"), 512)
    assert got == -1 and reply is not None and reply.status == 420
    assert reply.header("Unsupported") == "norDoAnyProxiesSupportThis"
    mod.init({"proxy_require": "NOPROXIESSUPPORTTHIS,norDoAnyProxiesSupportThis"})
    assert check(tmp_path, torture("bext01"), 512) == (1, None)   # tokens ignore case


def test_reply_headers_queued_before_go_along(tmp_path: Path) -> None:
    got, reply = check(tmp_path, torture("unkscm"), 2,
                       before='KSR.hdr.append_to_reply("X-Why: scheme\\r\\n")')
    assert reply is not None and reply.status == 416 and reply.header("X-Why") == "scheme"


def test_noreply_then_sanity_reply(tmp_path: Path) -> None:
    mod.init({"noreply": 1})
    route = ("KSR.t.out(KSR.sanity.sanity_check(512, 7))\n"
             "KSR.t.out(KSR.sanity.sanity_reply())")
    out, proxy = run(tmp_path, route, torture("bext01"), MODULES)
    assert out == [-1, 1]
    [reply] = proxy.take()
    assert isinstance(reply, Response) and reply.status == 420
    assert reply.header("Unsupported") == "noProxiesSupportThis, norDoAnyProxiesSupportThis"


def test_sanity_reply_without_a_failure_sends_500(tmp_path: Path) -> None:
    mod.init({"noreply": 1})
    out, proxy = run(tmp_path, "KSR.t.out(KSR.sanity.sanity_reply())", wire(), MODULES)
    assert out == [1]
    [reply] = proxy.take(UAC)
    assert isinstance(reply, Response) and (reply.status, reply.reason) == (
        500, "Server Sanity Failure")


def test_sanity_reply_is_a_no_op_without_noreply(tmp_path: Path) -> None:
    out, proxy = run(tmp_path, "KSR.t.out(KSR.sanity.sanity_reply())", wire(), MODULES)
    assert out == [1] and proxy.take(UAC) == []


def test_an_ack_is_never_answered(tmp_path: Path) -> None:
    ack = wire(("INVITE sip:bob", "ACK sip:bob"), ("CSeq: 7 INVITE", "CSeq: 7 ACK"),
               ("X-Foo: one\r\n", "Proxy-Require: foo\r\nX-Foo: one\r\n"))
    assert check(tmp_path, ack, 512) == (-1, None)


def test_defaults_use_the_parameters(tmp_path: Path) -> None:
    mod.init({"default_checks": 256})
    out, proxy = run(tmp_path, "KSR.t.out(KSR.sanity.sanity_check_defaults())",
                     torture("bext01"), MODULES)
    assert out == [1] and checks.SETTINGS["default_checks"] == 256
