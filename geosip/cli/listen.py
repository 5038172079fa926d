"""The `-l/--listen PROTO:ADDR:PORT` syntax of `geosip run`: a pure parser, no sockets.

Forms, as in Kamailio's `listen=`: `udp:127.0.0.1:5060`, `tcp:0.0.0.0:5060`,
`udp:[::1]:5060` (an IPv6 address goes in brackets, RFC 3986 style, so the port
stays unambiguous), `tls:sip.example.com:5061`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

PROTOS = ("udp", "tcp", "tls", "ws", "wss")
EXPECTED = "expected PROTO:ADDR:PORT, e.g. udp:127.0.0.1:5060 or udp:[::1]:5060"

# A host name as RFC 1123 allows it: dot-separated labels of letters, digits, hyphens.
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


@dataclass(frozen=True, slots=True)
class Listen:
    """One listening address. `host` is bare: no brackets around an IPv6 address."""

    proto: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.proto}:{host}:{self.port}"


def parse_listen(spec: str) -> Listen:
    """Parse `PROTO:ADDR:PORT`. Raises ValueError saying what is wrong and the expected form."""

    def bad(what: str) -> ValueError:
        return ValueError(f"bad listen address {spec!r}: {what}; {EXPECTED}")

    proto, sep, rest = spec.partition(":")
    proto = proto.lower()
    if not sep or not rest:
        raise bad("missing ADDR:PORT")
    if proto not in PROTOS:
        raise bad(f"unknown transport {proto!r} (one of {', '.join(PROTOS)})")

    if rest.startswith("["):
        host, close, tail = rest[1:].partition("]")
        if not close:
            raise bad("missing ']' after the IPv6 address")
        if not tail.startswith(":"):
            raise bad("missing :PORT after the IPv6 address")
        port_text = tail[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise bad(f"{host!r} is not an IPv6 address") from None
    else:
        host, sep, port_text = rest.rpartition(":")
        if not sep:
            raise bad("missing :PORT")
        if ":" in host:
            raise bad("an IPv6 address needs brackets, as in udp:[::1]:5060")
        if not host:
            raise bad("missing ADDR")
        if _is_ipv4(host):
            pass
        elif host.replace(".", "").isdigit():
            # All digits and dots: meant as IPv4 (no top-level domain is numeric).
            raise bad(f"{host!r} is not an IPv4 address")
        elif not _HOSTNAME.fullmatch(host):
            raise bad(f"{host!r} is neither an IPv4 address nor a host name")

    # isdigit() also accepts non-ASCII digits that int() reads; insist on 0-9.
    if not (port_text.isascii() and port_text.isdigit()):
        raise bad(f"port {port_text!r} is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise bad(f"port {port} is out of range 1-65535")
    return Listen(proto, host, port)


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True
