"""Round trips of generated well-formed messages (tests/fuzz/strategies.py).

(a) parse then to_bytes gives the input back, byte for byte; (b) the parsed parts are
the generated ones; (c) after prepend_value / set_header / pop_value / set_body the
message serializes, re-parses strictly, shows the change and leaves every other field
as it was; (d) messages built with Request(...), Response(...) and make_response()
re-parse strictly; (e) StreamFramer cuts a stream of them, in any chunking, back into
the same messages, with a KEEPALIVE for each CRLFCRLF ping (RFC 5626 §3.5.1).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geosip.sip import (KEEPALIVE, REASONS, Address, LocalProtocolError, Message, Request,
                        Response, SipUri, StreamFramer, TelUri, Uri, Via, parse, parse_uri)
from geosip.sip.grammar import COMPACT_FORMS, canonical_name, header_key

from .strategies import (Expected, examples, messages, requests, responses, tokens,
                         via_values)

# Generation is the slow part (a message is ~40 draws); the test bodies take
# milliseconds, so hypothesis' deadline stays on.
SETTINGS = settings(max_examples=examples(120), suppress_health_check=[HealthCheck.too_slow])


# ---- (a), (b) ---------------------------------------------------------------------------

def check_uri(uri: Uri, parts: Expected) -> None:
    if parts["scheme"] == "tel":
        assert isinstance(uri, TelUri) and uri.number == parts["number"]
        return
    assert isinstance(uri, SipUri)
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        parts["scheme"], parts["user"], parts["password"], parts["host"], parts["port"])
    assert list(uri.params) == parts["params"]
    assert list(uri.headers) == parts["headers"]


def check_address(addr: Address, exp: Expected) -> None:
    assert addr.display == exp["display"]
    assert str(addr.uri) == exp["uri"]
    check_uri(addr.uri, exp["uri_parts"])
    for name, value in exp["params"].items():
        assert addr.params.has(name) and addr.params.get(name) == value


def check_via(via: Via, exp: Expected) -> None:
    assert (via.transport, via.host, via.port, via.branch, via.rport, via.received) == (
        exp["transport"], exp["host"], exp["port"], exp["branch"], exp["rport"],
        exp["received"])
    assert via.rfc3261_branch


def check_parts(msg: Message, exp: Expected) -> None:
    """Every part the generator wrote, read back through the accessors."""
    if exp["kind"] == "request":
        assert isinstance(msg, Request)
        assert msg.method == exp["method"]
        assert msg.uri_text == exp["uri"] and str(msg.uri) == exp["uri"]
        check_uri(msg.uri, exp["uri_parts"])
    else:
        assert isinstance(msg, Response)
        assert (msg.status, msg.reason) == (exp["status"], exp["reason"])
    assert msg.start_line() == exp["start"]
    assert [(f.name, f.value) for f in msg.fields] == exp["fields"]
    assert [f.key for f in msg.fields] == [COMPACT_FORMS.get(k, k) for k in exp["keys"]]
    assert msg.call_id == exp["call_id"]
    assert tuple(msg.cseq) == exp["cseq"]
    check_address(msg.from_, exp["from"])
    check_address(msg.to, exp["to"])
    assert (msg.from_tag, msg.to_tag) == (exp["from"]["tag"], exp["to"]["tag"])
    assert len(msg.via) == len(exp["vias"])
    for via, want in zip(msg.via, exp["vias"]):
        check_via(via, want)
    check_via(msg.top_via, exp["vias"][0])
    assert msg.max_forwards == exp["max_forwards"]
    if exp["contacts"] == "*":
        assert msg.is_contact_star and msg.contact == []
    else:
        assert not msg.is_contact_star
        assert len(msg.contact) == len(exp["contacts"] or ())
        for addr, want in zip(msg.contact, exp["contacts"] or ()):
            check_address(addr, want)
    assert [str(a.uri) for a in msg.route] == exp["routes"]
    for name, value in exp["unknown"]:
        assert value in msg.header_all(name)
    assert msg.content_type == exp["content_type"]
    assert msg.body == exp["body"] and msg.content_length == len(exp["body"])


@SETTINGS
@given(messages())
def test_parse_serialize_is_identity(case: tuple[bytes, Expected]) -> None:
    wire, exp = case
    msg = parse(wire)
    assert msg.to_bytes() == wire
    assert bytes(msg) == wire
    check_parts(msg, exp)


@SETTINGS
@given(messages())
def test_strict_parse_reads_the_generated_parts(case: tuple[bytes, Expected]) -> None:
    wire, exp = case
    msg = parse(wire, strict=True)
    check_parts(msg, exp)
    msg.validate()
    assert msg.to_bytes() == wire


@SETTINGS
@given(messages(), st.integers(1, 3).map(lambda n: b"\r\n" * n), st.binary(max_size=20))
def test_leading_crlf_and_extra_octets(case: tuple[bytes, Expected], crlfs: bytes,
                                       extra: bytes) -> None:
    # RFC 3261 §7.5: CRLFs before the start line are ignored; §18.3: octets past
    # Content-Length are discarded.
    wire, exp = case
    msg = parse(crlfs + wire + extra)
    assert msg.to_bytes() == wire
    check_parts(msg, exp)


def test_addr_spec_with_angle_in_a_parameter_value() -> None:
    # Found by test_strict_parse_reads_the_generated_parts: in the addr-spec form a
    # '<' inside a quoted parameter value (RFC 5626 +sip.instance) is no name-addr.
    wire = (b"REGISTER sip:example.com SIP/2.0\r\n"
            b"Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\n"
            b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\n"
            b"Call-ID: c\r\nCSeq: 1 REGISTER\r\n"
            b'Contact: sip:a@192.0.2.1;+sip.instance="<urn:uuid:0000-1>";reg-id=1\r\n'
            b"Content-Length: 0\r\n\r\n")
    contact = parse(wire, strict=True).contact[0]
    assert str(contact.uri) == "sip:a@192.0.2.1" and contact.display is None
    assert contact.params.get("+sip.instance") == '"<urn:uuid:0000-1>"'
    assert contact.params.get("reg-id") == "1"


# ---- (c) mutations ----------------------------------------------------------------------

class Model:
    """The field list we expect after the mutations: [name, key, value, raw or None,
    list of values for Via fields]."""

    def __init__(self, msg: Message, exp: Expected) -> None:
        via_fields = iter(exp["via_fields"])
        self.fields: list[list[Any]] = []
        for f in msg.fields:
            values = next(via_fields) if f.key == "via" else None
            self.fields.append([f.name, f.key, f.value, f.raw, values])

    def first(self, key: str) -> int | None:
        return next((i for i, f in enumerate(self.fields) if f[1] == key), None)

    def via_count(self) -> int:
        return sum(len(f[4]) for f in self.fields if f[1] == "via")

    def prepend_via(self, value: str) -> None:
        at = self.first("via")
        self.fields.insert(0 if at is None else at, ["Via", "via", value, None, [value]])

    def set_header(self, name: str, key: str, value: str) -> None:
        at = self.first(key)
        if at is None:
            self.fields.append([name, key, value, None, None])
            return
        old_name = written_name(self.fields[at][0])   # Field.new spells it
        self.fields = [f for i, f in enumerate(self.fields) if f[1] != key or i == at]
        self.fields[at] = [old_name, key, value, None, None]

    def pop_via(self) -> str:
        at = self.first("via")
        assert at is not None
        field = self.fields[at]
        top, rest = field[4][0], field[4][1:]
        if rest:
            self.fields[at] = [field[0], "via", ", ".join(rest), None, rest]
        else:
            del self.fields[at]
        return top

    def remove(self, key: str) -> None:
        self.fields = [f for f in self.fields if f[1] != key]


mutations = st.lists(st.one_of(
    st.tuples(st.just("prepend_via"), via_values().map(lambda v: " ".join(v[0]))),
    st.tuples(st.just("max_forwards"), st.integers(0, 255)),
    st.tuples(st.just("pop_via"), st.none()),
    st.tuples(st.just("set_body"), st.tuples(
        st.binary(max_size=100),
        st.none() | st.sampled_from(["text/plain", "application/sdp;charset=x"])))),
    min_size=1, max_size=4)


@SETTINGS
@given(messages(), mutations)
def test_mutations_reparse_strictly(case: tuple[bytes, Expected],
                                    ops: list[tuple[str, Any]]) -> None:
    wire, exp = case
    msg = parse(wire, strict=True)
    model = Model(msg, exp)
    body = msg.body
    for op, arg in ops:
        if op == "prepend_via":
            msg.prepend_value("Via", arg)
            model.prepend_via(arg)
            assert str(msg.top_via) == arg
        elif op == "max_forwards":
            msg.set_header("Max-Forwards", str(arg))
            model.set_header("Max-Forwards", "max-forwards", str(arg))
            assert msg.max_forwards == arg
        elif op == "pop_via":
            if model.via_count() < 2:
                continue  # the last Via may not go: the message would be unparseable
            assert msg.pop_value("Via") == model.pop_via()
        else:
            body, content_type = arg
            msg.set_body(body, content_type)
            model.set_header("Content-Length", "content-length", str(len(body)))
            if content_type is not None:
                model.set_header("Content-Type", "content-type", content_type)
            elif not body:
                model.remove("content-type")
    out = msg.to_bytes()
    again = parse(out, strict=True)
    assert again.to_bytes() == out
    assert [(f.name, f.key, f.value) for f in again.fields] == [
        (name, key, value) for name, key, value, _, _ in model.fields]
    # Untouched fields keep their original text, folding and odd spacing included.
    for field, (_, _, _, raw, _) in zip(again.fields, model.fields):
        if raw is not None:
            assert field.raw == raw
    assert again.start_line() == exp["start"]
    assert again.body == body
    top = next(f[4][0] for f in model.fields if f[1] == "via")
    assert again.top_via.raw == top
    assert [v.raw for v in again.via] == [v for f in model.fields if f[1] == "via"
                                          for v in f[4]]


# ---- (d) constructors -------------------------------------------------------------------

def written_name(name: str) -> str:
    """How Field.new spells a name: a lower-case known long name is canonicalized."""
    key = header_key(name)
    return canonical_name(key) if name == key and len(name) > 1 else name


@SETTINGS
@given(requests(), st.booleans())
def test_request_constructor_reparses(case: tuple[bytes, Expected], parsed_uri: bool) -> None:
    _, exp = case
    uri = parse_uri(exp["uri"]) if parsed_uri else exp["uri"]
    req = Request(exp["method"], uri, exp["fields"], exp["body"])
    out = req.to_bytes()
    again = parse(out, strict=True)
    assert isinstance(again, Request)
    assert (again.method, again.uri_text) == (exp["method"], exp["uri"])
    assert [(f.name, f.value) for f in again.fields] == [
        (written_name(n), v) for n, v in exp["fields"]]
    assert again.body == exp["body"]
    check_parts_after_build(again, exp)
    assert again.to_bytes() == out


@SETTINGS
@given(responses())
def test_response_constructor_reparses(case: tuple[bytes, Expected]) -> None:
    _, exp = case
    resp = Response(exp["status"], exp["reason"], exp["fields"], exp["body"])
    out = resp.to_bytes()
    again = parse(out, strict=True)
    assert isinstance(again, Response)
    assert (again.status, again.reason) == (exp["status"], exp["reason"])
    assert [(f.name, f.value) for f in again.fields] == [
        (written_name(n), v) for n, v in exp["fields"]]
    check_parts_after_build(again, exp)


def check_parts_after_build(msg: Message, exp: Expected) -> None:
    assert msg.call_id == exp["call_id"]
    assert tuple(msg.cseq) == exp["cseq"]
    check_address(msg.from_, exp["from"])
    check_address(msg.to, exp["to"])
    for via, want in zip(msg.via, exp["vias"], strict=True):
        check_via(via, want)
    assert msg.body == exp["body"]


@SETTINGS
@given(requests(), st.integers(100, 699), st.none() | st.text(max_size=20).filter(
    lambda r: "\r" not in r and "\n" not in r), st.none() | tokens)
def test_make_response_reparses(case: tuple[bytes, Expected], status: int,
                                reason: str | None, to_tag: str | None) -> None:
    wire, exp = case
    req = parse(wire, strict=True)
    assert isinstance(req, Request)
    resp = req.make_response(status, reason, to_tag)
    out = resp.to_bytes()
    again = parse(out, strict=True)
    assert isinstance(again, Response)
    assert again.status == status
    assert again.reason == (reason if reason is not None else REASONS.get(status, "Unknown"))
    # RFC 3261 §8.2.6.2: Via, From, Call-ID, CSeq copied as they were, in order.
    copied = [f.raw for f in req.fields if f.key in ("via", "from", "call-id", "cseq")]
    assert [f.raw for f in again.fields if f.key in ("via", "from", "call-id", "cseq")
            ] == copied
    if to_tag is not None and status > 100 and exp["to"]["tag"] is None:
        assert again.to_tag == to_tag
        assert again.to.display == exp["to"]["display"]
        assert str(again.to.uri) == exp["to"]["uri"]
    else:
        assert again.header_all("to") == req.header_all("to")
    if status == 100 and exp["timestamp"] is not None:  # §8.2.6.1
        assert again.header("timestamp") == exp["timestamp"]
    else:
        assert not again.has("timestamp")
    assert again.header_all("content-length") == ["0"] and again.body == b""
    assert again.call_id == exp["call_id"] and tuple(again.cseq) == exp["cseq"]


BUILT = Request("INVITE", "sip:b@example.com", [
    ("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("From", "<sip:a@example.com>;tag=1"),
    ("To", "<sip:b@example.com>"), ("Call-ID", "c"), ("CSeq", "1 INVITE")])

# What would write bytes geosip cannot parse back, or inject a header line (a reason
# phrase or a header name from a script, say): LocalProtocolError, a message we built
# wrongly (STYLE.md §6). Field.new already refuses CR/LF in a value.
UNSERIALIZABLE = {
    "reason-crlf": lambda: Response(200, "OK\r\nX-Injected: 1"),
    "set-status-lf": lambda: Response(200).set_status(404, "a\nb"),
    "make-response-reason-crlf": lambda: BUILT.make_response(200, "OK\r\nX: y"),
    "make-response-700": lambda: BUILT.make_response(700),
    "make-response-99": lambda: BUILT.make_response(99),
    "header-name-crlf": lambda: BUILT.add_header("X\r\nY", "v"),
    "header-name-space": lambda: BUILT.add_header("Bad Name", "v"),
    "method-space": lambda: Request("IN VITE", "sip:a@b"),
    "uri-space": lambda: Request("INVITE", "sip:a b@c"),
    "value-crlf": lambda: BUILT.add_header("X", "a\r\nb"),
}


@pytest.mark.parametrize("name", list(UNSERIALIZABLE))
def test_unserializable_messages_are_refused(name: str) -> None:
    with pytest.raises(LocalProtocolError):
        UNSERIALIZABLE[name]()


# ---- (e) stream framing -----------------------------------------------------------------

separators = st.lists(st.sampled_from([b"\r\n", b"\r\n\r\n"]), max_size=3).map(b"".join)


@settings(max_examples=examples(80), suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(separators, messages()), min_size=1, max_size=4), separators,
       st.lists(st.integers(1, 300), min_size=1, max_size=20))
def test_framer_gives_back_the_messages(stream: list[tuple[bytes, tuple[bytes, Expected]]],
                                        tail: bytes, sizes: list[int]) -> None:
    data = b""
    expected: list[bytes] = []
    for sep, (wire, _) in stream:
        # A run of k CRLFs is k // 2 pings; an odd one left over is a pong (skipped).
        data += sep + wire
        expected += [KEEPALIVE] * (sep.count(b"\r\n") // 2) + [wire]
    data += tail
    expected += [KEEPALIVE] * (tail.count(b"\r\n") // 2)
    framer = StreamFramer()
    out: list[bytes] = []
    pos = i = 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        out += framer.feed(data[pos:pos + size])
        pos += size
        i += 1
    assert out == expected
    assert framer.pending == b"\r\n" * (tail.count(b"\r\n") % 2)
    for got, (_, (wire, exp)) in zip([m for m in out if m != KEEPALIVE], stream):
        check_parts(parse(got, strict=True), exp)
