"""gateways/sms/encoding.py and numbers.py: GSM 03.38 / UCS-2, UDH concatenation
(3GPP TS 23.040 §9.2.3.24.1), numbers from SIP and tel: URIs (RFC 3966)."""

from __future__ import annotations

import pytest

from geosip.gateways.sms import encoding as e
from geosip.gateways.sms.numbers import BadNumber, NumberMap, number_of
from geosip.sip import parse_uri


@pytest.mark.parametrize("text, coding, wire", [
    ("hello", e.DC_GSM, b"hello"),
    ("@£ü", e.DC_GSM, b"\x00\x01\x7e"),        # GSM 03.38 default alphabet
    ("5€ [x]", e.DC_GSM, b"5\x1be \x1b<x\x1b>"),  # extension table behind 0x1B
    ("Привет", e.DC_UCS2, "Привет".encode("utf-16-be")),
    ("ok 😀", e.DC_UCS2, "ok 😀".encode("utf-16-be")),  # surrogate pair kept whole
])
def test_single_sms(text, coding, wire):
    assert e.split(text, 7) == (coding, 0, [wire])
    assert e.decode(coding, 0, wire) == (text, None)


def test_160_gsm_characters_fit_one_sms_161_take_two_parts():
    assert len(e.split("a" * 160, 1)[2]) == 1
    coding, esm, parts = e.split("a" * 161, 0x42)
    assert (coding, esm) == (e.DC_GSM, e.UDHI)
    assert [p[:6] for p in parts] == [b"\x05\x00\x03\x42\x02\x01", b"\x05\x00\x03\x42\x02\x02"]
    assert [len(p) - 6 for p in parts] == [153, 8]


def test_escape_sequence_is_never_cut_between_parts():
    text = "a" * 152 + "€" + "b" * 10  # 164 septets; the euro's 2 do not fit in part one
    _, _, parts = e.split(text, 1)
    assert parts[0][6:] == b"a" * 152
    assert parts[1][6:] == b"\x1be" + b"b" * 10


def test_long_ucs2_splits_at_134_octets_and_joins_back():
    text = "Привет, мир! " * 12
    coding, esm, parts = e.split(text, 200)
    assert coding == e.DC_UCS2 and esm == e.UDHI
    assert all(len(p) <= 140 for p in parts) and len(parts) == 3
    joiner = e.Reassembler()
    out = None
    for part in reversed(parts):  # any order
        piece, concat = e.decode(coding, esm, part)
        assert concat.ref == 200 and concat.total == 3
        out = joiner.add("+4930", concat, piece, now=0.0)
    assert out == text


def test_sixteen_bit_reference_ie_and_stale_parts_expire():
    part = b"\x06\x08\x04\x01\x02\x02\x01" + b"abc"
    text, concat = e.decode(e.DC_GSM, e.UDHI, part)
    assert text == "abc" and concat == e.Concat(0x0102, 2, 1)
    joiner = e.Reassembler(max_age=5)
    assert joiner.add("x", concat, "abc", now=0) is None
    assert joiner.add("x", e.Concat(0x0102, 2, 2), "def", now=10) is None  # first expired


def test_too_many_parts_is_refused():
    with pytest.raises(e.MessageTooLong):
        e.split("x" * 153 * 256, 0)


@pytest.mark.parametrize("uri, number", [
    ("sip:+447700900123@sms.example.com", "+447700900123"),
    ("sip:+44-7700-900123;phone-context=x@sms.example.com;user=phone", "+447700900123"),
    ("tel:+44(7700)900.123", "+447700900123"),
    ("sip:4930123@sms.example.com", "4930123"),
])
def test_number_of(uri, number):
    assert number_of(parse_uri(uri)) == number


@pytest.mark.parametrize("uri", ["sip:alice@sms.example.com", "sip:sms.example.com",
                                 "tel:12", "sip:+1234567890123456789012@x"])
def test_not_a_number(uri):
    with pytest.raises(BadNumber):
        number_of(parse_uri(uri))


def test_number_map_both_ways():
    m = NumberMap({"+447700900001": "sip:alice@Example.com"})
    assert m.uri_for("+447700900001") == m.uri_for("447700900001") == "sip:alice@Example.com"
    assert m.number_for(parse_uri("sip:alice@example.com;transport=udp")) == "+447700900001"
    assert m.number_for("sip:bob@example.com") is None
    with pytest.raises(ValueError):
        NumberMap({"+1555": "sip:a@x", "+1666": "sip:a@x"})
