"""Open the listening sockets of `geosip run` (a stand-in).

The transport layer of the next issue replaces this file: it will frame SIP messages on
streams and hand them to the core. Here a UDP datagram or a TCP read only reaches the
`on_data` callback. Only udp and tcp exist; tls, ws and wss are refused by the caller.
"""

from __future__ import annotations

from collections.abc import Callable

from gevent import socket
from gevent.baseserver import BaseServer
from gevent.server import DatagramServer, StreamServer

# (proto, peer address, bytes): called once per datagram or TCP read.
OnData = Callable[[str, tuple[str, int], bytes], None]

BACKLOG = 128
MAX_READ = 65535  # the largest UDP datagram; a TCP read takes at most as much
IDLE_TIMEOUT = 60.0  # seconds; a silent TCP peer must not hold a greenlet forever


def open_listener(proto: str, host: str, port: int, on_data: OnData) -> BaseServer:
    """Bind, listen and start serving `proto` ("udp" or "tcp") on host:port.

    Raises OSError (socket.gaierror for an unknown host name) when the address cannot
    be bound, e.g. EADDRINUSE; nothing stays open then. Raises ValueError for another proto.
    """
    if proto == "udp":
        sock = _bind(host, port, socket.SOCK_DGRAM)

        def on_datagram(data: bytes, peer: tuple[str, int]) -> None:
            on_data("udp", peer, data)

        server: BaseServer = DatagramServer(sock, on_datagram)
    elif proto == "tcp":
        sock = _bind(host, port, socket.SOCK_STREAM)

        def on_connection(conn: socket.socket, peer: tuple[str, int]) -> None:
            conn.settimeout(IDLE_TIMEOUT)
            try:
                while data := conn.recv(MAX_READ):
                    on_data("tcp", peer, data)
            except OSError:  # reset, or idle past IDLE_TIMEOUT (socket.timeout is an OSError)
                pass
            finally:
                conn.close()

        server = StreamServer(sock, on_connection)
    else:
        raise ValueError(f"no {proto} transport")
    try:
        server.start()
    except BaseException:
        sock.close()
        raise
    return server


def _bind(host: str, port: int, kind: int) -> socket.socket:
    family, _, _, _, address = socket.getaddrinfo(
        host, port, 0, kind, 0, socket.AI_PASSIVE | socket.AI_NUMERICSERV
    )[0]
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            # Restart through TIME_WAIT; a live listener still conflicts. Never set on UDP:
            # there it would let a second server share the port silently.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # [::] means IPv6 only; IPv4 is its own -l, as the log line says.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        if kind == socket.SOCK_STREAM:
            sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock
