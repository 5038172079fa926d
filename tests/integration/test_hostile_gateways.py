"""Hostile input against the gateways' own ports (DESIGN.md, "Bad input": nothing a peer
sends may crash a server or lose stored data). The SMS gateway runs in Kannel mode, so
both of its listening sockets are attacked: the SIP UA (gateways/sipua.py) and the HTTP
get-url endpoint (gateways/sms/kannel.py). After each attack the gateway is the same
process (geosipctl gateway.list: restarts 0) and a plain MESSAGE still gets 202."""

from __future__ import annotations

import http.client
import json
import re
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.hostile import UdpPeer, sip_request
from tests.support.kannel import Kannel

from ._gateway_stats import ctl
from .test_sms import ALICE, PHONE, sms_proxy  # noqa: F401 -- sms_proxy is a fixture

DOMAIN = "sms.example.com"


def _without(request: bytes, header: str) -> bytes:
    """`request` with every `header:` line removed."""
    return re.sub(rb"(?mi)^" + header.encode() + rb"[ \t]*:[^\r\n]*\r\n", b"", request)


def _message(ruri: str, body: bytes = b"hello", ctype: str = "text/plain") -> bytes:
    return sip_request("MESSAGE", ruri, from_uri=ALICE, to_uri=ruri, body=body,
                       headers=[f"Content-Type: {ctype}"])


@pytest.fixture
def sms_gateway(sms_proxy, tmp_path, free_port):  # noqa: F811 -- the imported fixture
    get_port = free_port()
    get_url = f"http://127.0.0.1:{get_port}/mo?from=%p&to=%P&text=%b&charset=%C"
    with Kannel(tmp_path, get_url=get_url, ports=free_port) as kannel:
        from .test_sms import USER, PASSWORD
        server, core, uas_port = sms_proxy("kannel", {
            "sendsms_url": kannel.sendsms_url, "username": USER, "password": PASSWORD,
            "listen": f"127.0.0.1:{get_port}"})
        line = server.wait_for("SMS gateway on")
        sip_port = int(re.search(r"on 127\.0\.0\.1:(\d+)", line).group(1))
        pid = int(re.search(r"pid (\d+)", server.wait_for("gateway sms started (pid"))
                  .group(1))
        peer = UdpPeer(("127.0.0.1", sip_port))
        try:
            yield _Gateway(tmp_path, peer, get_port, pid, uas_port)
        finally:
            peer.close()
            server.stop()


