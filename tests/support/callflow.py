"""An in-process SIP call flow through the real Core, with a transport stand-in that
records what would be sent (used by tests/unit/tm and bench/core_calls.py).

UAC and UAS are simulated by message templates shaped like sipp's bench scenarios:
INVITE -> 100/180/200 -> ACK -> BYE -> 200, with Record-Route and the route set.
"""

from __future__ import annotations

import gevent

from geosip.core.core import Core
from geosip.core.router import ProxyRouter
from geosip.core.routing import Myself
from geosip.tm.manager import TmConfig
from geosip.transport.base import Endpoint, Inbound, Listener

PROXY = Listener(Endpoint("udp", "127.0.0.1", 5060))
UAC = Endpoint("udp", "127.0.0.1", 5070)
UAS = Endpoint("udp", "127.0.0.1", 5080)

INVITE = (
    "INVITE sip:service@127.0.0.1:5080 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{n}-1\r\n"
    "From: sipp <sip:sipp@127.0.0.1:5070>;tag={n}SIPpTag001\r\n"
    "To: service <sip:service@127.0.0.1:5080>\r\n"
    "Call-ID: {n}-call@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
    "Contact: <sip:sipp@127.0.0.1:5070>\r\nMax-Forwards: 70\r\nSubject: bench\r\n"
    "Content-Type: application/sdp\r\nContent-Length: 129\r\n\r\n"
    "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
IN_DIALOG = (
    "{method} sip:service@127.0.0.1:5080 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{n}-{method}\r\n"
    "Route: <sip:127.0.0.1:5060;lr>\r\n"
    "From: sipp <sip:sipp@127.0.0.1:5070>;tag={n}SIPpTag001\r\n"
    "To: service <sip:service@127.0.0.1:5080>;tag={n}SIPpTag011\r\n"
    "Call-ID: {n}-call@127.0.0.1\r\nCSeq: {cseq} {method}\r\n"
    "Contact: <sip:sipp@127.0.0.1:5070>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


class Recorder:
    """The transport as the core sees it; keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Endpoint]] = []

    def send(self, data: bytes, dest: Endpoint, *, conn_id: int | None = None,
             listener: Listener | None = None) -> None:
        self.sent.append((data, dest))

    def listener_for(self, proto: str, ipv6: bool) -> Listener | None:
        return PROXY

    def add_alias(self, conn_id: int, endpoint: Endpoint) -> bool:
        return False


def answer(request: bytes, status: str, n: int) -> bytes:
    """The UAS's response to a forwarded request: its Via, Record-Route, From, To (with
    a tag), Call-ID and CSeq lines copied, as sipp's [last_*] keywords do."""
    head = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    keep = [line for line in head[1:] if line.split(b":", 1)[0].lower() in
            (b"via", b"record-route", b"from", b"call-id", b"cseq")]
    to = next(line for line in head if line.lower().startswith(b"to:"))
    if b";tag=" not in to:
        to += b";tag=%dSIPpTag011" % n
    return b"\r\n".join([b"SIP/2.0 " + status.encode(), *keep, to,
                         b"Contact: <sip:127.0.0.1:5080>", b"Content-Length: 0", b"", b""])


def one_call(core: Core, out: Recorder, n: int) -> None:
    def deliver(data: bytes, source: Endpoint) -> None:
        core.on_message(Inbound(data, source, PROXY))
        gevent.sleep(0)  # let the request's greenlet run

    def forwarded_to_uas() -> bytes:
        data = next(d for d, dest in reversed(out.sent) if dest == UAS)
        out.sent.clear()
        return data

    deliver(INVITE.format(n=n).encode(), UAC)
    invite = forwarded_to_uas()
    for status in ("180 Ringing", "200 OK"):
        deliver(answer(invite, status, n), UAS)
    deliver(IN_DIALOG.format(method="ACK", n=n, cseq=1).encode(), UAC)
    forwarded_to_uas()
    deliver(IN_DIALOG.format(method="BYE", n=n, cseq=2).encode(), UAC)
    bye = forwarded_to_uas()
    deliver(answer(bye, "200 OK", n), UAS)
    out.sent.clear()


def make_core(config: TmConfig | None = None) -> tuple[Core, Recorder]:
    """A stateful proxy Core on PROXY with a Recorder as its transport, timers running."""
    out = Recorder()
    core = Core(ProxyRouter(stateful=True), Myself(listeners=[PROXY]))
    if config is not None:
        core.tm.configure(config)
    core.transport = out
    core.tm.start()
    return core, out
