"""INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1, §8.5-§8.7) on a fake clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from geosip.sip.errors import LocalProtocolError
from geosip.sip.txn import (
    CancelTimer,
    Send,
    ServerInvite,
    ServerInviteState,
    StartTimer,
    Terminated,
    TimedOut,
    Timer,
    TimerConfig,
    ToTU,
    TransportFailed,
)

from .fakeclock import FakeClock

S = ServerInviteState
G, H, I, L = Timer.TIMER_G, Timer.TIMER_H, Timer.TIMER_I, Timer.TIMER_L


def trying_for(request: str) -> str:
    return f"100/{request}"


def started(
    config: TimerConfig | None = None, reliable: bool = False, trying: bool = True
) -> tuple[ServerInvite[str], FakeClock]:
    machine = ServerInvite(
        "INVITE",
        config=config or TimerConfig(),
        reliable=reliable,
        trying_factory=trying_for if trying else None,
    )
    clock = FakeClock(machine)
    clock.do(machine.start)
    return machine, clock


def test_start_sends_100_trying_only_with_a_factory() -> None:
    with_factory, clock = started()
    assert clock.log == [(0.0, Send("100/INVITE"))]
    without, clock = started(trying=False)
    assert clock.log == []
    assert with_factory.state is without.state is S.PROCEEDING


# trying factory?, provisionals from the TU, what a retransmitted INVITE gets (§17.2.1)
RETRANSMISSIONS_IN_PROCEEDING = [
    (False, [], []),
    (True, [], [Send("100/INVITE")]),
    (False, ["180"], [Send("180")]),
    (True, ["180"], [Send("180")]),
    (True, ["180", "183"], [Send("183")]),
    (False, ["100", "180", "181"], [Send("181")]),
]


@pytest.mark.parametrize(("trying", "provisionals", "expected"), RETRANSMISSIONS_IN_PROCEEDING)
def test_retransmitted_invite_in_proceeding_resends_latest_provisional(
    trying: bool, provisionals: list[str], expected: list[object]
) -> None:
    machine, clock = started(trying=trying)
    for response in provisionals:
        assert clock.do(machine.send_response, response, int(response)) == [Send(response)]
    assert clock.do(machine.on_request, "INVITE", False) == expected
    assert clock.do(machine.on_request, "ACK", True) == []  # no final yet: absorbed
    assert machine.state is S.PROCEEDING and clock.to_tu == []


# config, send times of the final, Timer H: §17.2.1, G doubles up to T2, H ends it.
SCHEDULES = [
    (TimerConfig(), [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5], 32.0),
    (TimerConfig(t1=1.0, t2=2.0), [float(t) for t in [0, 1, 3, *range(5, 64, 2)]], 64.0),
    (TimerConfig(t2=16.0), [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5], 32.0),
]


@pytest.mark.parametrize(("config", "sends", "timer_h"), SCHEDULES)
def test_timer_g_retransmits_final_until_timer_h(
    config: TimerConfig, sends: list[float], timer_h: float
) -> None:
    machine, clock = started(config, trying=False)
    actions = clock.do(machine.send_response, "486", 486)
    assert actions == [Send("486"), StartTimer(G, config.t1), StartTimer(H, timer_h)]
    assert machine.state is S.COMPLETED
    clock.run()
    assert clock.send_times("486") == sends
    # §17.2.1: H means the ACK never came; the TU is told (the 408 case).
    assert clock.signals() == [(timer_h, TimedOut()), (timer_h, Terminated())]


def test_completed_answers_retransmitted_invite_with_the_final() -> None:
    machine, clock = started()
    clock.do(machine.send_response, "180", 180)
    clock.do(machine.send_response, "404", 404)
    clock.advance(0.2)
    assert clock.do(machine.on_request, "INVITE", False) == [Send("404")]


def test_ack_confirms_and_timer_i_ends() -> None:
    machine, clock = started()
    clock.do(machine.send_response, "486", 486)
    clock.advance(2.0)  # G fired at 0.5 and 1.5
    actions = clock.do(machine.on_request, "ACK", True)
    assert actions == [CancelTimer(G), CancelTimer(H), StartTimer(I, 5.0)]
    assert machine.state is S.CONFIRMED
    # Confirmed absorbs ACK and INVITE retransmissions; the ACK never goes to the TU.
    assert clock.do(machine.on_request, "ACK", True) == []
    assert clock.do(machine.on_request, "INVITE", False) == []
    clock.run()
    assert clock.signals() == [(7.0, Terminated())]
    assert clock.send_times("486") == [0.0, 0.5, 1.5] and clock.to_tu == []


def test_reliable_transport_no_timer_g_and_ack_ends_at_once() -> None:
    machine, clock = started(reliable=True)
    assert clock.do(machine.send_response, "603", 603) == [Send("603"), StartTimer(H, 32.0)]
    assert clock.do(machine.on_request, "ACK", True) == [CancelTimer(H), Terminated()]


def test_reliable_transport_timer_h_still_runs() -> None:
    machine, clock = started(reliable=True)
    clock.do(machine.send_response, "603", 603)
    clock.run()
    assert clock.send_times("603") == [0.0]
    assert clock.signals() == [(32.0, TimedOut()), (32.0, Terminated())]


@pytest.mark.parametrize("reliable", [False, True])
def test_2xx_from_tu_moves_to_accepted_with_timer_l(reliable: bool) -> None:
    machine, clock = started(reliable=reliable)
    clock.do(machine.send_response, "180", 180)
    clock.advance(1.0)
    assert clock.do(machine.send_response, "200", 200) == [Send("200"), StartTimer(L, 32.0)]
    assert machine.state is S.ACCEPTED
    # RFC 6026 §8.7: the TU's 2xx retransmissions pass through, INVITEs are absorbed,
    # and ACKs go up to the TU.
    clock.advance(0.5)
    assert clock.do(machine.send_response, "200", 200) == [Send("200")]
    assert clock.do(machine.on_request, "INVITE", False) == []
    assert clock.do(machine.on_request, "ACK", True) == [ToTU("ACK")]
    assert machine.state is S.ACCEPTED
    clock.run()
    assert clock.signals() == [(33.0, Terminated())]
    assert clock.send_times("200") == [1.0, 1.5]  # never retransmitted by the machine


Setup = Callable[[ServerInvite[str], FakeClock], None]


def _to_proceeding(machine: ServerInvite[str], clock: FakeClock) -> None:
    pass


def _to_completed(machine: ServerInvite[str], clock: FakeClock) -> None:
    clock.do(machine.send_response, "486", 486)


def _to_confirmed(machine: ServerInvite[str], clock: FakeClock) -> None:
    clock.do(machine.send_response, "486", 486)
    clock.do(machine.on_request, "ACK", True)


def _to_accepted(machine: ServerInvite[str], clock: FakeClock) -> None:
    clock.do(machine.send_response, "200", 200)


def _to_terminated(machine: ServerInvite[str], clock: FakeClock) -> None:
    clock.do(machine.send_response, "200", 200)
    clock.run()


# how to get there, the state, the statuses the TU may still send there
ALL_STATUSES = [100, 180, 199, 200, 202, 299, 300, 486, 699]
TU_LEGALITY = [
    (_to_proceeding, S.PROCEEDING, ALL_STATUSES),
    (_to_completed, S.COMPLETED, []),
    (_to_confirmed, S.CONFIRMED, []),
    (_to_accepted, S.ACCEPTED, [200, 202, 299]),
    (_to_terminated, S.TERMINATED, []),
]


@pytest.mark.parametrize(("setup", "state", "allowed"), TU_LEGALITY)
@pytest.mark.parametrize("status", ALL_STATUSES)
def test_tu_responses_allowed_or_raise(
    setup: Setup, state: ServerInviteState, allowed: list[int], status: int
) -> None:
    machine, clock = started()
    setup(machine, clock)
    assert machine.state is state
    if status in allowed:
        assert Send(str(status)) in machine.send_response(str(status), status, clock.now)
    else:
        timers = dict(machine.timers)
        with pytest.raises(LocalProtocolError):
            machine.send_response(str(status), status, clock.now)
        assert machine.state is state and dict(machine.timers) == timers


@pytest.mark.parametrize("status", [0, 99, 700, 1000])
def test_tu_status_outside_100_699_raises(status: int) -> None:
    machine, _ = started()
    with pytest.raises(LocalProtocolError):
        machine.send_response("bad", status, 0.0)


# how to get there, the state, actions on a transport error. RFC 6026 Figure 7: the TU is
# told once and the transaction stays, to keep absorbing retransmitted INVITEs.
TRANSPORT_ERRORS = [
    (_to_proceeding, S.PROCEEDING, [TransportFailed()]),
    (_to_completed, S.COMPLETED, [TransportFailed()]),
    (_to_confirmed, S.CONFIRMED, []),
    (_to_accepted, S.ACCEPTED, [TransportFailed()]),
]


@pytest.mark.parametrize(("setup", "state", "expected"), TRANSPORT_ERRORS)
def test_transport_error(setup: Setup, state: ServerInviteState, expected: list[object]) -> None:
    machine, clock = started()
    setup(machine, clock)
    assert clock.do(machine.on_transport_error) == expected
    assert clock.do(machine.on_transport_error) == []  # told once
    assert machine.state is state
    if state is S.PROCEEDING:
        clock.do(machine.send_response, "500", 500)  # the TU still owes its final
    clock.run()  # the state's own timer ends it
    assert machine.terminated


def test_transport_error_in_proceeding_then_the_tus_final_still_goes_out() -> None:
    machine, clock = started()
    clock.do(machine.on_transport_error)
    assert clock.do(machine.send_response, "500", 500)[0] == Send("500")
    clock.run()
    assert [a for _, a in clock.signals()] == [TransportFailed(), TimedOut(), Terminated()]


def test_start_twice_and_events_before_start_raise() -> None:
    machine = ServerInvite("INVITE", config=TimerConfig(), reliable=False)
    with pytest.raises(LocalProtocolError):
        machine.send_response("180", 180, 0.0)
    with pytest.raises(LocalProtocolError):
        machine.on_request("INVITE", False, 0.0)
    assert machine.start(0.0) == []
    with pytest.raises(LocalProtocolError):
        machine.start(0.0)


def test_network_events_absorbed_once_terminated() -> None:
    machine, clock = started(reliable=True)
    _to_confirmed(machine, clock)
    assert machine.terminated
    assert machine.on_request("INVITE", False, 1.0) == []
    assert machine.on_request("ACK", True, 1.0) == []
    assert machine.on_timer(H, 32.0) == []
    assert machine.on_transport_error(1.0) == []


def test_failed_retransmissions_are_reported_once_and_timer_h_still_ends_it() -> None:
    machine, clock = started()
    clock.do(machine.send_response, "486", 486)
    clock.advance(1.0)
    clock.transport_down = True
    clock.run()
    assert clock.send_times("486") == [0.0, 0.5]
    assert len(clock.failed) == 9  # 1.5, 3.5, 7.5, ... 31.5
    assert clock.signals() == [(1.5, TransportFailed()), (32.0, TimedOut()), (32.0, Terminated())]
