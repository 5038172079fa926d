"""geosip.sip.parser: start line, header framing, body framing, limits (RFC 3261 §7)."""

from __future__ import annotations

import pytest

from geosip.sip import Limits, ParseError, Request, Response, parse

HEADERS = (b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
           b"From: <sip:a@example.com>;tag=1\r\n"
           b"To: <sip:b@example.com>\r\n"
           b"Call-ID: c1@example.com\r\n")


def request(start: bytes = b"OPTIONS sip:b@example.com SIP/2.0",
            cseq: bytes = b"CSeq: 1 OPTIONS", extra: bytes = b"", body: bytes = b"",
            length: bytes | None = None) -> bytes:
    cl = b"Content-Length: %s\r\n" % (length if length is not None else
                                       str(len(body)).encode())
    return start + b"\r\n" + HEADERS + cseq + b"\r\n" + extra + cl + b"\r\n" + body


BAD = [
    # data, status, fragment of the reason
    (request(start=b"OPTIONS  sip:b@example.com SIP/2.0"), 400, "request line"),
    (request(start=b"OPTIONS sip:b@example.com SIP/2.0 "), 400, "request line"),
    (request(start=b"OPTIONS sip:b@example.com"), 400, "request line"),
    (request(start=b"OPTIONS sip:b@example.com SIP/3.0"), 505, "not supported"),
    (request(start=b"OPTIONS sip:b@example.com HTTP/1.1"), 400, "version"),
    (request(start=b"OPT(ONS sip:b@example.com SIP/2.0", cseq=b"CSeq: 1 OPT(ONS"), 400,
     "method"),
    (request(cseq=b"CSeq: 1 INVITE"), 400, "does not match"),
    (request(cseq=b"CSeq: 4294967296 OPTIONS"), 400, "2**32"),
    (request(cseq=b"CSeq: OPTIONS"), 400, "CSeq"),
    (request(extra=b"Call-ID: second@example.com\r\n"), 400, "more than one"),
    (request(extra=b"No colon here\r\n"), 400, "without a name"),
    (request(extra=b"Bad Name: x\r\n"), 400, "header name"),
    (request(extra=b": x\r\n"), 400, "header name"),
    (request(length=b"abc"), 400, "Content-Length"),
    (request(length=b"10"), 400, "exceeds"),
    (request(extra=b"Content-Length: 4\r\n", body=b"12345"), 400, "conflicting"),
    (b"SIP/2.0 1000 Too Big\r\n" + HEADERS + b"CSeq: 1 OPTIONS\r\n\r\n", 400, "status"),
    (b"SIP/2.0 099 Low\r\n" + HEADERS + b"CSeq: 1 OPTIONS\r\n\r\n", 400, "status"),
    (request().replace(b"\r\n\r\n", b"\r\n"), 400, "empty line"),
    (b"", 400, "empty"),
    (b"\r\n\r\n", 400, "empty"),
    (request().replace(b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n", b""), 400, "Via"),
]


@pytest.mark.parametrize("data,status,reason", BAD)
def test_bad_messages(data: bytes, status: int, reason: str) -> None:
    with pytest.raises(ParseError) as err:
        parse(data)
    assert err.value.status == status
    assert reason in err.value.reason


def test_error_carries_the_fields_read_so_far() -> None:
    """The core answers statelessly from them (STYLE.md item 6)."""
    with pytest.raises(ParseError) as err:
        parse(request(cseq=b"CSeq: 1 INVITE"))
    fields = err.value.fields
    assert isinstance(fields, list)
    assert {f.key for f in fields} >= {"via", "from", "to", "call-id", "cseq"}


def test_limits_answer_513() -> None:
    big = request(body=b"x" * 70000)
    with pytest.raises(ParseError) as err:
        parse(big)
    assert err.value.status == 513
    many = request(extra=b"X-A: 1\r\n" * 40)
    with pytest.raises(ParseError) as err:
        parse(many, limits=Limits(max_headers=32))
    assert err.value.status == 513
    assert isinstance(parse(many), Request)


def test_folding_compact_forms_and_case() -> None:
    data = (b"INVITE sip:b@example.com SIP/2.0\r\n"
            b"v: SIP/2.0/UDP 192.0.2.1\r\n ;branch=z9hG4bK1\r\n"
            b"f: <sip:a@example.com>;tag=1\r\n"
            b"t: <sip:b@example.com>\r\n"
            b"i: c1@example.com\r\n"
            b"cseq: 7\r\n\tINVITE\r\n"
            b"Subject:\r\n\tfolded subject\r\n"
            b"l: 0\r\n\r\n")
    msg = parse(data)
    assert msg.top_via.branch == "z9hG4bK1"
    assert msg.cseq == (7, "INVITE")
    assert msg.header("Call-ID") == msg.header("i") == "c1@example.com"
    assert msg.header("SUBJECT") == "folded subject"
    assert msg.to_bytes() == data


def test_crlf_before_start_line_is_ignored() -> None:
    data = request()
    msg = parse(b"\r\n\r\n" + data)
    assert msg.to_bytes() == data


def test_udp_body_framing() -> None:
    # RFC 3261 §18.3: over UDP, octets past Content-Length are discarded...
    msg = parse(request(body=b"hello") + b"junk")
    assert msg.body == b"hello" and msg.to_bytes() == request(body=b"hello")
    # ...and without Content-Length the body runs to the end of the datagram.
    no_cl = request().replace(b"Content-Length: 0\r\n", b"") + b"v=0\r\n"
    assert parse(no_cl).body == b"v=0\r\n"


def test_response_start_line() -> None:
    msg = parse(b"SIP/2.0 486 Busy Here\r\n" + HEADERS + b"CSeq: 1 INVITE\r\n\r\n")
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (486, "Busy Here")
    assert msg.cseq.method == "INVITE"  # a response's CSeq names its request
    lower = parse(b"sip/2.0 200 OK\r\n" + HEADERS + b"CSeq: 1 INVITE\r\n\r\n")
    assert isinstance(lower, Response) and lower.version == "sip/2.0"


def test_non_utf8_bytes_survive() -> None:
    data = request(extra=b"X-Raw: \xff\xfe\x80\r\n")
    msg = parse(data)
    assert msg.to_bytes() == data
    msg.add_header("X-New", "1")
    assert b"X-Raw: \xff\xfe\x80\r\n" in msg.to_bytes()


def test_strict_checks_every_known_header() -> None:
    data = request(extra=b"Contact: sip:a@b?x=y\r\n")
    assert isinstance(parse(data), Request)  # lazy: Contact not read yet
    with pytest.raises(ParseError, match="enclosed"):
        parse(data, strict=True)
