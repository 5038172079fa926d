"""TLS: listener with a trustme certificate, outbound TLS between two layers, chain
verification, keep-alives, and half-open clients that never handshake."""

from __future__ import annotations

import gevent
import pytest
from gevent import socket, ssl

from geosip.transport.base import Endpoint, SendError

from .conftest import closed_by_peer, connect, read_exactly, sip


def _server_config(files, **extra):
    return dict(tls_certificate=files.cert, tls_private_key=files.cert, **extra)


def _client_context(ca: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # gevent's class: non-blocking sockets
    ctx.load_verify_locations(cafile=ca)
    return ctx


def test_tls_client_message_in_reply_out(make_server, tls_files) -> None:
    server = make_server(**_server_config(tls_files))
    listener = server.listen("tls")
    raw = connect(listener)
    with _client_context(tls_files.ca).wrap_socket(raw, server_hostname="localhost") as client:
        client.sendall(b"\r\n\r\n" + sip(1))
        assert read_exactly(client, 2) == b"\r\n"
        inbound = server.inbox.get()
        assert inbound.data == sip(1) and inbound.source.proto == "tls"
        server.layer.send(b"reply", inbound.source)
        assert read_exactly(client, 5) == b"reply"


def test_outbound_tls_between_two_layers(make_server, tls_files) -> None:
    b = make_server(**_server_config(tls_files))
    dest = b.listen("tls").local
    tcp_only = make_server(tls_ca_file=tls_files.ca)
    tcp_only.listen("tcp")
    with pytest.raises(SendError, match="no IPv4 tls listener"):  # nothing to send from
        tcp_only.layer.send(sip(0), dest)
    a = make_server(**_server_config(tls_files, tls_ca_file=tls_files.ca))
    a.listen("tls")
    a.layer.send(sip(1), dest)  # IP literal: chain verified, no name check
    at_b = b.inbox.get()
    assert at_b.data == sip(1) and at_b.source.proto == "tls"
    a.layer.send(sip(2), dest)
    assert b.inbox.get().conn_id == at_b.conn_id
    b.layer.send(sip(3), at_b.source, conn_id=at_b.conn_id)
    assert a.inbox.get().data == sip(3)
    assert a.layer.connection_count() == 1


def test_untrusted_server_certificate_is_a_send_error(make_server, tls_files, tmp_path) -> None:
    trustme = pytest.importorskip("trustme")
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    b = make_server(**_server_config(tls_files))
    dest = b.listen("tls").local
    a = make_server(**_server_config(tls_files, tls_ca_file=str(other_ca)))
    a.listen("tls")
    with pytest.raises(SendError, match="CERTIFICATE_VERIFY_FAILED"):
        a.layer.send(sip(1), dest)
    assert a.layer.connection_count() == 0
    # Verification off (tls_verify_server=False): the same server is accepted.
    c = make_server(**_server_config(tls_files, tls_verify_server=False,
                                     tls_ca_file=str(other_ca)))
    c.listen("tls")
    c.layer.send(sip(2), dest)
    assert b.inbox.get().data == sip(2)


def test_name_destination_is_checked_against_the_certificate(make_server, tls_files) -> None:
    b = make_server(**_server_config(tls_files))
    port = b.listen("tls").local.port
    a = make_server(**_server_config(tls_files, tls_ca_file=tls_files.ca))
    a.listen("tls")
    a.layer.send(sip(1), Endpoint("tls", "localhost", port))  # SNI + name in the cert
    assert b.inbox.get().data == sip(1)


def test_half_open_tls_clients_do_not_block_others(make_server, tls_files) -> None:
    server = make_server(**_server_config(tls_files, first_message_timeout=0.5))
    listener = server.listen("tls")
    silent = [connect(listener) for _ in range(20)]  # TCP up, no ClientHello ever
    raw = connect(listener)
    with _client_context(tls_files.ca).wrap_socket(raw, server_hostname="localhost") as client:
        client.sendall(sip(1))
        assert server.inbox.get().data == sip(1)
    assert all(closed_by_peer(s, timeout=2) for s in silent)
    for s in silent:
        s.close()


def test_garbage_instead_of_a_handshake_closes_that_connection(make_server, tls_files) -> None:
    server = make_server(**_server_config(tls_files))
    listener = server.listen("tls")
    with connect(listener) as bad:
        bad.sendall(sip(1))  # plaintext SIP on the TLS port
        assert closed_by_peer(bad)
    gevent.sleep(0.05)
    assert server.layer.connection_count() == 0 and server.inbox.nothing(0.05)


def test_required_client_certificate(make_server, tls_files) -> None:
    server = make_server(**_server_config(tls_files, tls_require_client_cert=True,
                                          tls_ca_file=tls_files.ca))
    listener = server.listen("tls")
    raw = connect(listener)
    ctx = _client_context(tls_files.ca)
    with ctx.wrap_socket(raw, server_hostname="localhost") as anonymous:
        # TLS 1.3: the server's verdict on the (missing) client certificate comes after
        # the client's handshake has finished, as an alert or a close.
        try:
            anonymous.sendall(sip(1))
            assert closed_by_peer(anonymous)
        except (ssl.SSLError, socket.error):
            pass
    assert server.inbox.nothing(0.1)
    peer = make_server(**_server_config(tls_files, tls_ca_file=tls_files.ca))
    peer.listen("tls")
    peer.layer.send(sip(2), listener.local)  # presents its certificate
    assert server.inbox.get().data == sip(2)
