"""parse_listen: the -l/--listen PROTO:ADDR:PORT syntax of `geosip run`."""

from __future__ import annotations

import pytest

from geosip.cli.listen import EXPECTED, Listen, parse_listen

GOOD = [
    ("udp:127.0.0.1:5060", Listen("udp", "127.0.0.1", 5060), "udp:127.0.0.1:5060"),
    ("tcp:0.0.0.0:5060", Listen("tcp", "0.0.0.0", 5060), "tcp:0.0.0.0:5060"),
    ("tls:sip.example.com:5061", Listen("tls", "sip.example.com", 5061), "tls:sip.example.com:5061"),
    ("ws:localhost:80", Listen("ws", "localhost", 80), "ws:localhost:80"),
    ("wss:127.0.0.1:443", Listen("wss", "127.0.0.1", 443), "wss:127.0.0.1:443"),
    ("UDP:127.0.0.1:5060", Listen("udp", "127.0.0.1", 5060), "udp:127.0.0.1:5060"),
    ("udp:[::1]:5060", Listen("udp", "::1", 5060), "udp:[::1]:5060"),
    ("tcp:[::]:5060", Listen("tcp", "::", 5060), "tcp:[::]:5060"),
    ("udp:[2001:db8::10]:1", Listen("udp", "2001:db8::10", 1), "udp:[2001:db8::10]:1"),
    ("udp:[::ffff:192.0.2.1]:65535", Listen("udp", "::ffff:192.0.2.1", 65535), "udp:[::ffff:192.0.2.1]:65535"),
    ("udp:[fe80::1%lo]:5060", Listen("udp", "fe80::1%lo", 5060), "udp:[fe80::1%lo]:5060"),
]


@pytest.mark.parametrize(("spec", "expected", "text"), GOOD, ids=[g[0] for g in GOOD])
def test_good(spec: str, expected: Listen, text: str) -> None:
    listen = parse_listen(spec)
    assert listen == expected
    assert str(listen) == text


BAD = [
    ("", "missing ADDR:PORT"),
    ("udp", "missing ADDR:PORT"),
    ("udp:", "missing ADDR:PORT"),
    ("127.0.0.1:5060", "unknown transport '127.0.0.1'"),
    ("sctp:127.0.0.1:5060", "unknown transport 'sctp'"),
    ("udp:127.0.0.1", "missing :PORT"),
    ("udp::5060", "missing ADDR"),
    ("udp:127.0.0.1:", "port '' is not a number"),
    ("udp:127.0.0.1:50x0", "port '50x0' is not a number"),
    ("udp:127.0.0.1:-1", "port '-1' is not a number"),
    ("udp:127.0.0.1:\u0665\u0660", "is not a number"),  # Arabic-Indic digits: int() takes them
    ("udp:127.0.0.1:0", "port 0 is out of range 1-65535"),
    ("udp:127.0.0.1:65536", "port 65536 is out of range 1-65535"),
    ("udp:999.1.1.1:5060", "'999.1.1.1' is not an IPv4 address"),
    ("udp:1.2.3:5060", "'1.2.3' is not an IPv4 address"),
    ("udp:bad_host:5060", "neither an IPv4 address nor a host name"),
    ("udp:-bad.example:5060", "neither an IPv4 address nor a host name"),
    ("udp:::1:5060", "an IPv6 address needs brackets"),
    ("udp:2001:db8::1:5060", "an IPv6 address needs brackets"),
    ("udp:[::1]", "missing :PORT after the IPv6 address"),
    ("udp:[::1]5060", "missing :PORT after the IPv6 address"),
    ("udp:[::1:5060", "missing ']'"),
    ("udp:[127.0.0.1]:5060", "'127.0.0.1' is not an IPv6 address"),
    ("udp:[example.com]:5060", "'example.com' is not an IPv6 address"),
    ("udp:[::1]:99999", "port 99999 is out of range"),
]


@pytest.mark.parametrize(("spec", "reason"), BAD, ids=[b[0] or "empty" for b in BAD])
def test_bad(spec: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_listen(spec)
    message = str(info.value)
    assert reason in message
    assert message.startswith(f"bad listen address {spec!r}: ")
    assert message.endswith(EXPECTED)  # every error shows the form to use
