"""TransportLayer: every listening socket and stream connection of one process.

Contract with the core (see base.py):

- `on_message(Inbound)` is called INLINE in the greenlet that read the bytes: one reader
  per UDP socket, one per stream connection. It must not block: while it runs nothing
  more is read from that socket. The core parses and matches there and spawns a
  greenlet for whatever waits (a transaction, a lookup, a send that may connect).
  Exceptions it raises are logged (logger "geosip.transport") and the reader goes on.
- `send()` may block the calling greenlet: connect and TLS handshake (connect_timeout),
  a peer that does not read (send_timeout). It raises SendError, never anything else
  for a network failure; the transaction layer answers 503.
- Stream connections are found again for replies and new requests (RFC 3261 §18.2.2,
  §18.1.1) by conn_id, by the peer's address, or by an RFC 5923 alias (`add_alias`).
- WS/WSS are reachable only over a connection the client opened (RFC 7118 §5).

Everything runs in one gevent hub; nothing here is thread-safe.
"""

from __future__ import annotations

import logging

import gevent
from gevent import ssl
from gevent.event import AsyncResult

from .base import PROTOCOLS, SECURE, Endpoint, Listener, OnMessage, SendError, normalize_host
from .config import TransportConfig
from .connections import Connection
from .sockets import bind, is_ip
from .state import TransportState
from .stream import StreamServer, open_connection, serve_stream
from .tls import client_contexts, server_context
from .udp import UdpServer
from .ws import serve_ws

log = logging.getLogger("geosip.transport")

_STOP_GRACE = 2.0  # seconds stop() waits for greenlets to unwind after killing them


