"""A small SIP-over-WebSocket client (RFC 7118) for the integration tests, on the
`websockets` library's sync client: it sends requests it writes as text, reads
responses and requests, answers requests, and answers a digest challenge (RFC 7616,
MD5, qop=auth) computed here with hashlib, independently of geosip.sip.digest.

Every message in and out is kept in `log`, for assertion messages.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field

from websockets.sync import client as ws_client
from websockets.typing import Subprotocol

# RFC 7118 §5.2: the client's Via and Contact carry a made-up host under .invalid
HOST = "df7jal23ls0d.invalid"


@dataclass
class SipText:
    """A message read off the WebSocket: start line and (lower-cased name, value)s."""

    text: str
    start: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        head = self.text.replace("\r\n", "\n").split("\n\n", 1)[0].split("\n")
        self.start = head[0]
        self.headers = [(n.strip().lower(), v.strip()) for n, v in
                        (line.split(":", 1) for line in head[1:] if ":" in line)]

    def first(self, name: str) -> str:
        return next((v for n, v in self.headers if n == name), "")

    def values(self, name: str) -> list[str]:
        """Every value of a list header, split at commas."""
        return [v.strip() for n, value in self.headers if n == name for v in value.split(",")]

    @property
    def status(self) -> int | None:
        return int(self.start.split()[1]) if self.start.startswith("SIP/2.0 ") else None

    @property
    def method(self) -> str:
        """A request's method, or a response's CSeq method."""
        if self.status is None:
            return self.start.split()[0]
        return self.first("cseq").split()[-1]


def digest_params(value: str) -> dict[str, str]:
    """The parameters of a `Digest ...` challenge."""
    return {k.lower(): v.strip('"') for k, v in
            re.findall(r'(\w+)=("[^"]*"|[^\s,]+)', value.split(" ", 1)[1])}


def authorization(challenge: str, method: str, uri: str, user: str, password: str,
                  nc: int = 1) -> str:
    """The Authorization value answering `challenge` (RFC 7616 §3.4, MD5)."""
    p = digest_params(challenge)
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
    ha1, ha2 = md5(f"{user}:{p['realm']}:{password}"), md5(f"{method}:{uri}")
    cnonce, count = secrets.token_hex(4), f"{nc:08x}"
    if "auth" in p.get("qop", "").split(","):
        response = md5(f"{ha1}:{p['nonce']}:{count}:{cnonce}:auth:{ha2}")
        extra = f', qop=auth, nc={count}, cnonce="{cnonce}"'
    else:
        response, extra = md5(f"{ha1}:{p['nonce']}:{ha2}"), ""
    return (f'Digest username="{user}", realm="{p["realm"]}", nonce="{p["nonce"]}", '
            f'uri="{uri}", response="{response}", algorithm=MD5{extra}')


class WsSipClient:
    """One WebSocket connection to `addr` ("host:port") with the "sip" subprotocol."""

    def __init__(self, addr: str, user: str = "alice", domain: str = HOST) -> None:
        self.addr = addr
        self.user, self.domain = user, domain
        self.log: list[str] = []
        self.tag = f"ws{secrets.token_hex(4)}"
        self.ws = ws_client.connect(f"ws://{addr}", subprotocols=[Subprotocol("sip")],
                                    open_timeout=5, close_timeout=2)

    def __enter__(self) -> "WsSipClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.ws.close()

    @property
    def local_port(self) -> int:
        return int(self.ws.local_address[1])

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@{HOST};transport=ws>"

    def send(self, text: str) -> None:
        self.log.append(f"-> sent:\n{text}")
        self.ws.send(text)

    def request(self, method: str, uri: str, cseq: int, branch: str, call_id: str,
                to: str, extra: str = "", to_tag: str | None = None) -> None:
        to_tag_param = f";tag={to_tag}" if to_tag else ""
        self.send(f"{method} {uri} SIP/2.0\r\n"
                  f"Via: SIP/2.0/WS {HOST};branch=z9hG4bK{branch};rport\r\n"
                  f"From: <sip:{self.user}@{self.domain}>;tag={self.tag}\r\n"
                  f"To: <{to}>{to_tag_param}\r\n"
                  f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n"
                  f"Contact: {self.contact}\r\n{extra}Content-Length: 0\r\n\r\n")

    def receive(self, timeout: float = 10) -> SipText | None:
        """The next message, or None after `timeout` seconds without one."""
        try:
            text = self.ws.recv(timeout=timeout)
        except TimeoutError:
            return None
        text = text if isinstance(text, str) else text.decode()
        self.log.append(f"<- received:\n{text}")
        return SipText(text)

    def response(self, method: str, wanted: int, timeout: float = 10) -> SipText:
        """Read until a response `wanted` for `method` (others, e.g. 100, are noted)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self.receive(left)
            if msg is None:
                break
            if msg.status == wanted and msg.method == method:
                return msg
        raise AssertionError(f"no {wanted} for {method} over the WebSocket\n" + self.transcript())

    def incoming(self, method: str, timeout: float = 10) -> SipText:
        """Read until a request `method` arrives."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self.receive(left)
            if msg is None:
                break
            if msg.status is None and msg.method == method:
                return msg
        raise AssertionError(f"no {method} over the WebSocket\n" + self.transcript())

    def answer(self, request: SipText, status: int, reason: str, extra: str = "") -> None:
        """A response to `request` (RFC 3261 §8.2.6: its Via, From, Call-ID, CSeq, and To
        with our tag added unless it has one)."""
        vias = "".join(f"Via: {v}\r\n" for n, v in request.headers if n == "via")
        to = request.first("to")
        if ";tag=" not in to:
            to += f";tag={self.tag}"
        record_route = "".join(f"Record-Route: {v}\r\n" for n, v in request.headers
                               if n == "record-route")
        self.send(f"SIP/2.0 {status} {reason}\r\n{vias}{record_route}"
                  f"From: {request.first('from')}\r\nTo: {to}\r\n"
                  f"Call-ID: {request.first('call-id')}\r\nCSeq: {request.first('cseq')}\r\n"
                  f"{extra}Content-Length: 0\r\n\r\n")

    def transcript(self) -> str:
        return "==== over the WebSocket:\n" + "\n".join(self.log)
