"""Non-INVITE server transaction (RFC 3261 §17.2.2) on a fake clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from geosip.sip.errors import LocalProtocolError
from geosip.sip.txn import (
    CancelTimer,
    Send,
    ServerNonInvite,
    ServerNonInviteState,
    StartTimer,
    Terminated,
    Timer,
    TimerConfig,
    TransportFailed,
)

from .fakeclock import FakeClock

S = ServerNonInviteState
J = Timer.TIMER_J


def created(
    config: TimerConfig | None = None, reliable: bool = False
) -> tuple[ServerNonInvite[str], FakeClock]:
    machine = ServerNonInvite("REGISTER", config=config or TimerConfig(), reliable=reliable)
    return machine, FakeClock(machine)


def test_trying_discards_retransmissions() -> None:
    machine, clock = created()
    assert machine.state is S.TRYING and machine.timers == {}
    assert clock.do(machine.on_request, "REGISTER") == []
    assert machine.state is S.TRYING


def test_trying_proceeding_completed_and_timer_j() -> None:
    machine, clock = created()
    assert clock.do(machine.send_response, "100", 100) == [Send("100")]
    assert machine.state is S.PROCEEDING
    assert clock.do(machine.on_request, "REGISTER") == [Send("100")]
    clock.advance(1.0)
    assert clock.do(machine.send_response, "183", 183) == [Send("183")]
    assert clock.do(machine.on_request, "REGISTER") == [Send("183")]
    clock.advance(1.0)
    assert clock.do(machine.send_response, "200", 200) == [Send("200"), StartTimer(J, 32.0)]
    assert clock.machine.state is S.COMPLETED  # (via the clock: mypy narrowed machine.state)
    clock.advance(4.0)
    assert clock.do(machine.on_request, "REGISTER") == [Send("200")]
    clock.run()
    assert clock.signals() == [(34.0, Terminated())]
    assert clock.to_tu == []


# status, timer config, when Timer J ends it (final sent at 0)
FINALS_FROM_TRYING = [
    (200, TimerConfig(), 32.0),
    (202, TimerConfig(t1=1.0), 64.0),
    (401, TimerConfig(), 32.0),
    (404, TimerConfig(t1=0.25), 16.0),
    (699, TimerConfig(), 32.0),
]


@pytest.mark.parametrize(("status", "config", "timer_j"), FINALS_FROM_TRYING)
def test_final_straight_from_trying(status: int, config: TimerConfig, timer_j: float) -> None:
    machine, clock = created(config)
    final = str(status)
    assert clock.do(machine.send_response, final, status) == [Send(final), StartTimer(J, timer_j)]
    clock.run()
    assert clock.signals() == [(timer_j, Terminated())]
    assert clock.send_times() == [0.0]  # the server never retransmits on its own


def test_reliable_timer_j_is_zero() -> None:
    machine, clock = created(reliable=True)
    clock.do(machine.send_response, "100", 100)
    assert clock.do(machine.send_response, "200", 200) == [Send("200"), Terminated()]


Setup = Callable[[ServerNonInvite[str], FakeClock], None]


def _to_trying(machine: ServerNonInvite[str], clock: FakeClock) -> None:
    pass


def _to_proceeding(machine: ServerNonInvite[str], clock: FakeClock) -> None:
    clock.do(machine.send_response, "100", 100)


def _to_completed(machine: ServerNonInvite[str], clock: FakeClock) -> None:
    clock.do(machine.send_response, "200", 200)


def _to_terminated(machine: ServerNonInvite[str], clock: FakeClock) -> None:
    clock.do(machine.send_response, "200", 200)
    clock.run()


# how to get there, the state, actions on a transport error (Figure 8).
TRANSPORT_ERRORS = [
    (_to_trying, S.TRYING, []),  # nothing sent yet: absorbed
    (_to_proceeding, S.PROCEEDING, [TransportFailed(), Terminated()]),
    (_to_completed, S.COMPLETED, [CancelTimer(J), TransportFailed(), Terminated()]),
    (_to_terminated, S.TERMINATED, []),
]


@pytest.mark.parametrize(("setup", "state", "expected"), TRANSPORT_ERRORS)
def test_transport_error(
    setup: Setup, state: ServerNonInviteState, expected: list[object]
) -> None:
    machine, clock = created()
    setup(machine, clock)
    assert machine.state is state
    assert clock.do(machine.on_transport_error) == expected


# how to get there, may the TU still respond?
TU_LEGALITY = [
    (_to_trying, True),
    (_to_proceeding, True),
    (_to_completed, False),  # §17.2.2 discards further finals: we tell the TU it erred
    (_to_terminated, False),
]


@pytest.mark.parametrize(("setup", "allowed"), TU_LEGALITY)
@pytest.mark.parametrize("status", [100, 180, 200, 404, 699])
def test_tu_responses_allowed_or_raise(setup: Setup, allowed: bool, status: int) -> None:
    machine, clock = created()
    setup(machine, clock)
    if allowed:
        assert machine.send_response(str(status), status, clock.now)[0] == Send(str(status))
    else:
        state, timers = machine.state, dict(machine.timers)
        with pytest.raises(LocalProtocolError):
            machine.send_response(str(status), status, clock.now)
        assert machine.state is state and dict(machine.timers) == timers


@pytest.mark.parametrize("status", [0, 99, 700])
def test_tu_status_outside_100_699_raises(status: int) -> None:
    machine, _ = created()
    with pytest.raises(LocalProtocolError):
        machine.send_response("bad", status, 0.0)


def test_stale_timer_and_events_after_termination_are_absorbed() -> None:
    machine, clock = created()
    assert machine.on_timer(J, 0.0) == []  # never armed
    _to_terminated(machine, clock)
    assert machine.on_request("REGISTER", 99.0) == []
    assert machine.on_timer(J, 99.0) == []


def test_failed_provisional_ends_the_transaction_and_the_tu_may_not_answer() -> None:
    machine, clock = created()
    clock.transport_down = True
    clock.do(machine.send_response, "100", 100)
    assert [action for _, action in clock.log] == [Send("100"), TransportFailed(), Terminated()]
    with pytest.raises(LocalProtocolError):
        machine.send_response("200", 200, clock.now)
