"""Random event sequences against all four machines (hypothesis).

Whatever the network, the timers and the transport throw at a machine, in any order, it
never raises, it keeps its armed timers in step with its driver (FakeClock checks this
after every call), and once the TU and the peer have done their last duty (a final
response the TU owes, the 487 that a CANCEL brings a ringing INVITE) it ends Terminated
after enough simulated time with no timer left. The TU side is driven only legally;
an illegal TU action is checked to raise LocalProtocolError and to change nothing.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from geosip.sip.errors import LocalProtocolError
from geosip.sip.txn import (
    ClientInvite,
    ClientInviteState,
    ClientNonInvite,
    ServerInvite,
    ServerInviteState,
    ServerNonInvite,
    ServerNonInviteState,
    Terminated,
    TimedOut,
    Timer,
    TimerConfig,
    TransportFailed,
)

from .fakeclock import FakeClock

PROVISIONAL = [100, 180, 183, 199]
NETWORK_STATUSES = [0, 99, 200, 202, 299, 300, 404, 486, 487, 500, 699, 700]
TU_STATUSES = [200, 202, 299, 300, 404, 486, 500, 503, 699]
KINDS = ["client_invite", "client_non_invite", "server_invite", "server_non_invite"]


@st.composite
def configs(draw: st.DrawFn) -> TimerConfig:
    t1 = draw(st.floats(0.05, 2.0))
    return TimerConfig(
        t1=t1,
        t2=t1 * draw(st.floats(1.0, 16.0)),
        t4=draw(st.floats(0.1, 10.0)),
        timer_b=draw(st.none() | st.floats(0.1, 100.0)),
        timer_f=draw(st.none() | st.floats(0.1, 100.0)),
        timer_d=draw(st.floats(0.0, 64.0)),
    )


def steps(kind: str) -> st.SearchStrategy[tuple[str, Any]]:
    """Events that make sense for `kind`; provisionals as likely as all finals together,
    and time mostly in small steps, so that every state is visited and left."""
    common = [
        st.tuples(st.just("advance"), st.floats(0.0, 2.0) | st.floats(0.0, 40.0)),
        st.tuples(st.just("transport_error"), st.none()),
        st.tuples(st.just("transport_down"), st.booleans()),  # every Send fails, or none
        st.tuples(st.just("stale_timer"), st.sampled_from(list(Timer))),
    ]
    if kind.startswith("client"):
        statuses = st.sampled_from(PROVISIONAL) | st.sampled_from(NETWORK_STATUSES)
        return st.one_of(*common, st.tuples(st.just("response"), statuses))
    statuses = st.sampled_from(PROVISIONAL) | st.sampled_from(TU_STATUSES)
    return st.one_of(
        *common,
        st.tuples(st.just("request"), st.booleans()),  # True: an ACK
        st.tuples(st.just("tu"), statuses),
    )


def tu_may_send(machine: Any, status: int) -> bool:
    """The test's own oracle of which TU responses are legal where (RFC 3261/6026)."""
    if isinstance(machine, ServerInvite):
        if machine.state is ServerInviteState.PROCEEDING:
            return True
        return machine.state is ServerInviteState.ACCEPTED and 200 <= status <= 299
    if isinstance(machine, ServerNonInvite):
        return machine.state in (ServerNonInviteState.TRYING, ServerNonInviteState.PROCEEDING)
    return False


def build(kind: str, config: TimerConfig, reliable: bool) -> Any:
    if kind == "client_invite":
        return ClientInvite("INVITE", config=config, reliable=reliable, ack_factory="ACK".__add__)
    if kind == "client_non_invite":
        return ClientNonInvite("MESSAGE", config=config, reliable=reliable)
    if kind == "server_invite":
        return ServerInvite("INVITE", config=config, reliable=reliable, trying_factory=str.lower)
    return ServerNonInvite("MESSAGE", config=config, reliable=reliable)


def apply(clock: FakeClock, step: tuple[str, Any]) -> None:
    machine = clock.machine
    what, arg = step
    client = isinstance(machine, (ClientInvite, ClientNonInvite))
    if what == "advance":
        clock.advance(arg)
    elif what == "response" and client:
        clock.do(machine.on_response, str(arg), arg)
    elif what == "request" and isinstance(machine, ServerInvite):
        clock.do(machine.on_request, "ACK" if arg else "INVITE", arg)
    elif what == "request" and isinstance(machine, ServerNonInvite):
        clock.do(machine.on_request, "MESSAGE")
    elif what == "transport_down":
        clock.transport_down = arg
    elif what == "transport_error":
        clock.do(machine.on_transport_error)
    elif what == "tu" and not client:
        if tu_may_send(machine, arg):
            clock.do(machine.send_response, str(arg), arg)
        else:
            state, timers = machine.state, dict(machine.timers)
            try:
                machine.send_response(str(arg), arg, clock.now)
            except LocalProtocolError:
                pass
            else:
                raise AssertionError(f"{arg} accepted in {state}")
            assert machine.state is state and dict(machine.timers) == timers
    elif what == "stale_timer" and arg not in machine.timers:
        clock.do(machine.on_timer, arg)


def last_duties(clock: FakeClock) -> None:
    """What the TU or the peer must still do for the transaction to end."""
    machine = clock.machine
    if isinstance(machine, ClientInvite) and machine.state is ClientInviteState.PROCEEDING:
        clock.do(machine.on_response, "487", 487)  # the answer to the TU's CANCEL (§9.1)
    elif tu_may_send(machine, 500) and not isinstance(machine, ClientInvite):
        clock.do(machine.send_response, "500", 500)


@settings(max_examples=500, deadline=None)
@given(data=st.data(), kind=st.sampled_from(KINDS), config=configs(), reliable=st.booleans())
def test_random_events_never_raise_and_always_terminate(
    data: st.DataObject, kind: str, config: TimerConfig, reliable: bool
) -> None:
    script = data.draw(st.lists(steps(kind), max_size=30), label="script")
    machine = build(kind, config, reliable)
    clock = FakeClock(machine)
    if hasattr(machine, "start"):
        clock.do(machine.start)
    for step in script:
        apply(clock, step)
    last_duties(clock)
    clock.run(max_firings=5_000)  # E at >= 0.05 s for <= 100 s is the most there can be

    assert machine.terminated
    assert clock.pending == {} and dict(machine.timers) == {}
    signals = [action for _, action in clock.signals()]
    assert signals[-1] == Terminated() and signals.count(Terminated()) == 1
    assert clock.log[-1][1] == Terminated()
    assert signals.count(TimedOut()) <= 1 and signals.count(TransportFailed()) <= 1
    if reliable and isinstance(machine, (ClientInvite, ClientNonInvite)):
        attempts = [at for at, m in clock.sent + clock.failed if m == machine.request]
        assert attempts == [0.0]  # never retransmitted
    # nothing happens to a terminated machine, whatever comes after
    for step in script:
        if step[0] != "tu":
            before = len(clock.log)
            apply(clock, step)
            assert len(clock.log) == before
