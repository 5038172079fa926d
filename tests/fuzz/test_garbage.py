"""Random and mutated bytes never make geosip.sip raise anything but ParseError
(tests/fuzz/_checks.py says what is asked of each input).

Inputs: random bytes; random concatenations of SIP fragments (deeper than random
bytes get); the RFC 4475 / RFC 5118 torture messages and generated messages mutated
(bits flipped, bytes inserted or deleted, lines duplicated, dropped or swapped, NULs
and high bytes, CR or LF alone, truncation, numbers made huge); the same fed to
StreamFramer in random chunks. REPRODUCERS lists the inputs that once escaped as
another exception, one per bug.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geosip.sip import Limits, ParseError, parse

from ._checks import exercise, feed_in_chunks
from .strategies import examples, messages

DATA = Path(__file__).resolve().parents[1] / "data" / "conformance"
SEEDS = [p.read_bytes() for p in sorted(DATA.glob("rfc4475/*.sip"))
         + sorted(DATA.glob("rfc5118/*.sip"))]

# The deadline stays on: one example is a few parses of at most ~10 KB.
FAST = settings(max_examples=examples(300), suppress_health_check=[HealthCheck.too_slow])
GENERATED = settings(max_examples=examples(150),
                     suppress_health_check=[HealthCheck.too_slow])

BASE = (b"INVITE sip:bob@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP pc.example.com;branch=z9hG4bK776\r\n"
        b"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
        b"Call-ID: a@b\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


def with_header(line: bytes, base: bytes = BASE) -> bytes:
    return base.replace(b"Content-Length", line + b"\r\nContent-Length")


# Inputs that made geosip.sip raise something else than ParseError: the bug each one
# showed, and the bytes. They stay here so that the bug stays fixed.
REPRODUCERS = [
    # headers.parse_cseq: int() of >4300 digits raises ValueError, even on a lenient parse.
    ("cseq-int-digits", BASE.replace(b"CSeq: 1 ", b"CSeq: " + b"1" * 5000 + b" ")),
    # uri._split_hostport: the same in a port.
    ("uri-port-int-digits", BASE.replace(b"sip:bob@example.com SIP",
                                         b"sip:bob@example.com:" + b"1" * 5000 + b" SIP")),
    ("contact-port-int-digits", with_header(b"Contact: <sip:a@b:" + b"9" * 5000 + b">")),
    # headers.parse_date: '... -0100 GMT' passes the ' GMT' check; astimezone() overflows.
    ("date-overflow", with_header(b"Date: Fri, 31 Dec 9999 23:59:59 -0100 GMT")),
    # A bare LF/CR inside a header value is accepted (even strictly) and then breaks
    # make_response: LocalProtocolError from Field.new (To with a tag, Timestamp).
    ("bare-lf-to-param", BASE.replace(b"To: <sip:bob@example.com>",
                                      b"To: <sip:bob@example.com>;x=a\nb")),
    ("bare-cr-to-display", BASE.replace(b"To: <sip:bob@example.com>",
                                        b'To: "a\rb" <sip:bob@example.com>')),
    ("bare-lf-timestamp", with_header(b"Timestamp: 1\n2")),
]


@pytest.mark.parametrize("data", [d for _, d in REPRODUCERS],
                         ids=[name for name, _ in REPRODUCERS])
def test_reproducers(data: bytes) -> None:
    exercise(data)
    feed_in_chunks(data, [len(data)])


# Inputs a strict parse accepted though they are not SIP: each must be ParseError.
REFUSED = [
    # U+212A KELVIN SIGN lower-cases to 'k': taken for Supported, not refused as a
    # non-token name (RFC 3261 §7.3.1 field-name = token).
    ("kelvin-sign-name", with_header("\u212a: 100rel".encode())),
    # '+0100 GMT' passes the ' GMT' check (email.utils reads the +0100): an hour off.
    ("date-not-gmt", with_header(b"Date: Sat, 13 Nov 2010 23:29:00 +0100 GMT")),
    # CSeq = 1*DIGIT LWS Method: LWS is SP / HT, str.split() also cuts at \x1c-\x1f.
    ("cseq-x1c", BASE.replace(b"CSeq: 1 INVITE", b"CSeq: 1\x1cINVITE")),
]


@pytest.mark.parametrize("data", [d for _, d in REFUSED], ids=[name for name, _ in REFUSED])
def test_refused(data: bytes) -> None:
    with pytest.raises(ParseError) as err:
        parse(data, strict=True)
    assert err.value.status == 400


@pytest.mark.parametrize("data", SEEDS, ids=[str(i) for i in range(len(SEEDS))])
def test_seeds(data: bytes) -> None:
    exercise(data)
    feed_in_chunks(data, [1, 7, 64])


# ---- inputs -----------------------------------------------------------------------------

FRAGMENTS = [
    b"INVITE ", b"REGISTER ", b"ACK ", b"SIP/2.0 ", b"SIP/2.0", b" 200 OK", b"sip:",
    b"sips:", b"tel:+1", b"user@", b"host", b"[2001:db8::1]", b":5060", b";lr",
    b";tag=", b";branch=z9hG4bK", b";rport", b";received=", b"\r\n", b"\r\n ",
    b"\r\n\r\n", b"Via: ", b"v: ", b"SIP/2.0/UDP ", b"From: ", b"To: ", b"f:", b"t:",
    b"Call-ID: ", b"i:", b"CSeq: ", b"1 INVITE", b"Contact: ", b"m:", b"*",
    b"Route: ", b"Record-Route: ", b"Max-Forwards: ", b"70", b"Content-Length: ",
    b"l:", b"0", b"5", b"Expires: ", b"Date: ", b"Sat, 13 Nov 2010 23:29:00 GMT",
    b"Require: ", b"Supported: ", b"Allow: ", b"X-A: ", b'"', b"\\", b'"\\""', b"<",
    b">", b",", b";", b"=", b":", b"@", b"%", b"%41", b"%zz", b" ", b"\t", b"\x00",
    b"\xff", b"\xc3\xa9", b"\xed\xa0\x80", b"\r", b"\n", b"?", b"&", b"4294967296",
    b"99999", b"1" * 30,
]
fragments = st.lists(st.sampled_from(FRAGMENTS), max_size=60).map(b"".join)

# What a mutation inserts: one of these, or random bytes.
INSERTS = st.sampled_from([
    b"\x00", b"\xff", b"\x80", b"\xc3", b"\xed\xa0\x80", b"\r", b"\n", b"\r\n",
    b"\r\n ", b"\r\n\r\n", b" ", b"\t", b'"', b"\\", b"<", b">", b",", b";", b":",
    b"=", b"@", b"%", b"%0", b"[", b"]", b"?", b"*", b"9" * 21, b"-1",
]) | st.binary(min_size=1, max_size=8)
DIGITS = re.compile(rb"[0-9]+")


@st.composite
def mutated(draw: st.DrawFn, seeds: st.SearchStrategy[bytes]) -> bytes:
    """A seed with 1-5 random mutations applied."""
    data = bytearray(draw(seeds))
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["flip", "set", "insert", "insert", "delete", "dup_line",
                                   "drop_line", "swap_lines", "truncate", "bignum"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.sampled_from([0, 9, 10, 13, 32, 34, 44, 59, 60, 62, 92,
                                              0x80, 0xC3, 0xFF]) | st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(INSERTS)
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[pos:]
        elif op == "bignum":
            runs = list(DIGITS.finditer(data))
            if runs:
                run = runs[draw(st.integers(0, len(runs) - 1))]
                data[run.start():run.end()] = b"9" * draw(st.sampled_from([10, 11, 21, 4301,
                                                                          5000]))
        else:
            lines = bytes(data).split(b"\r\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if op == "dup_line":
                lines.insert(j, lines[i])
            elif op == "drop_line":
                del lines[i]
            else:
                lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\r\n".join(lines))
    return bytes(data)


seeds = st.sampled_from(SEEDS + [d for _, d in REPRODUCERS + REFUSED])
generated = messages().map(lambda m: m[0])
chunk_sizes = st.lists(st.integers(1, 400), min_size=1, max_size=10)


# ---- parse ----------------------------------------------------------------------------

@FAST
@given(st.binary(max_size=3000))
def test_random_bytes(data: bytes) -> None:
    exercise(data)


@FAST
@given(fragments)
def test_random_fragments(data: bytes) -> None:
    exercise(data)


@settings(FAST, max_examples=examples(600))
@given(mutated(seeds))
def test_mutated_torture_messages(data: bytes) -> None:
    exercise(data)


@GENERATED
@given(mutated(generated))
def test_mutated_generated_messages(data: bytes) -> None:
    exercise(data)


@FAST
@given(mutated(seeds), st.integers(16, 2000), st.integers(1, 40))
def test_small_limits(data: bytes, max_size: int, max_headers: int) -> None:
    exercise(data, Limits(max_size=max_size, max_headers=max_headers))


# ---- StreamFramer ---------------------------------------------------------------------

@FAST
@given(st.lists(mutated(seeds) | fragments | st.binary(max_size=200), min_size=1,
                max_size=4).map(b"".join), chunk_sizes, st.sampled_from([65535, 65535, 600]))
def test_framer_on_garbage(data: bytes, sizes: list[int], max_size: int) -> None:
    feed_in_chunks(data, sizes, max_size)


@GENERATED
@given(st.lists(mutated(generated), min_size=1, max_size=3).map(b"".join), chunk_sizes)
def test_framer_on_mutated_generated(data: bytes, sizes: list[int]) -> None:
    feed_in_chunks(data, sizes)