class TransportLayer:
    """Listeners, connections and the send path. Not thread-safe (one gevent hub)."""

    def __init__(self, on_message: OnMessage, config: TransportConfig | None = None) -> None:
        self.config = config or TransportConfig()
        self._state = TransportState(on_message, self.config)
        self.stats = self._state.stats  # plain int counters, see state.STATS
        self.listeners: list[Listener] = []
        self._servers: dict[Listener, UdpServer | StreamServer] = {}
        self._server_tls: ssl.SSLContext | None = None
        self._client_tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = None
        self._connecting: dict[Endpoint, AsyncResult] = {}
        self._started = self._stopped = False

    # -- listening ---------------------------------------------------------------------

    def listen(self, proto: str, host: str, port: int, advertise: str | None = None,
               reuse_port: bool = False) -> Listener:
        """Bind host:port for proto (udp, tcp, tls, ws, wss) now; served from start()
        (at once if already started). Port 0 = the kernel picks; the Listener has it.
        `reuse_port`: share the port with the other workers (SO_REUSEPORT).

        Raises ValueError for an unknown proto, or tls/wss without certificate and key;
        OSError when the address cannot be bound or the certificate cannot be loaded
        (nothing stays open then); RuntimeError after stop().
        """
        if self._stopped:
            raise RuntimeError("the transport layer is stopped")
        proto = proto.lower()
        if proto not in PROTOCOLS:
            raise ValueError(f"unknown transport {proto!r} (expected one of {PROTOCOLS})")
        tls = self._server_context() if proto in SECURE else None
        sock = bind(host, port, datagram=proto == "udp", rcvbuf=self.config.udp_rcvbuf,
                    reuse_port=reuse_port)
        bound = sock.getsockname()
        listener = Listener(Endpoint(proto, normalize_host(bound[0]), bound[1]), advertise)
        self._serve(listener, sock, tls)
        log.info("listening on %s", listener.local)
        return listener

    def add_worker_sockets(self) -> list[Listener]:
        """For each shared UDP listener, a socket of this worker's own on the same
        address (a port the kernel picks): requests go out from it, so their responses
        come back to the worker that holds the transaction, not to whichever worker the
        kernel picks for the shared port. listener_for() prefers them; Record-Route
        still names the shared listener (Listener.public). Raises OSError."""
        added = []
        for shared in [l for l in self.listeners if l.proto == "udp" and l.shared is None]:
            sock = bind(shared.local.host, 0, datagram=True, rcvbuf=self.config.udp_rcvbuf)
            local = Endpoint("udp", shared.local.host, sock.getsockname()[1])
            own = Listener(local, shared=shared)
            self._serve(own, sock, None)
            added.append(own)
        # First, so that listener_for() finds them before the shared ones.
        self.listeners[:0] = added
        return added

    def _serve(self, listener: Listener, sock: object, tls: ssl.SSLContext | None) -> None:
        proto = listener.proto
        server: UdpServer | StreamServer
        if proto == "udp":
            server = UdpServer(sock, listener, self._state)
        else:
            handler = serve_stream if proto in ("tcp", "tls") else serve_ws
            server = StreamServer(sock, listener, self._state, tls, handler)
        self._servers[listener] = server
        if listener.shared is None:
            self.listeners.append(listener)
        if self._started:
            server.start()

    def listener_for(self, proto: str, ipv6: bool) -> Listener | None:
        """The first listener of proto and address family (the socket to send from)."""
        for listener in self.listeners:
            if listener.proto == proto and listener.local.ipv6 == ipv6:
                return listener
        return None

    def start(self) -> None:
        """Serve every listener: a reader greenlet per UDP socket, an accept loop per
        stream socket. Idempotent; a no-op after stop()."""
        if self._started or self._stopped:
            return
        self._started = True
        for server in self._servers.values():
            server.start()

    def stop(self) -> None:
        """Close listeners and connections and end every greenlet; returns within about
        _STOP_GRACE seconds. The layer cannot be started again."""
        self._stopped = True
        for server in self._servers.values():
            server.close()
        for conn in self._state.table:
            conn.close()
        self._state.group.kill(block=True, timeout=_STOP_GRACE)
        for conn in self._state.table:  # readers killed before their finally ran
            self._state.drop(conn)

    # -- connections -------------------------------------------------------------------

    def connection_count(self) -> int:
        """Open stream connections (inbound and outbound, handshake or not)."""
        return len(self._state.table)

    def add_alias(self, conn_id: int, endpoint: Endpoint) -> bool:
        """Reuse connection conn_id for requests to `endpoint` too (RFC 5923 §5: the
        sent-by of a Via with `;alias` that arrived on it), until it closes.
        False if the connection is gone."""
        return self._state.table.alias(conn_id, endpoint)

    # -- sending -----------------------------------------------------------------------

    def send(self, data: bytes, dest: Endpoint, *, conn_id: int | None = None,
             listener: Listener | None = None) -> None:
        """Send one message to dest.

        udp: from `listener`'s socket, else listener_for(udp, dest family).
        tcp/tls: on connection conn_id if still open, else any open connection to
        dest, else a new connection (from `listener`'s address).
        ws/wss: only on an existing connection (RFC 7118 §5).
        Raises SendError.
        """
        try:
            if dest.proto == "udp":
                self._udp_server(dest, listener).sendto(data, dest)
                return
            table = self._state.table
            conn = table.get(conn_id) if conn_id is not None else None
            if conn is None:
                conn = table.find(dest)
            if conn is None:
                conn = self._connect(dest, listener)
            conn.write(data, self.config.send_timeout)
        except SendError:
            self.stats["send_errors"] += 1
            raise

    def _udp_server(self, dest: Endpoint, listener: Listener | None) -> UdpServer:
        if listener is None:
            listener = self.listener_for("udp", dest.ipv6)
        server = self._servers.get(listener) if listener is not None else None
        if not isinstance(server, UdpServer):
            family = "IPv6" if dest.ipv6 else "IPv4"
            raise SendError(f"no {family} udp listener to send to {dest} from")
        return server

    def _connect(self, dest: Endpoint, listener: Listener | None) -> Connection:
        """A new outbound tcp/tls connection to dest; concurrent sends to the same dest
        wait for one connect instead of racing. Raises SendError."""
        if dest.proto not in ("tcp", "tls"):
            if dest.proto in ("ws", "wss"):
                raise SendError(f"no open {dest.proto} connection to {dest} "
                                "(RFC 7118: only the client connects)")
            raise SendError(f"unknown transport in {dest}")
        pending = self._connecting.get(dest)
        if pending is not None:
            try:
                shared: Connection = pending.get(timeout=self.config.connect_timeout * 2)
            except gevent.Timeout:
                raise SendError(f"connect to {dest} timed out") from None
            return shared
        if (listener is None or listener.proto != dest.proto
                or listener.local.ipv6 != dest.ipv6):
            listener = self.listener_for(dest.proto, dest.ipv6)
        if listener is None:
            family = "IPv6" if dest.ipv6 else "IPv4"
            raise SendError(f"no {family} {dest.proto} listener to connect to {dest} from")
        tls = self._client_context(dest) if dest.proto == "tls" else None
        result = AsyncResult()
        self._connecting[dest] = result
        try:
            conn = open_connection(self._state, dest, listener, tls)
        except SendError as exc:
            result.set_exception(exc)
            raise
        finally:
            del self._connecting[dest]
        result.set(conn)
        return conn

    # -- TLS contexts, made once ---------------------------------------------------------

    def _server_context(self) -> ssl.SSLContext:
        if self._server_tls is None:
            self._server_tls = server_context(self.config)
        return self._server_tls

    def _client_context(self, dest: Endpoint) -> ssl.SSLContext:
        if self._client_tls is None:
            try:
                self._client_tls = client_contexts(self.config)
            except OSError as exc:
                raise SendError(f"TLS client setup failed: {exc}") from exc
        by_name, by_ip = self._client_tls
        return by_ip if is_ip(dest.host) else by_name
