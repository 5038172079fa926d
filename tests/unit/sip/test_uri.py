"""geosip.sip.uri: SIP/SIPS/tel/absolute URIs (RFC 3261 §19.1, §25.1; RFC 5118)."""

from __future__ import annotations

import pytest

from geosip.sip import AbsoluteUri, ParseError, SipUri, TelUri, parse_uri

VALID = [
    # text, scheme, user, password, host, port, params, headers
    ("sip:alice@atlanta.com", "sip", "alice", None, "atlanta.com", None, (), ()),
    ("SIP:alice@atlanta.com", "sip", "alice", None, "atlanta.com", None, (), ()),
    ("sips:bob@biloxi.com:5061;transport=tls", "sips", "bob", None, "biloxi.com", 5061,
     (("transport", "tls"),), ()),
    ("sip:alice:secretword@atlanta.com;transport=tcp", "sip", "alice", "secretword",
     "atlanta.com", None, (("transport", "tcp"),), ()),
    ("sip:+1-212-555-1212:1234@gateway.com;user=phone", "sip", "+1-212-555-1212", "1234",
     "gateway.com", None, (("user", "phone"),), ()),
    ("sip:192.0.2.4", "sip", None, None, "192.0.2.4", None, (), ()),
    ("sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com", "sip", None, None,
     "atlanta.com", None, (("method", "REGISTER"),), (("to", "alice@atlanta.com"),)),
    ("sip:alice;day=tuesday@atlanta.com", "sip", "alice;day=tuesday", None, "atlanta.com",
     None, (), ()),
    ("sip:proxy.example.com;lr", "sip", None, None, "proxy.example.com", None,
     (("lr", None),), ()),
    ("sip:[2001:db8::10]:5070", "sip", None, None, "[2001:db8::10]", 5070, (), ()),
    ("sip:user@[::ffff:192.0.2.2];maddr=[2001:db8::1]", "sip", "user", None,
     "[::ffff:192.0.2.2]", None, (("maddr", "[2001:db8::1]"),), ()),
    ("sip:%61lice@example.com;n%61me=v%61lue%25%34%31", "sip", "alice", None,
     "example.com", None, (("name", "value%41"),), ()),
]


@pytest.mark.parametrize("text,scheme,user,password,host,port,params,headers", VALID)
def test_parse_sip_uri(text: str, scheme: str, user: str | None, password: str | None,
                       host: str, port: int | None, params: tuple, headers: tuple) -> None:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        scheme, user, password, host, port)
    assert tuple(uri.params) == params
    assert uri.headers == headers
    assert str(uri) == text  # unchanged URIs serialize as received


INVALID = [
    "sip:2001:db8::10",            # RFC 5118 ipv6-bad: IPv6 without brackets
    "<sip:user@example.com>",      # RFC 4475 ltgtruri
    "sip:user@example.com; lr",    # whitespace
    "sip:",                        # nothing after the scheme
    "sip:@example.com",            # empty user
    "sip:user@",                   # empty host
    "sip:user@exa mple.com",
    "sip:user@example.com:99999",  # port out of range
    "sip:user@example.com:",       # empty port
    "sip:user@example.com;;lr",    # empty parameter
    "sip:user@example.com;a=",     # '=' without value
    "sip:user@example.com?x",      # header without '='
    "sip:user@[2001:db8::1",       # unterminated IPv6 reference
    "1sip:user@example.com",       # scheme must start with a letter
    "nocolon",
    "tel:",
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_uri_raises_400(text: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_uri(text)
    assert err.value.status == 400


def test_tel_and_absolute_uris() -> None:
    tel = parse_uri("tel:+1-201-555-0123;ext=1234")
    assert isinstance(tel, TelUri) and tel.number == "+1-201-555-0123"
    assert tel.params.get("EXT") == "1234"
    assert str(tel) == "tel:+1-201-555-0123;ext=1234"
    other = parse_uri("urn:service:sos")
    assert isinstance(other, AbsoluteUri) and other.opaque == "service:sos"
    assert str(other) == "urn:service:sos"


def test_replace_serializes_canonically_and_escapes() -> None:
    uri = parse_uri("sip:alice@atlanta.com;transport=udp")
    assert isinstance(uri, SipUri)
    changed = uri.replace(user="al ice@home", port=5070,
                          params=uri.params.set("transport", "tcp").set("lr", None))
    assert str(changed) == "sip:al%20ice%40home@atlanta.com:5070;transport=tcp;lr"
    assert parse_uri(str(changed)) == changed
    assert changed.transport == "tcp" and changed.lr
    assert uri.replace() == uri  # equality ignores the raw text


def test_params_lookup_is_case_insensitive() -> None:
    uri = parse_uri("sip:a@b;Transport=TCP;LR")
    assert isinstance(uri, SipUri)
    assert uri.transport == "tcp" and uri.lr
    assert uri.params.get("missing", "dflt") == "dflt"
    assert str(uri.params.remove("lr")) == ";Transport=TCP"
