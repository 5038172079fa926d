"""gateways/sipua.py: the gateways' asyncio SIP UA, two of them on loopback (RFC 3261
§17.1.2 / §17.2.2 through geosip.sip.txn), and a raw socket playing a lossy peer."""

from __future__ import annotations

import asyncio
import socket

from geosip.gateways.sipua import SipUA
from geosip.sip.outgoing import new_request
from geosip.sip import Request, parse
from geosip.sip.txn import TimerConfig

FAST = TimerConfig(t1=0.02, t2=0.08, t4=0.08)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_message_round_trip_gets_the_handlers_final():
    seen: list[Request] = []

    async def handler(request, addr):
        seen.append(request)
        return request.make_response(202)

    async def main():
        server = SipUA("127.0.0.1", 0, handler=handler, timers=FAST)
        await server.start()
        client = SipUA("127.0.0.1", 0, proxy=("127.0.0.1", server.port), timers=FAST)
        await client.start()
        req = new_request("MESSAGE", "sip:+447700900123@sms.example.com",
                          "sip:alice@example.com", body="hé".encode(),
                          content_type="text/plain;charset=UTF-8")
        resp = await client.request(req)
        client.close()
        server.close()
        return resp

    resp = run(main())
    assert resp.status == 202
    assert resp.to_tag  # RFC 3261 §8.2.6.2: the UAS adds a To tag
    assert len(seen) == 1
    got = seen[0]
    assert got.method == "MESSAGE" and got.body == "hé".encode()
    assert got.content_type == "text/plain;charset=UTF-8"
    assert got.top_via.branch.startswith("z9hG4bK") and got.top_via.rport == ""


def test_no_answer_is_a_local_408_after_retransmissions():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.setblocking(False)

        async def main():
            ua = SipUA("127.0.0.1", 0, proxy=sink.getsockname(),
                       timers=TimerConfig(t1=0.02, t2=0.08, timer_f=0.3))
            await ua.start()
            resp = await ua.request(new_request("MESSAGE", "sip:bob@example.com",
                                                "sip:gw@example.com", body=b"x",
                                                content_type="text/plain"))
            ua.close()
            return resp

        resp = run(main())
        copies = []
        while True:
            try:
                copies.append(sink.recv(65535))
            except BlockingIOError:
                break
    assert resp.status == 408
    assert len(copies) >= 3  # Timer E resent it (§17.1.2.2)
    assert len(set(copies)) == 1


def test_retransmitted_request_runs_the_handler_once_and_gets_the_final_again():
    calls = []

    async def handler(request, addr):
        calls.append(request.call_id)
        await asyncio.sleep(0.05)  # the SMSC is slow; retransmissions arrive meanwhile
        return request.make_response(202)

    async def main():
        ua = SipUA("127.0.0.1", 0, handler=handler, timers=FAST)
        await ua.start()
        loop = asyncio.get_running_loop()
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        wire = (b"MESSAGE sip:+4930123@sms.example.com SIP/2.0\r\n"
                b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-retx-1\r\n"
                b"From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:+4930123@sms.example.com>\r\n"
                b"Call-ID: retx-1\r\nCSeq: 7 MESSAGE\r\nMax-Forwards: 70\r\n"
                b"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi")
        for _ in range(3):
            peer.sendto(wire, ("127.0.0.1", ua.port))
            await asyncio.sleep(0.01)
        first = parse(await loop.sock_recv(peer, 65535))
        peer.sendto(wire, ("127.0.0.1", ua.port))  # after the final: answered again
        again = parse(await loop.sock_recv(peer, 65535))
        peer.close()
        ua.close()
        return first, again

    first, again = run(main())
    assert calls == ["retx-1"]
    assert first.status == 202 and again.status == 202
    assert first.to_tag == again.to_tag


def test_invite_is_refused_405():
    async def main():
        ua = SipUA("127.0.0.1", 0, timers=FAST)
        await ua.start()
        loop = asyncio.get_running_loop()
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        peer.sendto(b"INVITE sip:gw@127.0.0.1 SIP/2.0\r\n"
                    b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-inv-1\r\n"
                    b"From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:gw@127.0.0.1>\r\n"
                    b"Call-ID: inv-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                    ("127.0.0.1", ua.port))
        resp = parse(await loop.sock_recv(peer, 65535))
        peer.close()
        ua.close()
        return resp

    resp = run(main())
    assert resp.status == 405 and "MESSAGE" in resp.header("Allow")
