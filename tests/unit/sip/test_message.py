"""geosip.sip.message: accessors, mutations and serialization of Request/Response."""

from __future__ import annotations

import pytest

from geosip.sip import LocalProtocolError, ParseError, Request, Response, SipUri, parse

INVITE = (b"INVITE sip:bob@biloxi.com SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP proxy.atlanta.com;branch=z9hG4bK2d4790.1, "
          b"SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;received=192.0.2.1\r\n"
          b"Max-Forwards: 69\r\n"
          b"Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
          b"To: Bob <sip:bob@biloxi.com>\r\n"
          b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
          b"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
          b"CSeq: 314159 INVITE\r\n"
          b"Timestamp: 54\r\n"
          b"Contact: <sip:alice@pc33.atlanta.com>\r\n"
          b"Supported: path, outbound\r\n"
          b"Expires: 120\r\n"
          b"Content-Type: application/sdp\r\n"
          b"Content-Length: 4\r\n\r\nv=0\n")


def test_accessors() -> None:
    msg = parse(INVITE)
    assert isinstance(msg, Request) and isinstance(msg.uri, SipUri)
    assert msg.uri.user == "bob"
    assert [v.host for v in msg.via] == ["proxy.atlanta.com", "pc33.atlanta.com"]
    assert msg.via[1].received == "192.0.2.1"
    assert msg.top_via.branch == "z9hG4bK2d4790.1"
    assert msg.max_forwards == 69
    assert [str(r.uri) for r in msg.route] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert (msg.from_tag, msg.to_tag) == ("1928301774", None)
    assert msg.from_.display == "Alice"
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.com"
    assert msg.cseq == (314159, "INVITE") and str(msg.cseq) == "314159 INVITE"
    assert msg.tokens("supported") == ["path", "outbound"]
    assert msg.expires == 120
    assert msg.content_type == "application/sdp"
    assert msg.content_length == 4 and msg.body == b"v=0\n"
    assert msg.values("route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert msg.header("nope") is None and msg.header_all("nope") == [] and not msg.has("nope")


def test_setting_the_uri_it_has_keeps_the_parsed_uri_and_the_bytes() -> None:
    msg = parse(INVITE)
    assert isinstance(msg, Request)
    parsed = msg.uri
    msg.uri = "sip:bob@biloxi.com"  # what a proxy does for every branch
    assert msg.uri is parsed and msg.to_bytes() == INVITE
    msg.uri = SipUri(scheme="sip", user="bob", host="biloxi.com", port=5060)
    assert msg.to_bytes().startswith(b"INVITE sip:bob@biloxi.com:5060 SIP/2.0\r\n")


def test_replace_top_via_keeps_the_other_values_and_the_new_via_as_top_via() -> None:
    msg = parse(INVITE)
    stamped = msg.top_via.with_param("received", "192.0.2.7")
    msg.replace_top_via(stamped)
    assert msg.top_via is stamped
    assert msg.values("via") == [
        "SIP/2.0/UDP proxy.atlanta.com;branch=z9hG4bK2d4790.1;received=192.0.2.7",
        "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;received=192.0.2.1"]
    assert parse(msg.to_bytes()).top_via == stamped  # what parsing it back would give


def test_proxy_style_mutations_keep_other_bytes() -> None:
    msg = parse(INVITE)
    assert isinstance(msg, Request)
    msg.prepend_value("Via", "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKnew")
    msg.set_header("Max-Forwards", "68")
    assert msg.pop_value("Route") == "<sip:p1.example.com;lr>"
    msg.prepend_value("Record-Route", "<sip:192.0.2.9;lr>")
    msg.uri = "sip:bob@192.0.2.4"
    out = msg.to_bytes()
    # a value with no field of its name yet goes to the very top (as Kamailio does)
    assert out.startswith(b"INVITE sip:bob@192.0.2.4 SIP/2.0\r\n"
                          b"Record-Route: <sip:192.0.2.9;lr>\r\n"
                          b"Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKnew\r\n"
                          b"Via: SIP/2.0/UDP proxy.atlanta.com;branch=z9hG4bK2d4790.1, ")
    assert b"Max-Forwards: 68\r\n" in out and b"Max-Forwards: 69" not in out
    assert b"Route: <sip:p2.example.com;lr>\r\n" in out
    again = parse(out, strict=True)
    assert len(again.via) == 3 and again.max_forwards == 68
    assert [str(r.uri) for r in again.route] == ["sip:p2.example.com;lr"]
    # fields nobody touched are byte-identical
    for line in (b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n",
                 b"Supported: path, outbound\r\n", b"\r\n\r\nv=0\n"):
        assert line in out


def test_response_pops_top_via_and_caches_update() -> None:
    resp = parse(INVITE.replace(b"INVITE sip:bob@biloxi.com SIP/2.0",
                                b"SIP/2.0 180 Ringing"))
    assert isinstance(resp, Response)
    assert resp.top_via.host == "proxy.atlanta.com"
    resp.pop_value("Via")
    assert resp.top_via.host == "pc33.atlanta.com"
    assert b"Via: SIP/2.0/UDP pc33.atlanta.com;" in resp.to_bytes()
    resp.pop_value("Via")
    assert resp.via == []
    assert resp.pop_value("Via") is None
    with pytest.raises(ParseError, match="missing Via"):
        _ = resp.top_via


def test_make_response_copies_rfc3261_headers() -> None:
    req = parse(INVITE)
    assert isinstance(req, Request)
    trying = req.make_response(100)
    assert trying.start_line() == "SIP/2.0 100 Trying"
    assert trying.header("Timestamp") == "54"  # §8.2.6.1
    assert trying.to_tag is None
    busy = req.make_response(486, to_tag="as83kd9")
    wire = busy.to_bytes()
    assert wire.startswith(b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP proxy.atlanta.com;")
    assert busy.to_tag == "as83kd9" and busy.from_tag == "1928301774"
    assert busy.call_id == req.call_id and busy.cseq == req.cseq
    assert not busy.has("Route") and not busy.has("Contact") and not busy.has("Timestamp")
    assert wire.endswith(b"Content-Length: 0\r\n\r\n")
    assert parse(wire, strict=True).to_bytes() == wire
    custom = req.make_response(404, "Nobody Home")
    assert custom.reason == "Nobody Home"


def test_build_request_and_set_body() -> None:
    req = Request("MESSAGE", "sip:bob@example.com", [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKm1"),
        ("from", "<sip:alice@example.com>;tag=x"), ("to", "<sip:bob@example.com>"),
        ("call-id", "m1"), ("cseq", "1 MESSAGE"), ("max-forwards", "70")])
    req.set_body(b"hi bob", "text/plain")
    wire = req.to_bytes()
    assert b"\r\nCall-ID: m1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n" in wire
    assert wire.endswith(b"Content-Length: 6\r\nContent-Type: text/plain\r\n\r\nhi bob")
    again = parse(wire, strict=True)
    assert again.body == b"hi bob" and again.content_type == "text/plain"
    req.set_body(b"")
    assert not req.has("content-type") and req.header("content-length") == "0"


def test_set_and_remove_headers() -> None:
    msg = parse(INVITE)
    msg.add_header("X-Dup", "1")
    msg.add_header("X-Dup", "2")
    msg.add_header("X-Top", "t", first=True)
    assert msg.header_all("x-dup") == ["1", "2"]
    msg.set_header("x-dup", "3")
    assert msg.header_all("X-Dup") == ["3"]
    assert msg.remove_header("X-DUP") == 1 and msg.remove_header("X-Dup") == 0
    assert msg.to_bytes().split(b"\r\n")[1] == b"X-Top: t"
    with pytest.raises(LocalProtocolError):
        msg.add_header("X-Evil", "a\r\nVia: injected")


def test_lazy_errors_surface_on_access() -> None:
    msg = parse(INVITE.replace(b"Contact: <sip:alice@pc33.atlanta.com>",
                               b"Contact: <sip:alice@pc33.atlanta.com"))
    with pytest.raises(ParseError, match="'<' without '>'"):
        _ = msg.contact
    with pytest.raises(ParseError):
        msg.validate()


def test_contact_star() -> None:
    reg = parse(INVITE.replace(b"Contact: <sip:alice@pc33.atlanta.com>", b"Contact: *"))
    assert reg.is_contact_star and reg.contact == []
    mixed = parse(INVITE.replace(b"Contact: <sip:alice@pc33.atlanta.com>",
                                 b"Contact: *, <sip:a@b>"))
    with pytest.raises(ParseError, match="mixed"):
        _ = mixed.contact


def test_response_constructor_checks_status() -> None:
    with pytest.raises(LocalProtocolError):
        Response(99)
    resp = Response(200)
    resp.set_status(202)
    assert resp.start_line() == "SIP/2.0 202 Accepted"
