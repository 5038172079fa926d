"""TCP and TLS: the accept loop of a stream listener, the reader of one connection, and
outbound connects (RFC 3261 §18, §26.2; RFC 5626 §3.5.1 keep-alives).

Per connection, one reader greenlet: TLS handshake (inbound, bounded by
first_message_timeout so a half-open client holds nothing but its own greenlet), then
StreamFramer cuts the bytes into messages, each handed to the core inline. A stream
that cannot be framed (RFC 4475 §3.1.2.* style bad Content-Length, or a message over
max_message_size) closes that connection only: after a framing error nothing later on
the stream can be trusted to start a message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import monotonic

import gevent
from gevent import Timeout, socket, ssl
from gevent.exceptions import ConcurrentObjectUseError

from ..sip.errors import ParseError
from ..sip.framing import KEEPALIVE, StreamFramer
from .base import Endpoint, Inbound, Listener, SendError, normalize_host
from .connections import Connection
from .sockets import connect, is_ip, nodelay
from .state import TransportState

log = logging.getLogger("geosip.transport")

_PONG = b"\r\n"  # RFC 5626 §3.5.1: a CRLF answers a double-CRLF ping

# serve a freshly accepted connection: (state, connection, server TLS context or None)
Handler = Callable[[TransportState, Connection, "ssl.SSLContext | None"], None]


class StreamServer:
    """A listening stream socket and its accept loop. Connections beyond
    max_connections or max_connections_per_ip are closed as soon as accepted."""

    __slots__ = ("sock", "listener", "_state", "_tls", "_handler", "_closed")

    def __init__(self, sock: socket.socket, listener: Listener, state: TransportState,
                 tls: ssl.SSLContext | None, handler: Handler) -> None:
        self.sock = sock
        self.listener = listener
        self._state = state
        self._tls = tls
        self._handler = handler
        self._closed = False

    def start(self) -> None:
        self._state.group.spawn(self._accept_loop)

    def close(self) -> None:
        self._closed = True
        self.sock.close()

    def _accept_loop(self) -> None:
        state, table, proto = self._state, self._state.table, self.listener.proto
        while True:
            try:
                sock, address = self.sock.accept()
            except OSError as exc:
                if self._closed or self.sock.fileno() < 0:
                    return
                # EMFILE/ENFILE/ENOBUFS: back off instead of spinning; the kernel keeps
                # the backlog meanwhile.
                log.warning("%s: accept failed: %s", self.listener.local, exc)
                gevent.sleep(0.1)
                continue
            if not table.admit(address[0]):
                state.stats["connections_refused"] += 1
                log.debug("%s: refused a connection from %s (limit)",
                          self.listener.local, address[0])
                sock.close()
                continue
            nodelay(sock)
            conn = state.register(sock, Endpoint(proto, address[0], address[1]),
                                  self.listener, inbound=True)
            state.group.spawn(self._handler, state, conn, self._tls)


def accept_tls(conn: Connection, ctx: ssl.SSLContext, state: TransportState) -> None:
    """Server-side TLS handshake within the connection's first-message deadline.

    Raises OSError (ssl.SSLError for a failed handshake, TimeoutError past the deadline).
    """
    conn.sock = ctx.wrap_socket(conn.sock, server_side=True, do_handshake_on_connect=False)
    remaining = conn.deadline(state.config) - monotonic()
    with Timeout(max(remaining, 0.001), False):
        conn.sock.do_handshake()
        return
    raise TimeoutError("TLS handshake timed out")


def serve_stream(state: TransportState, conn: Connection, tls: ssl.SSLContext | None) -> None:
    """Reader greenlet of a TCP or TLS connection, inbound or outbound; closes and
    forgets the connection when it ends. Raises nothing but GreenletExit."""
    try:
        if not conn.ready:  # inbound: outbound ones are published by open_connection
            if tls is not None:
                accept_tls(conn, tls, state)
            state.table.publish(conn)
        _read_messages(state, conn)
    except (OSError, ConcurrentObjectUseError) as exc:  # see Connection.write
        log.debug("%r: %s", conn, exc)
    finally:
        state.drop(conn)


def _read_messages(state: TransportState, conn: Connection) -> None:
    config, stats, deliver = state.config, state.stats, state.deliver
    framer = StreamFramer(config.max_message_size)
    while True:
        data = conn.recv(config)
        if not data:
            if data is None:
                log.debug("%r: idle, closing", conn)
            return
        try:
            items = framer.feed(data)
        except ParseError as exc:
            stats["bad_frames"] += 1
            log.info("%r: cannot frame the stream (%s), closing it", conn, exc)
            return
        for item in items:
            if item is KEEPALIVE:
                stats["keepalives"] += 1
                try:
                    conn.write(_PONG, config.send_timeout, raw=True)
                except SendError:
                    return
                continue
            conn.established = True
            stats["stream_messages"] += 1
            deliver(Inbound(item, conn.peer, conn.listener, conn.id))


def open_connection(state: TransportState, dest: Endpoint, listener: Listener,
                    tls: ssl.SSLContext | None) -> Connection:
    """Connect to dest (from the listener's address), TLS handshake when `tls`, register
    the connection under dest and its peer address, and start its reader.

    Raises SendError: limit reached, refused, unreachable, timed out, handshake failed.
    """
    if not state.table.admit(None):
        state.stats["connections_refused"] += 1
        raise SendError(f"cannot connect to {dest}: max_connections reached")
    sock: socket.socket | None = None
    timer = Timeout.start_new(state.config.connect_timeout)
    try:
        sock = connect(dest.host, dest.port, listener.local.host)
        if tls is not None:
            # SNI and the name check only for a name (RFC 5922 §7.2); see tls.py.
            name = None if is_ip(dest.host) else dest.host
            sock = tls.wrap_socket(sock, server_hostname=name)  # handshakes here
        peer = sock.getpeername()
    except Timeout as exc:
        if exc is not timer:
            raise
        _close(sock)
        raise SendError(f"connect to {dest} timed out after "
                        f"{state.config.connect_timeout}s") from None
    except OSError as exc:
        _close(sock)
        raise SendError(f"connect to {dest} failed: {exc}") from exc
    finally:
        timer.close()
    conn = state.register(sock, Endpoint(dest.proto, normalize_host(peer[0]), peer[1]),
                          listener, inbound=False)
    state.table.publish(conn, dest)  # dest may name the peer differently (a host name)
    state.group.spawn(serve_stream, state, conn, None)
    log.debug("%r: connected", conn)
    return conn


def _close(sock: socket.socket | None) -> None:
    if sock is not None:
        sock.close()
