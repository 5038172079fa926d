"""Fixtures for the transport tests: layers that are always stopped, a recorder for
on_message, SIP message bytes, trustme certificates, and a time bound on every test.

No monkey-patching: test clients use gevent's socket and ssl modules explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import gevent
import pytest
from gevent import socket
from gevent.queue import Empty, Queue

from geosip.transport.base import Endpoint, Inbound, Listener
from geosip.transport.config import TransportConfig
from geosip.transport.layer import TransportLayer

TEST_BOUND = 30.0  # seconds: no test may take longer (each one also bounds its waits)


def sip(n: int = 1, body: bytes = b"", method: str = "OPTIONS") -> bytes:
    """A small SIP request whose Call-ID carries n, with a correct Content-Length."""
    return (f"{method} sip:bob@example.com SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK{n}\r\n"
            f"From: <sip:alice@example.com>;tag={n}\r\nTo: <sip:bob@example.com>\r\n"
            f"Call-ID: call-{n}\r\nCSeq: 1 {method}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class Recorder:
    """on_message that queues what arrives; get() waits (bounded) for the next one."""

    def __init__(self) -> None:
        self.queue: Queue[Inbound] = Queue()

    def __call__(self, inbound: Inbound) -> None:
        self.queue.put(inbound)

    def get(self, timeout: float = 3.0) -> Inbound:
        return self.queue.get(timeout=timeout)

    def nothing(self, wait: float = 0.2) -> bool:
        """True if nothing arrives within `wait` seconds."""
        try:
            self.queue.get(timeout=wait)
        except Empty:
            return True
        return False


@dataclass
class Server:
    layer: TransportLayer
    inbox: Recorder

    def listen(self, proto: str, host: str = "127.0.0.1") -> Listener:
        return self.layer.listen(proto, host, 0)


@pytest.fixture(autouse=True)
def _bounded() -> Iterator[None]:
    timer = gevent.Timeout(TEST_BOUND)
    timer.start()
    try:
        yield
    finally:
        timer.close()


@pytest.fixture
def make_server() -> Iterator[Callable[..., Server]]:
    """make_server(on_message=None, **config) -> a started TransportLayer (listen on
    it, then it serves at once) whose on_message is a Recorder unless given; all are
    stopped after the test."""
    made: list[TransportLayer] = []

    def make(on_message: Recorder | None = None, **config: object) -> Server:
        inbox = on_message or Recorder()
        layer = TransportLayer(inbox, TransportConfig(**config))  # type: ignore[arg-type]
        layer.start()
        made.append(layer)
        return Server(layer, inbox)

    yield make
    for layer in made:
        layer.stop()


@dataclass(frozen=True)
class TlsFiles:
    cert: str  # key and certificate chain in one PEM
    ca: str


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    trustme = pytest.importorskip("trustme")
    folder: Path = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "::1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    return TlsFiles(str(folder / "server.pem"), str(folder / "ca.pem"))


def has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback")


def connect(listener: Listener | Endpoint) -> socket.socket:
    local = listener.local if isinstance(listener, Listener) else listener
    sock = socket.create_connection((local.host, local.port), timeout=3)
    return sock


def read_exactly(sock: socket.socket, size: int, timeout: float = 3.0) -> bytes:
    data = b""
    with gevent.Timeout(timeout):
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                break
            data += chunk
    return data


def closed_by_peer(sock: socket.socket, timeout: float = 3.0) -> bool:
    """True when the peer closes (EOF or reset) within `timeout`; data is discarded."""
    sock.settimeout(None)
    try:
        with gevent.Timeout(timeout, False):
            while True:
                if not sock.recv(65536):
                    return True
    except OSError:  # ECONNRESET
        return True
    return False
