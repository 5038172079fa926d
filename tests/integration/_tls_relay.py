"""A TLS front for a peer that speaks only TCP (Debian's sipp is built without OpenSSL:
"To use a TLS transport you must compile SIPp with OpenSSL"), in the manner of stunnel.

    server side: geosip --TLS--> TlsRelay(server_ctx) --TCP--> sipp UAS
    client side: sipp UAC --TCP--> TlsRelay(client_ctx) --TLS--> geosip

Each accepted connection gets its own outgoing connection and one thread that copies
bytes both ways, so SIP's connection reuse (RFC 3261 §18) works through it unchanged.
Plain threads and blocking sockets: the test process is not monkey-patched.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time


class TlsRelay:
    """Listens on 127.0.0.1:port; wraps the accepted side with `accept_tls` (a server
    context) or the outgoing side with `connect_tls` (a client context)."""

    def __init__(self, port: int, target: tuple[str, int], *,
                 accept_tls: ssl.SSLContext | None = None,
                 connect_tls: ssl.SSLContext | None = None) -> None:
        self.port = port
        self.target = target
        self._accept_tls = accept_tls
        self._connect_tls = connect_tls
        self._listener = socket.create_server(("127.0.0.1", port))
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self.errors: list[str] = []
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                _close(sock)

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
        return sock

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(self._track(sock),), daemon=True).start()

    def _serve(self, inside: socket.socket) -> None:
        outside: socket.socket | None = None
        try:
            inside.settimeout(10)
            if self._accept_tls is not None:
                inside = self._track(self._accept_tls.wrap_socket(inside, server_side=True))
            outside = self._track(socket.create_connection(self.target, timeout=10))
            if self._connect_tls is not None:
                outside = self._track(self._connect_tls.wrap_socket(outside))
            _pump(inside, outside)
        except OSError as exc:
            if not self._closed:
                self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            _close(inside)
            if outside is not None:
                _close(outside)


def _pump(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes. Raises OSError.

    Non-blocking: a TLS socket can be readable with no application data behind it (a
    TLS 1.3 session ticket), and a blocking read would then stall the other direction.
    """
    peers = {a: b, b: a}
    for sock in peers:
        sock.setblocking(False)
    while True:
        # Decrypted bytes may wait inside an SSL object with nothing left on the socket.
        ready: list[socket.socket] = [
            s for s in peers if isinstance(s, ssl.SSLSocket) and s.pending()]
        if not ready:
            ready, _, _ = select.select(list(peers), [], [], 1.0)
        for sock in ready:
            try:
                data = sock.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                continue
            if not data:
                return
            _send_all(peers[sock], data)


def _send_all(sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    deadline = time.monotonic() + 10
    while view:
        try:
            view = view[sock.send(view):]
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            if time.monotonic() > deadline:
                raise TimeoutError("peer does not read") from None
            select.select([sock], [sock], [], 0.1)


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
