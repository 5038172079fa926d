"""Transactions end and leave nothing behind (issue 3: "no state leaks after it ends").

The real Core (parser, tm, router) proxies whole calls in-process through a recording
transport (tests/support/callflow.py). After the wait timers, the live transaction
count is 0, the scheduler holds nothing, and no Cell or message survives: with the
cyclic GC switched off, this also proves that finished transactions are freed by
reference counting, not left for the GC to find.
"""

from __future__ import annotations

import gc

import gevent

from geosip.sip import Request, Response
from geosip.tm.cell import Cell
from geosip.tm.manager import TmConfig
from tests.support.callflow import UAC, UAS, make_core, one_call

# Short timers so the test waits well under a second for every wait state to end.
FAST = TmConfig(t1=0.05, t2=0.2, t4=0.1, wt_timer=0.1)


def _count(kind: type) -> int:
    return sum(1 for obj in gc.get_objects() if type(obj) is kind)


def test_calls_end_and_free_everything() -> None:
    core, out = make_core(FAST)
    gc.collect()
    gc.disable()
    try:
        baseline = (_count(Cell), _count(Request), _count(Response))
        for n in range(300):
            one_call(core, out, n)
        assert core.tm.live() > 0  # finished calls wait out their retransmission timers
        gevent.sleep(0.6)
        assert core.tm.live() == 0
        assert core.tm.scheduler.pending() == 0
        assert (_count(Cell), _count(Request), _count(Response)) == baseline
    finally:
        gc.enable()
        core.tm.stop()


def test_call_flow_on_the_wire() -> None:
    """What the recording transport saw for one call: the proxy's messages in order."""
    core, out = make_core(FAST)
    seen: list[tuple[str, str]] = []
    record = out.send

    def send(data: bytes, dest, **kw) -> None:  # type: ignore[no-untyped-def]
        seen.append((data.split(b"\r\n", 1)[0].decode(), "uas" if dest == UAS else "uac"))
        record(data, dest, **kw)

    out.send = send  # type: ignore[method-assign]
    one_call(core, out, 1)
    assert seen == [
        ("SIP/2.0 100 Trying", "uac"),
        ("INVITE sip:service@127.0.0.1:5080 SIP/2.0", "uas"),
        ("SIP/2.0 180 Ringing", "uac"),
        ("SIP/2.0 200 OK", "uac"),
        ("ACK sip:service@127.0.0.1:5080 SIP/2.0", "uas"),
        ("BYE sip:service@127.0.0.1:5080 SIP/2.0", "uas"),
        ("SIP/2.0 200 OK", "uac"),
    ]
    assert UAC != UAS
    core.tm.stop()
