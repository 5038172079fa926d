"""The proxy core in-process: the real Core, parser and transaction layer, with a
recording transport (tests/support/callflow.py) instead of sockets. Each case is one
rule of RFC 3261 §16 (proxy behaviour) or §8.2 (answers to bad requests), checked on
what would go out on the wire. sipp covers the same end to end (tests/integration).
"""

from __future__ import annotations

from collections.abc import Iterator

import gevent
import pytest

from geosip.core.context import RequestContext
from geosip.core.core import Core
from geosip.core.router import ProxyRouter
from geosip.core.routing import Myself
from geosip.sip import Request, Response, parse
from geosip.tm.manager import TmConfig
from geosip.transport.base import Endpoint, Inbound, SendError
from tests.support.callflow import INVITE, PROXY, UAC, UAS, Recorder, answer

FAST = TmConfig(t1=0.05, t2=0.2, t4=0.1, wt_timer=0.1, fr_timer=0.4, fr_inv_timer=0.6)
UAS2 = Endpoint("udp", "127.0.0.1", 5090)


class Net:
    """The core and what it sent, per destination."""

    def __init__(self, router: ProxyRouter | None = None) -> None:
        self.out = Recorder()
        self.core = Core(router or ProxyRouter(), Myself(listeners=[PROXY]))
        self.core.tm.configure(FAST)
        self.core.transport = self.out
        self.core.tm.start()

    def deliver(self, data: bytes, source: Endpoint) -> None:
        self.core.on_message(Inbound(data, source, PROXY))
        gevent.sleep(0.01)

    def take(self, dest: Endpoint) -> list[Request | Response]:
        """Messages sent to dest since the last take, parsed."""
        mine = [parse(d) for d, to in self.out.sent if to == dest]
        self.out.sent = [(d, to) for d, to in self.out.sent if to != dest]
        return mine  # type: ignore[return-value]


@pytest.fixture
def net() -> Iterator[Net]:
    net = Net()
    yield net
    net.core.tm.stop()


def statuses(messages: list[Request | Response]) -> list[int | str]:
    return [m.status if isinstance(m, Response) else m.method for m in messages]


def invite(n: int = 1, extra: str = "") -> bytes:
    text = INVITE.format(n=n)
    return text.replace("Max-Forwards: 70\r\n", f"Max-Forwards: 70\r\n{extra}").encode()


def test_bad_request_is_answered_with_its_status(net: Net) -> None:
    data = invite().replace(b"CSeq: 1 INVITE", b"CSeq: 1 OPTIONS")
    net.deliver(data, UAC)
    [reply] = net.take(UAC)
    assert isinstance(reply, Response) and reply.status == 400
    assert reply.call_id == "1-call@127.0.0.1" and reply.to_tag is None
    assert (reply.header("Warning") or "").startswith('399 geosip "CSeq method OPTIONS does not match')
    assert net.core.stats.get("core:bad_msg_hdr") == 1


