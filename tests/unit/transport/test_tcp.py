"""TCP: framing, keep-alive pong, bad streams, connection reuse and aliases, idle
timeouts, limits, IPv6, send errors, stop()."""

from __future__ import annotations

import gevent
import pytest
from gevent import socket

from geosip.transport.base import Endpoint, SendError

from .conftest import closed_by_peer, connect, needs_ipv6, read_exactly, sip


def test_message_written_in_chunks(make_server) -> None:
    server = make_server()
    with connect(server.listen("tcp")) as client:
        message = sip(1, body=b"hello world")
        for i in range(0, len(message), 7):
            client.sendall(message[i:i + 7])
            gevent.sleep(0.001)
        inbound = server.inbox.get()
        assert inbound.data == message
        assert inbound.source == Endpoint("tcp", "127.0.0.1", client.getsockname()[1])
        assert inbound.conn_id is not None


def test_two_messages_in_one_write(make_server) -> None:
    server = make_server()
    with connect(server.listen("tcp")) as client:
        client.sendall(sip(1, b"a") + sip(2, b"bc"))
        first, second = server.inbox.get(), server.inbox.get()
        assert (first.data, second.data) == (sip(1, b"a"), sip(2, b"bc"))
        assert first.conn_id == second.conn_id
    assert server.layer.stats["stream_messages"] == 2


def test_keepalive_ping_gets_a_pong(make_server) -> None:
    server = make_server()
    with connect(server.listen("tcp")) as client:
        client.sendall(b"\r\n\r\n")
        assert read_exactly(client, 2) == b"\r\n"  # RFC 5626 §3.5.1
        client.sendall(sip(1) + b"\r\n\r\n")
        assert server.inbox.get().data == sip(1)
        assert read_exactly(client, 2) == b"\r\n"
    assert server.layer.stats["keepalives"] == 2


def test_bad_content_length_resets_only_that_connection(make_server) -> None:
    server = make_server()
    listener = server.listen("tcp")
    with connect(listener) as good, connect(listener) as bad:
        good.sendall(sip(1))
        assert server.inbox.get().data == sip(1)
        bad.sendall(sip(2).replace(b"Content-Length: 0", b"Content-Length: zero"))
        assert closed_by_peer(bad)
        good.sendall(sip(3))
        assert server.inbox.get().data == sip(3)
        assert server.inbox.nothing()
    assert server.layer.stats["bad_frames"] == 1


def test_oversized_message_resets_the_connection(make_server) -> None:
    server = make_server(max_message_size=1000)
    with connect(server.listen("tcp")) as client:
        client.sendall(sip(1, b"x" * 2000))
        assert closed_by_peer(client)
    assert server.layer.stats["bad_frames"] == 1 and server.inbox.nothing(0.05)


def test_reply_reuses_the_inbound_connection(make_server) -> None:
    server = make_server()
    with connect(server.listen("tcp")) as client:
        client.sendall(sip(1))
        inbound = server.inbox.get()
        server.layer.send(b"reply-1", inbound.source, conn_id=inbound.conn_id)
        assert read_exactly(client, 7) == b"reply-1"
        server.layer.send(b"reply-2", inbound.source)  # found by the source endpoint
        assert read_exactly(client, 7) == b"reply-2"
        # A stale conn_id falls back to the endpoint.
        server.layer.send(b"reply-3", inbound.source, conn_id=999999)
        assert read_exactly(client, 7) == b"reply-3"
        assert server.layer.connection_count() == 1


def test_outbound_connect_then_reuse_both_ways(make_server) -> None:
    a, b = make_server(), make_server()
    a.listen("tcp")
    b_listener = b.listen("tcp")
    a.layer.send(sip(1), b_listener.local)
    at_b = b.inbox.get()
    a.layer.send(sip(2), b_listener.local)
    assert b.inbox.get().conn_id == at_b.conn_id  # same connection
    assert a.layer.connection_count() == 1 and b.layer.connection_count() == 1
    b.layer.send(sip(3), at_b.source, conn_id=at_b.conn_id)  # reply on it
    at_a = a.inbox.get()
    assert at_a.data == sip(3) and at_a.source == b_listener.local
    assert a.layer.stats["connections_opened"] == 1


def test_concurrent_sends_share_one_connect(make_server) -> None:
    a, b = make_server(), make_server()
    a.listen("tcp")
    dest = b.listen("tcp").local
    gevent.joinall([gevent.spawn(a.layer.send, sip(n), dest) for n in range(5)],
                   raise_error=True, timeout=5)
    assert {b.inbox.get().data for _ in range(5)} == {sip(n) for n in range(5)}
    assert a.layer.connection_count() == 1


