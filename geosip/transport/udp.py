"""UDP: one socket per listener, one reader greenlet per socket (RFC 3261 §18).

Replies and requests are sent from the listening socket itself, so a peer's answers
come back to the port named in our Via (RFC 3261 §18.1.1, RFC 3581).
"""

from __future__ import annotations

import logging

from gevent import socket

from .base import Endpoint, Inbound, Listener, SendError
from .state import TransportState

log = logging.getLogger("geosip.transport")

MAX_DATAGRAM = 65535


class UdpServer:
    """Owns one bound UDP socket. Raises nothing out of its reader."""

    __slots__ = ("sock", "listener", "_state", "_closed")

    def __init__(self, sock: socket.socket, listener: Listener, state: TransportState) -> None:
        self.sock = sock
        self.listener = listener
        self._state = state
        self._closed = False

    def start(self) -> None:
        self._state.group.spawn(self._serve)

    def close(self) -> None:
        self._closed = True
        self.sock.close()

    def sendto(self, data: bytes, dest: Endpoint) -> None:
        """Raises SendError (EMSGSIZE, unreachable, wrong address family...)."""
        try:
            self.sock.sendto(data, (dest.host, dest.port))
        except OSError as exc:
            raise SendError(f"udp send to {dest} failed: {exc}") from exc

    def _serve(self) -> None:
        state, stats, proto, listener = self._state, self._state.stats, "udp", self.listener
        recvfrom = self.sock.recvfrom
        while True:
            try:
                data, address = recvfrom(MAX_DATAGRAM)
            except OSError as exc:
                if self._closed or self.sock.fileno() < 0:
                    return
                # e.g. ECONNREFUSED from an ICMP error of an earlier send: not fatal.
                log.debug("udp %s: recvfrom: %s", listener.local, exc)
                continue
            if not data or data[0] < 2:
                # RFC 5626 §4.4.2: STUN keep-alives share the port. A STUN Binding
                # request/response starts 0x00/0x01 (RFC 5389 §6), no SIP message does.
                stats["stun_ignored"] += 1
                continue
            if not data.strip(b"\r\n"):
                # CRLF keep-alive (RFC 5626 §4.4.1 defines none over UDP): no pong.
                stats["keepalives"] += 1
                continue
            stats["udp_datagrams"] += 1
            state.deliver(Inbound(data, Endpoint(proto, address[0], address[1]), listener))
