"""WebSocket and secure WebSocket (RFC 7118), driven by a wsproto client over gevent
sockets."""

from __future__ import annotations

import pytest
from gevent import ssl
from wsproto import ConnectionType, WSConnection
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Ping, Pong,
                            RejectConnection, Request, TextMessage)

from geosip.transport.base import Endpoint, SendError

from .conftest import closed_by_peer, connect, sip


class WsClient:
    """A minimal blocking (gevent) WebSocket client: enough to test the server."""

    def __init__(self, sock, subprotocols=("sip",)) -> None:
        self.sock = sock
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.sock.sendall(self.ws.send(Request(host="localhost", target="/",
                                               subprotocols=list(subprotocols))))
        self.handshake = self.next_event()

    def next_event(self):
        while True:
            for event in self.ws.events():
                return event
            data = self.sock.recv(65536)
            self.ws.receive_data(data or None)

    def send(self, event) -> None:
        self.sock.sendall(self.ws.send(event))

    def message(self):
        """The next complete message (text as str, binary as bytes)."""
        parts = []
        while True:
            event = self.next_event()
            assert isinstance(event, (TextMessage, BytesMessage)), event
            parts.append(event.data)
            if event.message_finished:
                return parts[0][:0].join(parts)

    def close(self) -> None:
        self.sock.close()


def test_ws_message_in_and_out(make_server) -> None:
    server = make_server()
    client = WsClient(connect(server.listen("ws")))
    try:
        assert isinstance(client.handshake, AcceptConnection)
        assert client.handshake.subprotocol == "sip"  # RFC 7118 §4.1
        client.send(TextMessage(sip(1).decode()))
        inbound = server.inbox.get()
        assert inbound.data == sip(1) and inbound.source.proto == "ws"
        assert inbound.source.port == client.sock.getsockname()[1]
        # Fragmented and binary messages are one SIP message each (RFC 7118 §5.2).
        message = sip(2, b"body")
        client.send(BytesMessage(message[:10], message_finished=False))
        client.send(BytesMessage(message[10:], message_finished=True))
        assert server.inbox.get().data == message

        server.layer.send(sip(3), inbound.source, conn_id=inbound.conn_id)
        assert client.message() == sip(3).decode()  # UTF-8: a text frame
        server.layer.send(b"\xff\xfe not utf-8", inbound.source)
        assert client.message() == b"\xff\xfe not utf-8"  # else binary

        client.send(Ping(b"hi"))
        assert client.next_event() == Pong(b"hi")
        client.send(CloseConnection(code=1000))
        assert isinstance(client.next_event(), CloseConnection)
        assert closed_by_peer(client.sock)
    finally:
        client.close()
    assert server.layer.connection_count() == 0
    with pytest.raises(SendError, match="only the client connects"):
        server.layer.send(sip(4), inbound.source)


def test_handshake_without_sip_subprotocol_is_refused(make_server) -> None:
    server = make_server()
    listener = server.listen("ws")
    for offered in ((), ("chat",)):
        client = WsClient(connect(listener), subprotocols=offered)
        try:
            assert isinstance(client.handshake, RejectConnection)
            assert client.handshake.status_code == 400
            assert closed_by_peer(client.sock)
        finally:
            client.close()
    assert server.inbox.nothing(0.05)


def test_http_garbage_is_refused(make_server) -> None:
    server = make_server()
    with connect(server.listen("ws")) as sock:
        sock.sendall(sip(1))  # plain SIP on the WebSocket port
        reply = sock.recv(1000)
        assert reply.startswith(b"HTTP/1.1 400")
        assert closed_by_peer(sock)
    assert server.layer.stats["bad_frames"] == 1


def test_oversized_ws_message_closes_with_1009(make_server) -> None:
    server = make_server(max_message_size=1000)
    client = WsClient(connect(server.listen("ws")))
    try:
        client.send(BytesMessage(b"x" * 600, message_finished=False))
        client.send(BytesMessage(b"x" * 600, message_finished=True))
        event = client.next_event()
        assert isinstance(event, CloseConnection) and event.code == 1009
        assert closed_by_peer(client.sock)
    finally:
        client.close()
    assert server.inbox.nothing(0.05)


def test_ws_send_without_connection_is_a_send_error(make_server) -> None:
    server = make_server()
    server.listen("ws")
    with pytest.raises(SendError, match="no open ws connection"):
        server.layer.send(sip(1), Endpoint("ws", "127.0.0.1", 5062))
    with pytest.raises(SendError, match="no open wss connection"):
        server.layer.send(sip(1), Endpoint("wss", "127.0.0.1", 5063))


def test_wss_message_in_and_out(make_server, tls_files) -> None:
    server = make_server(tls_certificate=tls_files.cert, tls_private_key=tls_files.cert)
    listener = server.listen("wss")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=tls_files.ca)
    client = WsClient(ctx.wrap_socket(connect(listener), server_hostname="localhost"))
    try:
        assert isinstance(client.handshake, AcceptConnection)
        client.send(TextMessage(sip(1).decode()))
        inbound = server.inbox.get()
        assert inbound.data == sip(1) and inbound.source.proto == "wss"
        assert inbound.source.via_transport == "WSS"
        server.layer.send(sip(2), inbound.source)
        assert client.message() == sip(2).decode()
    finally:
        client.close()


def test_ws_silent_client_is_closed(make_server) -> None:
    server = make_server(first_message_timeout=0.3)
    listener = server.listen("ws")
    with connect(listener) as silent:
        assert closed_by_peer(silent, timeout=2)
    client = WsClient(connect(listener))  # upgraded, but never a SIP message
    try:
        assert isinstance(client.handshake, AcceptConnection)
        assert closed_by_peer(client.sock, timeout=2)
    finally:
        client.close()
