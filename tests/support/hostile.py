"""Raw peers for the hostile-input tests (tests/integration/test_hostile_*.py): SIP
requests built byte by byte (so that they can be as wrong as an attacker makes them),
sent from a socket of the test's own over UDP or TCP, and a JSON-RPC client for the
control interface's Unix socket and HTTP port. Plain sockets, no gevent: the tests
run beside `geosip run`, never inside it."""

from __future__ import annotations

import http.client
import itertools
import json
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"
_SEQ = itertools.count(1)


def sip_request(method: str, ruri: str, *, headers: list[str] | tuple[str, ...] = (),
                body: bytes = b"", from_uri: str = "sip:attacker@example.com",
                to_uri: str | None = None, call_id: str | None = None,
                cseq: int = 1, transport: str = "UDP",
                content_length: int | None = None) -> bytes:
    """A request with the five headers a proxy needs (Via with rport, so that answers
    come back to the sending socket, RFC 3581), `headers` as given (whole lines,
    without CRLF) and `body`; Content-Length is the body's unless given."""
    n = next(_SEQ)
    length = len(body) if content_length is None else content_length
    lines = [f"{method} {ruri} SIP/2.0",
             f"Via: SIP/2.0/{transport} {HOST}:9;branch=z9hG4bK-hostile-{n};rport",
             "Max-Forwards: 70",
             f"From: <{from_uri}>;tag=h{n}",
             f"To: <{to_uri or from_uri}>",
             f"Call-ID: {call_id or f'hostile-{n}-{time.monotonic_ns()}'}",
             f"CSeq: {cseq} {method}",
             *headers,
             f"Content-Length: {length}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Response:
    status: int
    reason: str
    head: str                      # the start line and headers, as text
    body: bytes

    def header(self, name: str) -> list[str]:
        """Every value of header `name` (case-insensitive, no compact forms)."""
        return re.findall(rf"(?mi)^{re.escape(name)}[ \t]*:[ \t]*(.*?)\r?$", self.head)


def parse_response(data: bytes) -> Response:
    head, _, body = data.partition(b"\r\n\r\n")
    text = head.decode("utf-8", "replace")
    first = text.split("\r\n", 1)[0]
    assert first.startswith("SIP/2.0 "), f"not a SIP response: {data[:200]!r}"
    status, _, reason = first[8:].partition(" ")
    return Response(int(status), reason, text, body)


def _call_id(message: bytes) -> bytes | None:
    found = re.search(rb"(?mi)^(?:call-id|i)[ \t]*:[ \t]*(\S+)", message)
    return found.group(1) if found else None


class UdpPeer:
    """A UDP socket on loopback that sends requests to `server` and reads what comes."""

    def __init__(self, server: tuple[str, int]) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def receive(self, timeout: float) -> bytes | None:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(65535)
        except TimeoutError:
            return None

    def final(self, data: bytes, timeout: float = 5.0) -> Response | None:
        """Send `data`; the first final response to it (1xx, and answers to earlier
        requests, skipped), or None after `timeout` seconds."""
        self.send(data)
        mine = _call_id(data)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            got = self.receive(left)
            if got is None:
                return None
            if (got.startswith(b"SIP/2.0 ") and not got.startswith(b"SIP/2.0 1")
                    and _call_id(got) == mine):
                return parse_response(got)
        return None

    def close(self) -> None:
        self.sock.close()


def tcp_final(server: tuple[str, int], data: bytes, timeout: float = 5.0) -> Response | None:
    """`data` over a new TCP connection; the first final response on it, or None when
    the server closes it or stays silent for `timeout` seconds."""
    with socket.create_connection(server, timeout=timeout) as sock:
        sock.sendall(data)
        buffer = b""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionError):
                return None
            if not chunk:
                return None
            buffer += chunk
            while b"\r\n\r\n" in buffer:
                head, _, rest = buffer.partition(b"\r\n\r\n")
                found = re.search(rb"(?mi)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head)
                length = int(found.group(1)) if found else 0
                if len(rest) < length:
                    break
                message, buffer = head + b"\r\n\r\n" + rest[:length], rest[length:]
                if not message.startswith(b"SIP/2.0 1"):
                    return parse_response(message)
    return None


def keepalive(server: tuple[str, int]) -> bytes:
    """An OPTIONS to the server itself, no user part (default.lua answers 200)."""
    return sip_request("OPTIONS", f"sip:{server[0]}:{server[1]}",
                       from_uri="sip:probe@example.com", to_uri=f"sip:{server[0]}")


# ---- JSON-RPC -------------------------------------------------------------------------

def rpc_unix_raw(path: str, data: bytes, timeout: float = 5.0, *,
                 half_close: bool = True) -> bytes:
    """`data` written to the control socket; everything it answers until it closes
    (b"" when it closes without a word)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # it stopped reading (too large): what did it say?
            pass
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except ConnectionResetError:
            pass
    return out


def rpc_call(path: str, method: str, *params: Any) -> Any:
    """The answer object to one call over the Unix socket."""
    request = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}
    return json.loads(rpc_unix_raw(path, json.dumps(request).encode()))


def rpc_http_raw(addr: tuple[str, int], body: bytes, timeout: float = 5.0,
                 headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """POST /RPC; (HTTP status, body)."""
    conn = http.client.HTTPConnection(*addr, timeout=timeout)
    try:
        conn.request("POST", "/RPC", body=body,
                     headers={"Content-Type": "application/json", **(headers or {})})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()
