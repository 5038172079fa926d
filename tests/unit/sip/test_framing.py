"""geosip.sip.framing: stream framing and keep-alives (RFC 3261 §18.3, RFC 5626 §3.5.1)."""

from __future__ import annotations

import pytest

from geosip.sip import KEEPALIVE, ParseError, StreamFramer, parse, split_messages

MSG = (b"MESSAGE sip:b@example.com SIP/2.0\r\n"
       b"Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\n"
       b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
       b"Call-ID: c1\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n"
       b"Content-Length: 5\r\n\r\nhello")
COMPACT = MSG.replace(b"Content-Length: 5", b"l:5")


def test_split_complete_messages_and_remainder() -> None:
    messages, rest = split_messages(MSG + COMPACT + MSG[:30])
    assert messages == [MSG, COMPACT]
    assert rest == MSG[:30]
    assert parse(messages[1]).body == b"hello"


def test_keepalives() -> None:
    messages, rest = split_messages(b"\r\n\r\n" + MSG + b"\r\n" + b"\r\n\r\n" + MSG + b"\r\n")
    assert messages == [KEEPALIVE, MSG, KEEPALIVE, MSG]
    assert rest == b"\r\n"  # maybe half a ping: kept until more arrives


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1000])
def test_any_chunking_gives_the_same_messages(chunk: int) -> None:
    stream = b"\r\n\r\n" + MSG + COMPACT + b"\r\n\r\n" + MSG
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(0, len(stream), chunk):
        out += framer.feed(stream[i:i + chunk])
    assert out == [KEEPALIVE, MSG, COMPACT, KEEPALIVE, MSG]
    assert framer.pending == b""


BAD = [
    (MSG.replace(b"Content-Length: 5\r\n", b""), 400, "mandatory"),
    (MSG.replace(b"Content-Length: 5", b"Content-Length: -999"), 400, "malformed"),
    (MSG.replace(b"Content-Length: 5", b"Content-Length: 5\r\nl: 13"), 400, "conflicting"),
    (MSG.replace(b"Content-Length: 5", b"Content-Length: 70000"), 513, "exceeds"),
]


@pytest.mark.parametrize("data,status,reason", BAD)
def test_unframeable_stream_raises(data: bytes, status: int, reason: str) -> None:
    with pytest.raises(ParseError) as err:
        StreamFramer().feed(data)
    assert err.value.status == status and reason in err.value.reason


def test_endless_header_section_is_bounded() -> None:
    framer = StreamFramer(max_size=4096)
    framer.feed(b"INVITE sip:x SIP/2.0\r\n")
    with pytest.raises(ParseError) as err:
        for _ in range(100):
            framer.feed(b"X-Junk: " + b"a" * 100 + b"\r\n")
    assert err.value.status == 513
