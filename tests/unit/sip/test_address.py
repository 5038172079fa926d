"""geosip.sip.address: name-addr and addr-spec (RFC 3261 §20.10, §20.20, §25.1)."""

from __future__ import annotations

import pytest

from geosip.sip import ParseError, SipUri, parse_address

VALID = [
    # text, display, uri, params
    ('"Alice Liddell" <sip:alice@atlanta.com>;tag=1928301774', "Alice Liddell",
     "sip:alice@atlanta.com", (("tag", "1928301774"),)),
    ("Bob <sip:bob@biloxi.com>", "Bob", "sip:bob@biloxi.com", ()),
    ("Anonymous Caller  <sip:c8oqz84zk7z@privacy.org>", "Anonymous Caller",
     "sip:c8oqz84zk7z@privacy.org", ()),
    ("<sip:carol@chicago.com>", None, "sip:carol@chicago.com", ()),
    ("sip:carol@chicago.com;tag=887s", None, "sip:carol@chicago.com", (("tag", "887s"),)),
    ('"\\"quoted\\" \\\\ name" <sip:q@x.org>', '"quoted" \\ name', "sip:q@x.org", ()),
    ('"" <sip:empty@x.org>', "", "sip:empty@x.org", ()),
    ("<sip:a@b;lr>;expires=60;q=0.7", None, "sip:a@b;lr", (("expires", "60"), ("q", "0.7"))),
    ('<sip:a@b>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>";reg-id=1',
     None, "sip:a@b",
     (("+sip.instance", '"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"'),
      ("reg-id", "1"))),
    ("caller<sip:caller@example.com>;tag=323", "caller", "sip:caller@example.com",
     (("tag", "323"),)),
    ("<tel:+4930123>", None, "tel:+4930123", ()),
]


@pytest.mark.parametrize("text,display,uri,params", VALID)
def test_parse_address(text: str, display: str | None, uri: str, params: tuple) -> None:
    addr = parse_address(text)
    assert addr.display == display
    assert str(addr.uri) == uri
    assert tuple(addr.params) == params
    assert str(addr) == text


INVALID = [
    '"Alice <sip:alice@atlanta.com>',          # RFC 4475 quotbal
    "Watson, Thomas <sip:t.watson@example.org>",  # RFC 4475 baddn
    "< sip:t.watson@example.org >",            # RFC 4475 badaspec
    "sip:user@example.com?Route=%3Csip:x%3E",  # RFC 4475 regbadct
    "<sip:alice@atlanta.com",
    '"Alice" sip:alice@atlanta.com',
    "<sip:a@b>;;tag=1",
    "<sip:a@b>;tag=",
    "<sip:a@b> junk",
    "",
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_address_raises_400(text: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_address(text)
    assert err.value.status == 400


def test_with_param_writes_name_addr() -> None:
    addr = parse_address("sip:bob@biloxi.com")
    tagged = addr.with_param("tag", "a6c85cf")
    assert str(tagged) == "<sip:bob@biloxi.com>;tag=a6c85cf"
    assert tagged.tag == "a6c85cf"
    named = parse_address('"A \\"B\\"" <sip:x@y>').with_param("tag", "1")
    assert str(named) == '"A \\"B\\"" <sip:x@y>;tag=1'
    assert parse_address(str(named)) == named
    assert isinstance(named.uri, SipUri)
