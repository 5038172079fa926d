"""Hostile load: 10,000 junk datagrams and 500 idle TCP connections leave the layer
delivering valid messages, and the idle connections are closed by first_message_timeout
(DESIGN.md, Bad input). Loopback only, bounded in count and time."""

from __future__ import annotations

import random
import resource

import gevent
import pytest
from gevent import socket

from .conftest import Recorder, closed_by_peer, connect, sip

JUNK_DATAGRAMS = 10_000
IDLE_CONNECTIONS = 500


class SipOnly(Recorder):
    """Stands in for the core: junk is dropped (and counted), SIP is queued."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def __call__(self, inbound) -> None:
        if inbound.data.startswith(b"OPTIONS sip:"):
            super().__call__(inbound)
        else:
            self.dropped += 1


def _junk(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 1400))
    if kind == 1:
        return b"\x00\x01" + rng.randbytes(18)  # STUN-like
    if kind == 2:
        return sip(0)[:rng.randrange(1, 60)].replace(b"OPTIONS", b"OPTIONZ")
    return b"\r\n" * rng.randrange(1, 4)


def _need_descriptors(count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count:
        if hard != resource.RLIM_INFINITY and hard < count:
            pytest.skip(f"needs {count} file descriptors, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, hard))


def test_junk_flood_and_idle_connections(make_server) -> None:
    _need_descriptors(4 * IDLE_CONNECTIONS)
    inbox = SipOnly()
    server = make_server(on_message=inbox, first_message_timeout=1.5)
    udp = server.listen("udp").local
    tcp = server.listen("tcp")

    def flood() -> None:
        rng = random.Random(7)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for i in range(JUNK_DATAGRAMS):
                sender.sendto(_junk(rng), (udp.host, udp.port))
                if i % 50 == 0:
                    gevent.sleep(0)  # let the reader drain, as a real network would

    def open_idle() -> list[socket.socket]:
        return [connect(tcp) for _ in range(IDLE_CONNECTIONS)]

    flooding, opening = gevent.spawn(flood), gevent.spawn(open_idle)
    gevent.joinall([flooding, opening], raise_error=True, timeout=20)
    idle = opening.value
    try:
        gevent.sleep(0.1)
        assert server.layer.connection_count() == IDLE_CONNECTIONS
        stats = server.layer.stats
        assert stats["udp_datagrams"] + stats["stun_ignored"] + stats["keepalives"] > 0.5 * JUNK_DATAGRAMS

        # A valid request over UDP, retransmitted like Timer A (RFC 3261 §17.1.1.2).
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
            for _ in range(5):
                phone.sendto(sip(1), (udp.host, udp.port))
                if not inbox.nothing(0.2):
                    break
            else:
                pytest.fail("valid UDP request not delivered after the flood")
        # A valid request over a new TCP connection, beside the 500 idle ones.
        with connect(tcp) as caller:
            caller.sendall(sip(2))
            assert inbox.get().data == sip(2)
            # The idle ones go at first_message_timeout; the active one stays.
            assert all(closed_by_peer(s, timeout=3) for s in idle)
            gevent.sleep(0.1)
            assert server.layer.connection_count() == 1
            caller.sendall(sip(3))
            assert inbox.get().data == sip(3)
    finally:
        for s in idle:
            s.close()
    assert inbox.dropped > 0
