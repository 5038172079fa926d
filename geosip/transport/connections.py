"""Stream connections (TCP, TLS, WS, WSS) and the table that finds them again.

A connection is used for replies and for new requests to the same peer (RFC 3261
§18.2.2 and §18.1.1: reuse an existing connection to the destination), so the table
indexes every ready connection by its peer endpoint, by the name it was opened to, and by
RFC 5923 aliases. It also enforces max_connections and max_connections_per_ip.

Idle policy, applied by each connection's reader through `Connection.recv`: an inbound
connection must complete its first message within first_message_timeout; after that
(and for outbound ones from the start) any read or write keeps it open for
connection_lifetime more seconds.

Everything here runs in the one gevent thread: no locks except the per-connection write
lock, which keeps two messages from interleaving on the wire.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from time import monotonic
from typing import Any

from gevent import Timeout
from gevent.exceptions import ConcurrentObjectUseError
from gevent.lock import Semaphore

from .base import Endpoint, Listener, SendError, normalize_host
from .config import TransportConfig

log = logging.getLogger("geosip.transport")

READ_SIZE = 65536


class Connection:
    """One open stream. `encode` frames a message for the wire (WebSocket); None = as is."""

    __slots__ = ("id", "sock", "peer", "listener", "inbound", "created", "last_active",
                 "established", "ready", "closed", "encode", "keys", "_lock")

    def __init__(self, conn_id: int, sock: Any, peer: Endpoint, listener: Listener,
                 inbound: bool) -> None:
        self.id = conn_id
        self.sock: Any = sock       # gevent socket, or gevent SSLSocket once wrapped
        self.peer = peer
        self.listener = listener
        self.inbound = inbound
        self.created = self.last_active = monotonic()
        self.established = not inbound  # set once an inbound peer completes a message
        self.ready = False          # handshakes done: writes may go out
        self.closed = False
        self.encode: Callable[[bytes], bytes] | None = None
        self.keys: list[Endpoint] = []
        self._lock = Semaphore()

    @property
    def proto(self) -> str:
        return self.peer.proto

    def deadline(self, config: TransportConfig) -> float:
        if not self.established:
            return self.created + config.first_message_timeout
        return self.last_active + config.connection_lifetime

    def recv(self, config: TransportConfig) -> bytes | None:
        """The next bytes; b"" at EOF, None once the idle deadline has passed.

        Raises OSError (ssl.SSLError included) when the connection fails or is closed
        from another greenlet.
        """
        while True:
            remaining = self.deadline(config) - monotonic()
            if remaining <= 0:
                return None
            with Timeout(remaining, False):
                data: bytes = self.sock.recv(READ_SIZE)
                self.last_active = monotonic()
                return data
            # Timed out: loop to look again, a write may have moved the deadline.

    def write(self, data: bytes, timeout: float, raw: bool = False) -> None:
        """Send one whole message (through `encode` unless raw), never interleaved with
        another. Raises SendError; a write that fails or times out closes the connection,
        since part of a message may already be on the wire."""
        if self.closed:
            raise SendError(f"connection {self.id} to {self.peer} is closed")
        if not self._lock.acquire(timeout=timeout):
            raise SendError(f"connection {self.id} to {self.peer}: writer busy for {timeout}s")
        timer = Timeout.start_new(timeout)
        try:
            if self.closed:
                raise SendError(f"connection {self.id} to {self.peer} is closed")
            payload = data if raw or self.encode is None else self.encode(data)
            self.sock.sendall(payload)
            self.last_active = monotonic()
        except Timeout as exc:
            if exc is not timer:
                raise
            self.close()
            raise SendError(f"send to {self.peer} timed out after {timeout}s") from None
        except (OSError, ConcurrentObjectUseError) as exc:
            # ConcurrentObjectUseError: a TLS write that had to wait for a read (a key
            # update) while the reader waits too; gevent cannot share that wait.
            if isinstance(exc, SendError):
                raise
            self.close()
            raise SendError(f"send to {self.peer} failed: {exc}") from exc
        finally:
            timer.close()
            self._lock.release()

    def close(self) -> None:
        """Close the socket; a reader blocked on it wakes with an OSError. Idempotent."""
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def __repr__(self) -> str:
        side = "from" if self.inbound else "to"
        return f"<Connection {self.id} {self.proto} {side} {self.peer.hostport}>"


class ConnectionTable:
    """Open connections by id and by endpoint, with the connection limits."""

    def __init__(self, config: TransportConfig) -> None:
        self.config = config
        self._ids = itertools.count(1)
        self._by_id: dict[int, Connection] = {}
        self._by_endpoint: dict[Endpoint, list[Connection]] = {}
        self._per_ip: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Connection]:
        return iter(list(self._by_id.values()))

    def admit(self, ip: str | None) -> bool:
        """Room for one more connection (inbound from `ip`, or outbound when None)?"""
        if len(self._by_id) >= self.config.max_connections:
            return False
        return ip is None or self._per_ip.get(ip, 0) < self.config.max_connections_per_ip

    def add(self, sock: Any, peer: Endpoint, listener: Listener, inbound: bool) -> Connection:
        """Register a new connection (not yet findable: see publish)."""
        conn = Connection(next(self._ids), sock, peer, listener, inbound)
        self._by_id[conn.id] = conn
        if inbound:
            self._per_ip[peer.host] = self._per_ip.get(peer.host, 0) + 1
        return conn

    def publish(self, conn: Connection, *also: Endpoint) -> None:
        """The connection is ready for writes: index it by its peer (and `also`)."""
        conn.ready = True
        for endpoint in (conn.peer, *also):
            self._index(conn, endpoint)

    def alias(self, conn_id: int, endpoint: Endpoint) -> bool:
        """Index an open connection under another endpoint (RFC 5923 §5: the sent-by of
        a Via with `alias`). The endpoint takes the connection's protocol: an alias names
        this connection, whatever transport the caller wrote. False if it is gone."""
        conn = self.get(conn_id)
        if conn is None:
            return False
        self._index(conn, Endpoint(conn.proto, normalize_host(endpoint.host), endpoint.port))
        return True

    def get(self, conn_id: int) -> Connection | None:
        conn = self._by_id.get(conn_id)
        if conn is None or conn.closed or not conn.ready:
            return None
        return conn

    def find(self, endpoint: Endpoint) -> Connection | None:
        """The newest ready, open connection indexed under `endpoint`."""
        conns = self._by_endpoint.get(endpoint)
        if not conns:
            host = normalize_host(endpoint.host)
            if host == endpoint.host:
                return None
            conns = self._by_endpoint.get(Endpoint(endpoint.proto, host, endpoint.port))
            if not conns:
                return None
        for conn in reversed(conns):
            if not conn.closed:
                return conn
        return None

    def remove(self, conn: Connection) -> bool:
        """Forget a connection and its index entries; False if it was already gone."""
        if self._by_id.pop(conn.id, None) is None:
            return False
        if conn.inbound:
            left = self._per_ip.get(conn.peer.host, 1) - 1
            if left > 0:
                self._per_ip[conn.peer.host] = left
            else:
                self._per_ip.pop(conn.peer.host, None)
        for key in conn.keys:
            conns = self._by_endpoint.get(key)
            if conns and conn in conns:
                conns.remove(conn)
                if not conns:
                    del self._by_endpoint[key]
        conn.keys.clear()
        return True

    def _index(self, conn: Connection, endpoint: Endpoint) -> None:
        if endpoint in conn.keys:
            return
        self._by_endpoint.setdefault(endpoint, []).append(conn)
        conn.keys.append(endpoint)
