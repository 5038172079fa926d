"""UDP: receive, answer from the listening socket, keep-alives, STUN, IPv6, listen()."""

from __future__ import annotations

import pytest
from gevent import socket

from geosip.transport.base import Endpoint, Inbound, SendError

from .conftest import Recorder, needs_ipv6, sip


def _client(host: str = "127.0.0.1") -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.settimeout(3)
    return sock


@pytest.mark.parametrize("host", ["127.0.0.1", pytest.param("::1", marks=needs_ipv6)])
def test_receive_and_reply_from_the_listening_socket(make_server, host: str) -> None:
    server = make_server()
    listener = server.listen("udp", host)
    assert listener.local.port != 0 and listener.local.host == host
    with _client(host) as client:
        client.sendto(sip(1), (host, listener.local.port))
        inbound = server.inbox.get()
        assert inbound.data == sip(1)
        assert inbound.source == Endpoint("udp", host, client.getsockname()[1])
        assert inbound.listener == listener and inbound.conn_id is None

        server.layer.send(b"SIP/2.0 200 OK\r\n\r\n", inbound.source)
        data, source = client.recvfrom(65535)
        assert data == b"SIP/2.0 200 OK\r\n\r\n"
        # The reply left from the listener's port, so the peer's next request (and
        # its retransmissions) come back to the socket named in our Via.
        assert source[:2] == (host, listener.local.port)
    assert server.layer.stats["udp_datagrams"] == 1


def test_keepalives_and_stun_are_not_delivered(make_server) -> None:
    server = make_server()
    listener = server.listen("udp")
    address = ("127.0.0.1", listener.local.port)
    stun_binding = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + b"\x00" * 12
    with _client() as client:
        for junk in (b"\r\n\r\n", b"\r\n", stun_binding, b"\x01\x01\x00\x00"):
            client.sendto(junk, address)
        client.sendto(sip(2), address)
        assert server.inbox.get().data == sip(2)
        assert server.inbox.nothing()
        client.settimeout(0.2)
        with pytest.raises(socket.timeout):  # no pong over UDP
            client.recvfrom(100)
    assert server.layer.stats["keepalives"] == 2
    assert server.layer.stats["stun_ignored"] == 2


class Explodes(Recorder):
    """A core that raises on its first message."""

    def __call__(self, inbound: Inbound) -> None:
        if not hasattr(self, "exploded"):
            self.exploded = True
            raise RuntimeError("core bug")
        super().__call__(inbound)


def test_on_message_exception_does_not_kill_the_reader(make_server, caplog) -> None:
    server = make_server(on_message=Explodes())
    listener = server.listen("udp")
    with _client() as client:
        client.sendto(sip(1), ("127.0.0.1", listener.local.port))
        client.sendto(sip(2), ("127.0.0.1", listener.local.port))
        assert server.inbox.get().data == sip(2)
    assert "core bug" in caplog.text


def test_listen_and_listener_for(make_server) -> None:
    server = make_server()
    udp4 = server.listen("udp")
    tcp4 = server.listen("tcp")
    assert server.layer.listeners == [udp4, tcp4]
    assert server.layer.listener_for("udp", False) == udp4
    assert server.layer.listener_for("tcp", False) == tcp4
    assert server.layer.listener_for("udp", True) is None
    assert server.layer.listener_for("tls", False) is None
    advertised = server.layer.listen("UDP", "127.0.0.1", 0, advertise="sip.example.com:5060")
    assert advertised.proto == "udp" and advertised.sent_by == "sip.example.com:5060"


def test_listen_errors(make_server) -> None:
    server = make_server()
    taken = server.listen("udp")
    with pytest.raises(OSError):
        server.layer.listen("udp", "127.0.0.1", taken.local.port)
    with pytest.raises(ValueError, match="tls_certificate"):
        server.layer.listen("tls", "127.0.0.1", 0)
    with pytest.raises(ValueError, match="tls_certificate"):
        server.layer.listen("wss", "127.0.0.1", 0)
    with pytest.raises(ValueError, match="unknown transport"):
        server.layer.listen("sctp", "127.0.0.1", 0)
    assert server.layer.listeners == [taken]


def test_udp_send_errors(make_server) -> None:
    server = make_server()
    with pytest.raises(SendError, match="no IPv4 udp listener"):
        server.layer.send(b"x", Endpoint("udp", "127.0.0.1", 9))
    server.listen("udp")
    with pytest.raises(SendError):  # larger than any datagram
        server.layer.send(b"x" * 70000, Endpoint("udp", "127.0.0.1", 9))
    assert server.layer.stats["send_errors"] == 2
