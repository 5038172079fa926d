"""The contract between the transport layer and the core (DESIGN.md, Layers).

Transports move bytes: a datagram, or one framed message from a stream, arrives as
an `Inbound` handed to the core's callback; the core sends bytes to an `Endpoint`.
Transports know nothing of SIP beyond stream framing (geosip.sip.framing) and the
RFC 5626 keep-alive pong.

    core  <- on_message(Inbound)                    (called inline in the reader greenlet)
    core  -> TransportLayer.send(data, Endpoint, conn_id=None, listener=None)
                                                    (raises SendError)

on_message runs inside the greenlet that reads the socket (one per UDP socket, one per
stream connection): it must not block. While it runs, nothing more is read from that
socket, so the core spawns a greenlet for any work that waits (a transaction, a DNS or
database lookup, a send that may have to connect). Exceptions it raises are logged by
the transport and never end a reader. See geosip.transport.layer for the whole contract.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Callable

# Protocols as written in listen specs, Via transports and the `transport` uri-param.
PROTOCOLS = ("udp", "tcp", "tls", "ws", "wss")
RELIABLE = frozenset(("tcp", "tls", "ws", "wss"))
SECURE = frozenset(("tls", "wss"))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A transport address: protocol, IP literal (no brackets) and port."""

    proto: str
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.proto in RELIABLE

    @property
    def ipv6(self) -> bool:
        return ":" in self.host

    @property
    def hostport(self) -> str:
        """host:port as written in a Via or URI ([...] around IPv6)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def via_transport(self) -> str:
        """The Via transport token (RFC 3261 §18, RFC 7118 §5.2: WS and WSS)."""
        return self.proto.upper()

    def __str__(self) -> str:
        return f"{self.proto}:{self.hostport}"


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening socket: where it is bound and how geosip names itself there
    (`advertise`, e.g. a public name or address, goes into Via and Record-Route)."""

    local: Endpoint
    advertise: str | None = None
    # A worker's own UDP socket for the requests it sends (so that their responses come
    # back to this worker, cli/workers.py): the shared listener it stands for, which
    # Record-Route names.
    shared: "Listener | None" = None

    @property
    def proto(self) -> str:
        return self.local.proto

    @property
    def public(self) -> "Listener":
        """The listener peers address: the shared one for a worker's own socket."""
        return self.shared or self

    @property
    def sent_by(self) -> str:
        """host:port for our Via and Record-Route on this socket."""
        if self.advertise:
            return self.advertise
        return self.local.hostport


@dataclass(frozen=True, slots=True)
class Inbound:
    """One received message: its bytes, who sent it, on which listener, and for
    connection-oriented transports the connection it came on (replies go back on it,
    RFC 3261 §18.2.2)."""

    data: bytes
    source: Endpoint
    listener: Listener
    conn_id: int | None = None


OnMessage = Callable[[Inbound], None]


class SendError(OSError):
    """A message could not be handed to the network: no listener or connection to send
    it on, connect or TLS handshake failed or timed out, the peer stopped reading, or a
    limit was reached. The transaction layer answers 503 (RFC 3261 §8.1.3.1, §16.9)."""


def normalize_host(host: str) -> str:
    """An IP literal without brackets, IPv6 compressed; names are left as they are."""
    if ":" not in host:
        return host  # IPv4 and names are canonical as written (on the per-message path)
    host = host.strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host