def test_alias_sends_new_requests_on_the_same_connection(make_server) -> None:
    a, b = make_server(), make_server()
    a_listener = a.listen("tcp")
    a.layer.send(sip(1), b.listen("tcp").local)
    at_b = b.inbox.get()
    assert at_b.source.port != a_listener.local.port  # an ephemeral port
    # RFC 5923: the Via said "SIP/2.0/TCP 127.0.0.1:<a's port>;alias".
    assert b.layer.add_alias(at_b.conn_id, Endpoint("tcp", "127.0.0.1", a_listener.local.port))
    b.layer.send(sip(2), a_listener.local)
    assert a.inbox.get().data == sip(2)
    assert b.layer.connection_count() == 1 and a.layer.connection_count() == 1
    assert not b.layer.add_alias(424242, a_listener.local)


def test_idle_connection_is_closed_after_its_lifetime(make_server) -> None:
    server = make_server(connection_lifetime=0.3)
    listener = server.listen("tcp")
    with connect(listener) as client:
        client.sendall(sip(1))
        server.inbox.get()
        for _ in range(3):  # activity keeps it open
            gevent.sleep(0.15)
            client.sendall(b"\r\n\r\n")
            assert read_exactly(client, 2) == b"\r\n"
        started = gevent.get_hub().loop.now()
        assert closed_by_peer(client, timeout=2)
        assert gevent.get_hub().loop.now() - started < 1.0
    gevent.sleep(0.05)
    assert server.layer.connection_count() == 0
    assert server.layer.stats["connections_closed"] == 1


def test_silent_connection_is_closed_after_first_message_timeout(make_server) -> None:
    server = make_server(first_message_timeout=0.3)
    listener = server.listen("tcp")
    with connect(listener) as silent, connect(listener) as slow:
        # Pings and half a message do not count: only a complete message does.
        slow.sendall(b"\r\n\r\n" + sip(1)[:20])
        assert closed_by_peer(silent, timeout=2)
        assert closed_by_peer(slow, timeout=2)
    assert server.inbox.nothing(0.05)


def test_per_ip_limit_refuses_the_next_connection(make_server) -> None:
    server = make_server(max_connections_per_ip=2)
    listener = server.listen("tcp")
    with connect(listener) as one, connect(listener) as two, connect(listener) as three:
        assert closed_by_peer(three, timeout=2)
        for n, client in enumerate((one, two)):
            client.sendall(sip(n))
            assert server.inbox.get().data == sip(n)
    assert server.layer.stats["connections_refused"] == 1


def test_total_limit_refuses_outbound_too(make_server) -> None:
    a, b = make_server(max_connections=1), make_server()
    a_listener = a.listen("tcp")
    with connect(a_listener):
        gevent.sleep(0.05)
        with pytest.raises(SendError, match="max_connections"):
            a.layer.send(sip(1), b.listen("tcp").local)


@needs_ipv6
def test_tcp_over_ipv6(make_server) -> None:
    a, b = make_server(), make_server()
    assert a.listen("tcp", "::1").local.ipv6
    dest = b.listen("tcp", "::1").local
    a.layer.send(sip(1), dest)
    inbound = b.inbox.get()
    assert inbound.source.host == "::1" and inbound.source.proto == "tcp"
    b.layer.send(sip(2), inbound.source)
    assert a.inbox.get().data == sip(2)


def test_connect_refused_is_a_send_error(make_server) -> None:
    server = make_server()
    server.listen("tcp")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connects are refused
        with pytest.raises(SendError, match="connect to tcp:127.0.0.1"):
            server.layer.send(sip(1), Endpoint("tcp", "127.0.0.1", port))
    with pytest.raises(SendError, match="no IPv6 tcp listener"):
        server.layer.send(sip(1), Endpoint("tcp", "::1", port))
    assert server.layer.connection_count() == 0


def test_stop_closes_everything_promptly(make_server) -> None:
    server = make_server()
    listener = server.listen("tcp")
    clients = [connect(listener) for _ in range(5)]
    gevent.sleep(0.05)
    assert server.layer.connection_count() == 5
    started = gevent.get_hub().loop.now()
    server.layer.stop()
    assert gevent.get_hub().loop.now() - started < 1.0
    assert server.layer.connection_count() == 0
    assert all(closed_by_peer(c, timeout=1) for c in clients)
    with pytest.raises(OSError):
        connect(listener)
    with pytest.raises(RuntimeError):
        server.layer.listen("tcp", "127.0.0.1", 0)
    for c in clients:
        c.close()
