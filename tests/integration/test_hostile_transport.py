"""Hostile bytes on the stream transports of `geosip run` (DESIGN.md "Bad input":
message size, TCP connections per peer, idle connections and read time are bounded;
geosip/transport/stream.py and ws.py contracts).

- TCP: a half-sent message, a Content-Length larger than what is sent, a message over
  65535 octets: that connection is closed or waits, the others are served.
- TCP: more than max_connections_per_ip (1024) connections from one address: those
  beyond it are closed at once, the first ones stay usable.
- WebSocket (RFC 6455, RFC 7118): a frame announcing 2^63-1 octets is closed with
  1009 (§7.4.1) before the server buffers it; a binary frame carrying SIP is served
  (RFC 7118 §5.2: text or binary); junk in a text frame is dropped; a handshake
  without the "sip" subprotocol is 400 (RFC 7118 §4.1).
After each, a request over a fresh connection is answered and nothing raised.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Callable

from geosip.transport.config import TransportConfig
from tests.support.hostile import keepalive, sip_request, tcp_final

from ._proxy import HOST, Proxy


def serving(p: Proxy) -> None:
    answer = tcp_final((HOST, p.port), keepalive((HOST, p.port)))
    assert answer is not None and answer.status == 200, p.log()[-3000:]
    p.assert_no_tracebacks()


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def test_broken_tcp_streams(proxy: Callable[..., Proxy]) -> None:
    p = proxy()
    server = (HOST, p.port)
    full = keepalive(server)
    half = socket.create_connection(server)
    half.sendall(full[: len(full) // 2])                   # the rest never comes
    longer = socket.create_connection(server)
    longer.sendall(full.replace(b"Content-Length: 0", b"Content-Length: 5000") + b"abc")
    serving(p)                                             # served meanwhile
    # a message over max_message_size: that connection is closed
    big = sip_request("MESSAGE", f"sip:{HOST}:{p.port}", body=b"x" * 70_000,
                      transport="TCP", headers=["Content-Type: text/plain"])
    with socket.create_connection(server) as sock:
        sock.sendall(big)
        assert closed_by_server(sock, 5), "a 70 KB message did not close its connection"
    # headers announcing a body that never fully arrives, then the peer leaves
    longer.close()
    half.close()
    serving(p)


def test_connections_per_peer_are_bounded(proxy: Callable[..., Proxy]) -> None:
    p = proxy()
    limit = TransportConfig().max_connections_per_ip
    opened: list[socket.socket] = []
    try:
        for _ in range(limit + 20):
            opened.append(socket.create_connection((HOST, p.port)))
        time.sleep(0.5)  # the accept loop catches up
        refused = [s for s in opened[limit:] if closed_by_server(s, 0.2)]
        assert len(refused) == 20, f"{len(refused)} of the 20 beyond {limit} closed"
        # the first ones are real connections: one of them is served
        first = opened[0]
        first.sendall(keepalive((HOST, p.port)))
        first.settimeout(5)
        assert first.recv(65536).startswith(b"SIP/2.0 200 "), p.log()[-3000:]
    finally:
        for sock in opened:
            sock.close()
    time.sleep(0.5)  # the server sees them go
    serving(p)


# ---- WebSocket ----------------------------------------------------------------------

def ws_open(port: int, protocol: str = "sip") -> tuple[socket.socket, bytes]:
    """A raw WebSocket handshake (RFC 6455 §4.1); the socket and the server's answer."""
    sock = socket.create_connection((HOST, port), timeout=5)
    sock.sendall((f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocol}\r\n"
                  "\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return sock, answer


def ws_frame(opcode: int, payload: bytes, length: int | None = None) -> bytes:
    """A masked client frame (RFC 6455 §5.2); `length` may lie about the payload."""
    n = len(payload) if length is None else length
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """(opcode, payload) of one unmasked server frame."""
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data
    first, second = exactly(2)
    n = second & 0x7F
    if n == 126:
        n = struct.unpack("!H", exactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", exactly(8))[0]
    return first & 0x0F, exactly(n)


def test_hostile_websocket_frames(proxy: Callable[..., Proxy],
                                  free_port: Callable[..., int]) -> None:
    ws_port = free_port()
    p = proxy(ws_port=ws_port)

    sock, answer = ws_open(ws_port, protocol="chat")
    assert answer.startswith(b"HTTP/1.1 400"), answer
    sock.close()

    # SIP in a binary frame is served (RFC 7118 §5.2)
    sock, answer = ws_open(ws_port)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    request = sip_request("OPTIONS", f"sip:{HOST}:{ws_port}", transport="WS",
                          to_uri=f"sip:{HOST}")
    sock.sendall(ws_frame(0x2, request))
    opcode, payload = ws_read_frame(sock)
    assert payload.startswith(b"SIP/2.0 200 "), (opcode, payload[:200])
    # junk in a text frame, then SIP again on the same connection
    sock.sendall(ws_frame(0x1, b"\x00junk\r\n\r\n" * 100))
    sock.sendall(ws_frame(0x1, request.replace(b"hostile-", b"hostile-again-")))
    opcode, payload = ws_read_frame(sock)
    assert payload.startswith(b"SIP/2.0 200 "), (opcode, payload[:200])

    # a frame announcing 2^63-1 octets: Close 1009 (message too big), then closed
    sock.sendall(ws_frame(0x1, b"x" * 70_000, length=(1 << 63) - 1))
    opcode, payload = ws_read_frame(sock)
    assert (opcode, struct.unpack("!H", payload[:2])[0]) == (0x8, 1009), payload
    assert closed_by_server(sock, 5)
    sock.close()

    sock, answer = ws_open(ws_port)  # and a new client is served
    assert answer.startswith(b"HTTP/1.1 101"), answer
    sock.sendall(ws_frame(0x1, sip_request("OPTIONS", f"sip:{HOST}:{ws_port}",
                                           transport="WS", to_uri=f"sip:{HOST}")))
    assert ws_read_frame(sock)[1].startswith(b"SIP/2.0 200 ")
    sock.close()
    serving(p)