class _Gateway:
    def __init__(self, cwd, peer: UdpPeer, http_port: int, pid: int, uas_port: int
                 ) -> None:
        self.cwd, self.peer, self.http_port, self.pid = cwd, peer, http_port, pid
        self.uas_port = uas_port

    def still_serves(self, what: str) -> None:
        """Same process, never restarted, and a MESSAGE to a phone still gets 202."""
        [gateway] = json.loads(ctl(self.cwd, "--json", "gateway.list"))
        assert (gateway["pid"], gateway["running"], gateway["restarts"]) == \
            (self.pid, True, 0), f"after {what}: {gateway}"
        answer = self.peer.final(_message(f"sip:{PHONE}@{DOMAIN}"))
        assert answer is not None and answer.status == 202, f"after {what}: {answer}"

    def get(self, target: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        try:
            conn.putrequest("GET", target, skip_accept_encoding=True)
            conn.endheaders()
            answer = conn.getresponse()
            answer.read()
            return answer.status
        finally:
            conn.close()


JUNK = [b"\x00\xff" * 700, b"hello", b"SIP/2.0 200 OK\r\n\r\n",
        b"MESSAGE sip:x SIP/2.0\r\n" + b"X: " + b"a" * 60000 + b"\r\n\r\n",
        b"MESSAGE sip:+1@x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9\r\n\r\n",
        bytes(range(256)) * 4]


def test_sms_gateway_sip_port(sms_gateway):
    gw = sms_gateway
    gw.still_serves("start")
    for junk in JUNK:
        gw.peer.send(junk)
    gw.still_serves("junk datagrams")

    # A request without Call-ID, CSeq or From is dropped: it cannot be answered
    # (RFC 3261 §8.1.1 makes all three mandatory; STYLE.md 6).
    for header in ("Call-ID", "CSeq", "From"):
        gw.peer.send(_without(_message(f"sip:{PHONE}@{DOMAIN}"), header))
        gw.still_serves(f"a MESSAGE without {header}")

    # 60 KB of text: Kannel is asked to send it (it splits it) or refuses it; an
    # answer either way.
    answer = gw.peer.final(_message(f"sip:{PHONE}@{DOMAIN}", b"x" * 60000))
    assert answer is not None and answer.status >= 200, answer
    gw.still_serves("a 60 KB MESSAGE")

    # Not UTF-8 though it says so: replaced characters, still sent (RFC 3428 §9).
    answer = gw.peer.final(_message(f"sip:{PHONE}@{DOMAIN}", b"\xff\xfe\xc3(\x80",
                                    "text/plain;charset=UTF-8"))
    assert answer is not None and answer.status == 202, answer
    answer = gw.peer.final(_message(f"sip:{PHONE}@{DOMAIN}", b"abc",
                                    "text/plain;charset=no-such-charset"))
    assert answer is not None and answer.status == 202, answer
    gw.still_serves("non-UTF-8 bodies")

    # An INVITE: 405 with Allow (RFC 3261 §21.4.6), no session.
    answer = gw.peer.final(sip_request("INVITE", f"sip:{PHONE}@{DOMAIN}",
                                       headers=["Contact: <sip:a@127.0.0.1:9>"]))
    assert answer is not None and answer.status == 405, answer
    assert answer.header("Allow") == ["MESSAGE, OPTIONS"]
    gw.still_serves("an INVITE")

    # Malformed user parts: not a phone number, 484 Address Incomplete (§21.4.22);
    # an unparsable Request-URI is 400 or dropped, never a crash.
    for ruri in (f"sip:{DOMAIN}", f"sip:+447700900123{DOMAIN}", "sip:+@" + DOMAIN,
                 f"sip:{'9' * 2048}@{DOMAIN}", f"sip:+{'1' * 2048}@{DOMAIN}",
                 f"sip:alice@{DOMAIN}", "tel:", "tel:+", f"tel:+{'5' * 2048}"):
        answer = gw.peer.final(_message(ruri))
        assert answer is None or answer.status in (400, 416, 484), (ruri, answer)
    answer = gw.peer.final(_message(f"sip:{DOMAIN}"))
    assert answer is not None and answer.status == 484, answer
    gw.still_serves("malformed user parts")


def test_sms_gateway_get_url(sms_gateway):
    gw = sms_gateway
    # Missing from/to: 400 (nothing to deliver); unknown number: 404.
    assert gw.get("/mo") == 400
    assert gw.get("/mo?text=hi") == 400
    assert gw.get("/mo?from=%2B4930123&text=hi") == 400
    assert gw.get("/mo?from=%2B4930123&to=%2B4930999&text=hi") == 404
    gw.still_serves("missing parameters")
    # Duplicated: the first of each counts (parse_qs keeps them in order).
    assert gw.get("/mo?from=%2B4930123&from=x&to=%2B4930999&to=%2B4930998&text=a&text=b"
                  "&charset=UTF-8&charset=bogus") == 404
    gw.still_serves("duplicated parameters")
    # Huge: a 60 KB parameter (http.server's request line limit is 64 KiB), a
    # request line past it (414), 5000 parameters, a bogus charset and junk octets.
    assert gw.get("/mo?from=%2B4930123&to=%2B4930999&text=" + "x" * 60000) == 404
    assert gw.get("/mo?from=" + "1" * 70000) == 414
    assert gw.get("/mo?" + "&".join(f"p{i}=v" for i in range(5000))) == 400
    assert gw.get("/mo?from=%2B4930123&to=%2B4930999&text=%FF%FE&charset=x-nope") == 404
    assert gw.get("/mo?from=%00%FF%20%3C&to=%2B4930999") == 404
    gw.still_serves("huge parameters")


def test_sms_gateway_get_url_to_a_known_number(sms_gateway):
    """An SMS for alice's number whose sender is not a SIP user part (spaces, <>, NUL,
    @, CRLF and a header after it, non-ASCII): the MESSAGE reaches alice with the
    sender %-escaped in From (RFC 3261 §25.1), and Kannel hears 200."""
    gw = sms_gateway
    uas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    uas.bind(("127.0.0.1", gw.uas_port))
    uas.settimeout(10)
    try:
        for sender, user in (("a%20b", "a%20b"), ("%3C%3E", "%3C%3E"), ("%00", "%00"),
                             ("x@y", "x%40y"), ("%0D%0AX-Evil:%201", "%0D%0AX-Evil%3A%201"),
                             ("%FF", "%C3%BF"), ("Vodafone", "Vodafone")):
            with ThreadPoolExecutor(1) as pool:
                status = pool.submit(gw.get, f"/mo?from={sender}&to=%2B447700900001&text=hi")
                message, addr = uas.recvfrom(65535)
                head = message.split(b"\r\n\r\n")[0].decode()
                assert f"From: <sip:{user}@{DOMAIN}>" in head, head
                assert "X-Evil" not in head.replace(f"<sip:{user}", "")
                uas.sendto(_ok(head).encode(), addr)
                assert status.result() == 200, sender
    finally:
        uas.close()
    gw.still_serves("senders that are no SIP user")


def _ok(head: str) -> str:
    """200 OK to the request whose start line and headers are `head`."""
    keep = [line for line in head.split("\r\n")[1:]
            if line.split(":")[0].lower() in ("via", "from", "to", "call-id", "cseq")]
    return "\r\n".join(["SIP/2.0 200 OK", *keep, "Content-Length: 0"]) + "\r\n\r\n"
