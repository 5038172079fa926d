"""WebSocket and secure WebSocket: SIP over RFC 6455 as RFC 7118 defines it, with
wsproto doing the HTTP upgrade and the framing.

- The client connects (RFC 7118 §5: we never open a WebSocket connection), offering
  the `sip` subprotocol in Sec-WebSocket-Protocol; we answer it, and refuse a handshake
  that lacks it with 400 (RFC 7118 §4.1: the server MUST choose `sip`; RFC 6455 §4.2.2).
- One WebSocket message, text or binary, is one SIP message: no Content-Length framing
  (RFC 7118 §5.2). A message over max_message_size closes with 1009 (RFC 6455 §7.4.1).
- We send a text message when the SIP message is valid UTF-8, else binary (§5.1).
- Pings are answered with pongs and a Close with a Close (RFC 6455 §5.5).
Accept limits and the idle policy are those of TCP (stream.py, connections.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gevent import ssl
from gevent.exceptions import ConcurrentObjectUseError
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Message, Ping,
                            RejectConnection, Request, TextMessage)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from .base import Inbound, SendError
from .connections import Connection
from .state import TransportState
from .stream import accept_tls

log = logging.getLogger("geosip.transport")

SUBPROTOCOL = "sip"  # RFC 7118 §7 (IANA registration)
_NORMAL_CLOSES = frozenset((CloseReason.NORMAL_CLOSURE, CloseReason.GOING_AWAY,
                            CloseReason.NO_STATUS_RCVD, CloseReason.ABNORMAL_CLOSURE))


def serve_ws(state: TransportState, conn: Connection, tls: ssl.SSLContext | None) -> None:
    """Reader greenlet of an inbound ws/wss connection; closes and forgets it when it
    ends. Raises nothing but GreenletExit."""
    try:
        if tls is not None:
            accept_tls(conn, tls, state)
        ws = WSConnection(ConnectionType.SERVER)
        if not _handshake(state, conn, ws):
            return
        conn.encode = _encoder(ws)
        state.table.publish(conn)
        _read_messages(state, conn, ws)
    except (OSError, LocalProtocolError, ConcurrentObjectUseError) as exc:
        log.debug("%r: %s", conn, exc)
    finally:
        state.drop(conn)


def _handshake(state: TransportState, conn: Connection, ws: WSConnection) -> bool:
    """Read the HTTP upgrade request and answer it. True when the WebSocket is open.
    Raises OSError, SendError."""
    timeout = state.config.send_timeout
    while True:
        data = conn.recv(state.config)
        if not data:
            return False
        try:
            ws.receive_data(data)
        except RemoteProtocolError as exc:  # not an HTTP upgrade request at all
            state.stats["bad_frames"] += 1
            log.info("%r: bad WebSocket handshake: %s", conn, exc)
            _write_rejection(conn, ws, 400, timeout)
            return False
        for event in ws.events():
            if not isinstance(event, Request):
                continue
            if SUBPROTOCOL not in event.subprotocols:
                log.info("%r: WebSocket handshake without the 'sip' subprotocol", conn)
                _write_rejection(conn, ws, 400, timeout)
                return False
            # No extensions accepted: permessage-deflate buys little for SIP and would
            # let a small frame inflate past max_message_size.
            conn.write(ws.send(AcceptConnection(subprotocol=SUBPROTOCOL)), timeout, raw=True)
            return True


def _write_rejection(conn: Connection, ws: WSConnection, status: int, timeout: float) -> None:
    try:
        reply = ws.send(RejectConnection(status_code=status,
                                         headers=[(b"connection", b"close")]))
    except LocalProtocolError:  # h11 is past the point where it can answer
        return
    try:
        conn.write(reply, timeout, raw=True)
    except SendError:
        pass


def _read_messages(state: TransportState, conn: Connection, ws: WSConnection) -> None:
    config, stats, deliver = state.config, state.stats, state.deliver
    timeout, limit = config.send_timeout, config.max_message_size
    parts: list[bytes] = []
    size = 0
    while True:
        data = conn.recv(config)
        if not data:
            if data is None:
                log.debug("%r: idle, closing", conn)
                _close(conn, ws, CloseReason.GOING_AWAY, timeout)
            return
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, Message):
                chunk = event.data.encode() if isinstance(event, TextMessage) else event.data
                size += len(chunk)
                if size > limit:
                    stats["bad_frames"] += 1
                    log.info("%r: WebSocket message over %d octets, closing", conn, limit)
                    _close(conn, ws, CloseReason.MESSAGE_TOO_BIG, timeout)
                    return
                parts.append(chunk)
                if event.message_finished:
                    message = parts[0] if len(parts) == 1 else b"".join(parts)
                    parts, size = [], 0
                    conn.established = True
                    stats["stream_messages"] += 1
                    deliver(Inbound(message, conn.peer, conn.listener, conn.id))
            elif isinstance(event, Ping):
                stats["keepalives"] += 1
                conn.write(ws.send(event.response()), timeout, raw=True)
            elif isinstance(event, CloseConnection):
                if event.code not in _NORMAL_CLOSES:  # wsproto's verdict on bad frames
                    stats["bad_frames"] += 1
                    log.info("%r: WebSocket closed: %s %s", conn, event.code, event.reason)
                if ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                    conn.write(ws.send(event.response()), timeout, raw=True)
                return
            # Pong: nothing to do (any read already counts as activity).


def _close(conn: Connection, ws: WSConnection, code: int, timeout: float) -> None:
    """Send a Close frame, best effort: the TCP connection is closed right after."""
    if ws.state is not ConnectionState.OPEN:
        return
    try:
        conn.write(ws.send(CloseConnection(code=code)), timeout, raw=True)
    except (SendError, LocalProtocolError):
        pass


def _encoder(ws: WSConnection) -> Callable[[bytes], bytes]:
    """Frames an outgoing SIP message; runs under the connection's write lock."""

    def encode(data: bytes) -> bytes:
        try:
            event: TextMessage | BytesMessage = TextMessage(data=data.decode("utf-8"))
        except UnicodeDecodeError:
            event = BytesMessage(data=data)
        try:
            return ws.send(event)
        except LocalProtocolError as exc:  # closing or closed
            raise SendError(f"WebSocket is {ws.state.name.lower()}: {exc}") from exc

    return encode