@pytest.mark.parametrize("data", [b"\x00\x01\x02junk", b"INVITE sip:x SIP/2.0\r\n\r\n",
                                  b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n"])
def test_unaddressable_junk_is_dropped_and_counted(net: Net, data: bytes) -> None:
    net.deliver(data, UAC)
    assert net.out.sent == []
    assert net.core.stats.get("core:bad_msg_hdr") == 1


@pytest.mark.parametrize("change,status", [
    ((b"Max-Forwards: 70", b"Max-Forwards: 0"), 483),            # RFC 3261 §16.3 item 3
    ((b"INVITE sip:service@127.0.0.1:5080", b"INVITE im:service@example.com"), 416),
    ((b"INVITE sip:service@127.0.0.1:5080", b"INVITE sip:alice@127.0.0.1:5060"), 404),
])
def test_requests_the_proxy_refuses(net: Net, change: tuple[bytes, bytes], status: int) -> None:
    net.deliver(invite().replace(*change), UAC)
    assert statuses(net.take(UAC))[-1] == status
    assert net.take(UAS) == []


def test_keepalive_options_to_the_proxy(net: Net) -> None:
    data = (b"OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKka1;rport\r\n"
            b"From: <sip:k@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1:5060>\r\n"
            b"Call-ID: ka1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    net.deliver(data, UAC)
    [reply] = net.take(UAC)
    assert isinstance(reply, Response) and (reply.status, reply.reason) == (200, "Keepalive")
    assert reply.top_via.rport == "5070" and reply.top_via.received == "127.0.0.1"


def test_stateful_relay_record_routes_and_decrements(net: Net) -> None:
    net.deliver(invite(), UAC)
    assert statuses(net.take(UAC)) == [100]
    [out] = net.take(UAS)
    assert isinstance(out, Request)
    assert out.max_forwards == 69
    assert [str(r) for r in out.record_route] == ["<sip:127.0.0.1:5060;lr>"]
    assert out.top_via.host == "127.0.0.1" and out.top_via.port == 5060
    assert out.via[1].branch == "z9hG4bK-1-1"


def test_stateless_forward_both_ways() -> None:
    net = Net(ProxyRouter(stateful=False))
    net.deliver(invite(), UAC)
    assert net.take(UAC) == []  # no 100 Trying without a transaction
    [out] = net.take(UAS)
    assert (out.top_via.branch or "").startswith("z9hG4bKsl")
    net.deliver(invite(), UAC)  # a retransmission gets the same branch (§16.11)
    [again] = net.take(UAS)
    assert again.top_via.branch == out.top_via.branch
    net.deliver(answer(out.to_bytes(), "180 Ringing", 1), UAS)
    [ringing] = net.take(UAC)
    assert isinstance(ringing, Response) and ringing.status == 180
    assert [v.branch for v in ringing.via] == ["z9hG4bK-1-1"]  # our Via popped
    net.core.tm.stop()


def test_cancel_before_the_answer(net: Net) -> None:
    net.deliver(invite(), UAC)
    [forwarded] = net.take(UAS)
    net.deliver(answer(forwarded.to_bytes(), "180 Ringing", 1), UAS)
    assert statuses(net.take(UAC)) == [100, 180]
    cancel = (invite().split(b"\r\n\r\n")[0].replace(b"INVITE sip:", b"CANCEL sip:")
              .replace(b"CSeq: 1 INVITE", b"CSeq: 1 CANCEL")
              .replace(b"Content-Length: 129", b"Content-Length: 0") + b"\r\n\r\n")
    net.deliver(cancel, UAC)
    assert statuses(net.take(UAC)) == [200]  # §16.10: the CANCEL is answered at once
    [downstream_cancel] = net.take(UAS)
    assert isinstance(downstream_cancel, Request) and downstream_cancel.method == "CANCEL"
    assert downstream_cancel.top_via.branch == forwarded.top_via.branch  # §9.1
    net.deliver(answer(downstream_cancel.to_bytes(), "200 OK", 1), UAS)
    net.deliver(answer(forwarded.to_bytes(), "487 Request Terminated", 1), UAS)
    assert statuses(net.take(UAS)) == ["ACK"]  # hop-by-hop ACK for the 487
    assert statuses(net.take(UAC)) == [487]


def test_busy_is_passed_back_and_its_ack_absorbed(net: Net) -> None:
    net.deliver(invite(), UAC)
    [forwarded] = net.take(UAS)
    net.deliver(answer(forwarded.to_bytes(), "486 Busy Here", 1), UAS)
    assert statuses(net.take(UAS)) == ["ACK"]
    [busy] = net.take(UAC)[-1:]
    assert isinstance(busy, Response) and busy.status == 486
    ack = (invite().split(b"\r\n\r\n")[0].replace(b"INVITE sip:", b"ACK sip:")
           .replace(b"CSeq: 1 INVITE", b"CSeq: 1 ACK")
           .replace(b"Content-Length: 129", b"Content-Length: 0") + b"\r\n\r\n")
    net.deliver(ack, UAC)  # same branch as the INVITE: the server transaction absorbs it
    assert net.take(UAS) == []


def test_no_answer_gives_408(net: Net) -> None:
    net.deliver(invite(), UAC)
    gevent.sleep(0.7)  # fr_timer 0.4 s
    retransmitted = net.take(UAS)
    assert len(retransmitted) > 2 and statuses(retransmitted)[0] == "INVITE"  # Timer A
    assert statuses(net.take(UAC))[-1] == 408


def test_ringing_too_long_is_cancelled_with_408(net: Net) -> None:
    net.deliver(invite(), UAC)
    [forwarded] = net.take(UAS)
    net.deliver(answer(forwarded.to_bytes(), "180 Ringing", 1), UAS)
    gevent.sleep(0.8)  # fr_inv_timer 0.6 s
    assert "CANCEL" in statuses(net.take(UAS))
    assert statuses(net.take(UAC))[-1] == 408


def test_transport_failure_gives_500(net: Net) -> None:
    def refuse(data: bytes, dest: Endpoint, **kw: object) -> None:
        if dest == UAS:
            raise SendError("connection refused")
        net.out.sent.append((data, dest))

    net.out.send = refuse  # type: ignore[method-assign]
    net.deliver(invite(), UAC)
    # RFC 3261 §16.7 step 6: the local 503 goes upstream as 500
    assert statuses(net.take(UAC)) == [100, 500]


class ForkRouter(ProxyRouter):
    def request(self, ctx: RequestContext) -> None:
        ctx.append_branch("sip:other@127.0.0.1:5090")
        super().request(ctx)


def test_parallel_fork_200_cancels_the_other() -> None:
    net = Net(ForkRouter())
    net.deliver(invite(), UAC)
    [to_a], [to_b] = net.take(UAS), net.take(UAS2)
    net.deliver(answer(to_b.to_bytes(), "180 Ringing", 1), UAS2)
    net.deliver(answer(to_a.to_bytes(), "200 OK", 1), UAS)
    assert statuses(net.take(UAC)) == [100, 180, 200]
    assert statuses(net.take(UAS2)) == ["CANCEL"]  # §16.7 step 10
    net.core.tm.stop()


@pytest.mark.parametrize("a,b,upstream", [
    ("486 Busy Here", "404 Not Found", 404),        # lowest 4xx wins
    ("503 Service Unavailable", "500 Oops", 500),   # 503 is never passed on
    ("401 Unauthorized", "404 Not Found", 401),     # a challenge is worth retrying
])
def test_best_response(a: str, b: str, upstream: int) -> None:
    net = Net(ForkRouter())
    net.deliver(invite(), UAC)
    [to_a], [to_b] = net.take(UAS), net.take(UAS2)
    net.deliver(answer(to_b.to_bytes(), b, 1), UAS2)
    net.deliver(answer(to_a.to_bytes(), a, 1), UAS)
    assert statuses(net.take(UAC))[-1] == upstream
    net.core.tm.stop()


def test_6xx_cancels_the_others_then_wins() -> None:
    """RFC 3261 §16.7 step 5: a 6xx is held back while the other branches are
    cancelled; it is chosen once they have all answered."""
    net = Net(ForkRouter())
    net.deliver(invite(), UAC)
    [to_a], [to_b] = net.take(UAS), net.take(UAS2)
    net.deliver(answer(to_b.to_bytes(), "180 Ringing", 1), UAS2)
    net.deliver(answer(to_a.to_bytes(), "603 Decline", 1), UAS)
    [cancel] = net.take(UAS2)
    assert isinstance(cancel, Request) and cancel.method == "CANCEL"
    assert statuses(net.take(UAC)) == [100, 180]
    net.deliver(answer(to_b.to_bytes(), "487 Request Terminated", 1), UAS2)
    assert statuses(net.take(UAC)) == [603]
    net.core.tm.stop()


class FailoverRouter(ProxyRouter):
    """Serial forking: on failure, try sip:other@127.0.0.1:5090 (Kamailio's
    t_on_failure + t_relay in failure_route)."""

    def request(self, ctx: RequestContext) -> None:
        ctx.failure_handler = self.next_destination
        super().request(ctx)

    @staticmethod
    def next_destination(ctx: RequestContext, best: Response) -> None:
        if best.status >= 500 or best.status == 408:
            ctx.msg.uri = "sip:other@127.0.0.1:5090"
            ctx.relay()


def test_failure_handler_forks_serially() -> None:
    net = Net(FailoverRouter())
    net.deliver(invite(), UAC)
    [to_a] = net.take(UAS)
    net.deliver(answer(to_a.to_bytes(), "503 Service Unavailable", 1), UAS)
    assert statuses(net.take(UAS)) == ["ACK"]
    [to_b] = net.take(UAS2)
    assert isinstance(to_b, Request) and to_b.uri_text == "sip:other@127.0.0.1:5090"
    net.deliver(answer(to_b.to_bytes(), "200 OK", 1), UAS2)
    assert statuses(net.take(UAC)) == [100, 200]  # the 503 never reached the caller
    net.core.tm.stop()
