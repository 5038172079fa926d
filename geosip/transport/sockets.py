"""Opening sockets: listening ones (bind) and outbound streams (connect)."""

from __future__ import annotations

import ipaddress
import logging

from gevent import socket

log = logging.getLogger("geosip.transport")

BACKLOG = 1024  # a burst of connects waits in the kernel rather than being refused


def bind(host: str, port: int, datagram: bool, rcvbuf: int = 0,
         reuse_port: bool = False) -> socket.socket:
    """A bound socket (listening, for streams) on host:port; port 0 = the kernel picks.
    `reuse_port`: SO_REUSEPORT, so that the workers of one geosip share the port (the
    kernel spreads peers over them by their address, cli/workers.py).

    Raises OSError (socket.gaierror for an unknown name, EADDRINUSE, EACCES...); nothing
    stays open then.
    """
    kind = socket.SOCK_DGRAM if datagram else socket.SOCK_STREAM
    family, _, _, _, address = socket.getaddrinfo(
        host.strip("[]"), port, 0, kind, 0, socket.AI_PASSIVE | socket.AI_NUMERICSERV)[0]
    sock = socket.socket(family, kind)
    try:
        if not datagram:
            # Restart through TIME_WAIT. Never on UDP: there it would let a second
            # server share the port silently.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            # [::] is IPv6 only; IPv4 gets its own listener (and its own Via address).
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if datagram and rcvbuf:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            except OSError as exc:  # capped by net.core.rmem_max; not worth failing for
                log.debug("SO_RCVBUF %d refused: %s", rcvbuf, exc)
        sock.bind(address)
        if not datagram:
            sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def connect(host: str, port: int, source: str | None) -> socket.socket:
    """A connected TCP socket, from address `source` (any port) when given.

    Blocks the calling greenlet; the caller bounds it with a gevent.Timeout.
    Raises OSError.
    """
    source_address = (source, 0) if source and not is_unspecified(source) else None
    sock = socket.create_connection((host, port), source_address=source_address)
    sock.settimeout(None)  # timeouts are gevent.Timeouts around each operation
    nodelay(sock)
    return sock


def nodelay(sock: socket.socket) -> None:
    """Each write is one whole message: Nagle would only delay it."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
