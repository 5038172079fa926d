"""INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §8.4) on a fake clock.

Messages are plain strings: the machine never looks into them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from geosip.sip.errors import LocalProtocolError
from geosip.sip.txn import (
    CancelTimer,
    ClientInvite,
    ClientInviteState,
    Send,
    StartTimer,
    Terminated,
    TimedOut,
    Timer,
    TimerConfig,
    ToTU,
    TransportFailed,
)

from .fakeclock import FakeClock

S = ClientInviteState
A, B, D, M = Timer.TIMER_A, Timer.TIMER_B, Timer.TIMER_D, Timer.TIMER_M


def ack_for(response: str) -> str:
    return f"ACK/{response}"


def started(
    config: TimerConfig | None = None, reliable: bool = False
) -> tuple[ClientInvite[str], FakeClock]:
    machine = ClientInvite(
        "INVITE", config=config or TimerConfig(), reliable=reliable, ack_factory=ack_for
    )
    clock = FakeClock(machine)
    clock.do(machine.start)
    return machine, clock


# config, send times, Timer B: §17.1.1.2, A doubles with no cap until B.
SCHEDULES = [
    (TimerConfig(), [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5], 32.0),
    (TimerConfig(t1=1.0), [0.0, 1.0, 3.0, 7.0, 15.0, 31.0, 63.0], 64.0),
    (TimerConfig(timer_b=10.0), [0.0, 0.5, 1.5, 3.5, 7.5], 10.0),
    (TimerConfig(t1=0.25, t2=1.0), [0.0, 0.25, 0.75, 1.75, 3.75, 7.75, 15.75], 16.0),
]


@pytest.mark.parametrize(("config", "sends", "timer_b"), SCHEDULES)
def test_timer_a_retransmits_until_timer_b(
    config: TimerConfig, sends: list[float], timer_b: float
) -> None:
    machine, clock = started(config)
    clock.run()
    assert clock.send_times("INVITE") == sends
    assert clock.signals() == [(timer_b, TimedOut()), (timer_b, Terminated())]
    assert machine.terminated and machine.state is S.TERMINATED
    assert clock.to_tu == []


def test_start_actions() -> None:
    machine = ClientInvite("INVITE", config=TimerConfig(), reliable=False, ack_factory=ack_for)
    assert machine.start(0.0) == [Send("INVITE"), StartTimer(A, 0.5), StartTimer(B, 32.0)]
    assert machine.state is S.CALLING


def test_reliable_transport_sends_once_and_times_out_on_b() -> None:
    machine, clock = started(reliable=True)
    assert clock.log == [(0.0, Send("INVITE")), (0.0, StartTimer(B, 32.0))]
    clock.run()
    assert clock.send_times() == [0.0]
    assert clock.signals() == [(32.0, TimedOut()), (32.0, Terminated())]


def test_provisional_stops_timer_a_but_not_b() -> None:
    machine, clock = started()
    clock.advance(1.0)  # sends at 0 and 0.5
    assert clock.do(machine.on_response, "180", 180) == [CancelTimer(A), ToTU("180")]
    assert machine.state is S.PROCEEDING
    assert clock.timers() == {B: 32.0}
    assert clock.do(machine.on_response, "183", 183) == [ToTU("183")]
    # Timer B fires in Proceeding and is absorbed (Figure 5 acts on it only in Calling);
    # the INVITE is never resent, and the transaction waits for the final.
    clock.advance(200.0)
    assert clock.send_times() == [0.0, 0.5]
    assert machine.state is S.PROCEEDING and clock.signals() == []
    clock.do(machine.on_response, "487", 487)
    assert clock.machine.state is S.COMPLETED  # (via the clock: mypy narrowed machine.state)


@pytest.mark.parametrize("provisional_first", [False, True])
def test_2xx_moves_to_accepted_with_timer_m(provisional_first: bool) -> None:
    machine, clock = started()
    clock.advance(0.7)
    if provisional_first:
        clock.do(machine.on_response, "180", 180)
        cancels = [CancelTimer(B)]
    else:
        cancels = [CancelTimer(A), CancelTimer(B)]
    actions = clock.do(machine.on_response, "200", 200)
    assert actions == [*cancels, ToTU("200"), StartTimer(M, 32.0)]
    assert machine.state is S.ACCEPTED
    # RFC 6026 §8.4: retransmitted 2xx and other forks' 2xx go up; the TU ACKs them.
    clock.advance(1.0)
    assert clock.do(machine.on_response, "200", 200) == [ToTU("200")]
    assert clock.do(machine.on_response, "200-fork2", 200) == [ToTU("200-fork2")]
    assert clock.do(machine.on_response, "180", 180) == []
    assert clock.do(machine.on_response, "486", 486) == []
    clock.run()
    assert clock.signals() == [(32.7, Terminated())]
    assert all(not str(sent).startswith("ACK") for _, sent in clock.sent)


@pytest.mark.parametrize("status", [300, 404, 486, 487, 503, 699])
def test_non_2xx_final_is_acked_and_completes(status: int) -> None:
    calls: list[str] = []

    def factory(response: str) -> str:
        calls.append(response)
        return ack_for(response)

    machine = ClientInvite("INVITE", config=TimerConfig(), reliable=False, ack_factory=factory)
    clock = FakeClock(machine)
    clock.do(machine.start)
    clock.advance(2.0)
    final = str(status)
    actions = clock.do(machine.on_response, final, status)
    assert actions == [
        CancelTimer(A), CancelTimer(B), Send(f"ACK/{final}"), ToTU(final), StartTimer(D, 32.0)
    ]
    assert machine.state is S.COMPLETED
    # §17.1.1.2: a retransmitted final gets the same ACK again and is not passed up again.
    clock.advance(3.0)
    assert clock.do(machine.on_response, final, status) == [Send(f"ACK/{final}")]
    assert clock.do(machine.on_response, "180", 180) == []
    assert clock.do(machine.on_response, "200", 200) == []
    assert calls == [final]
    assert clock.to_tu == [(2.0, final)]
    clock.run()
    assert clock.signals() == [(34.0, Terminated())]  # Timer D, 32 s after the final


def test_timer_d_follows_the_config() -> None:
    machine, clock = started(TimerConfig(timer_d=40.0))
    clock.do(machine.on_response, "404", 404)
    clock.run()
    assert clock.signals() == [(40.0, Terminated())]


def test_reliable_final_terminates_at_once_after_the_ack() -> None:
    machine, clock = started(reliable=True)
    actions = clock.do(machine.on_response, "486", 486)
    assert actions == [CancelTimer(B), Send("ACK/486"), ToTU("486"), Terminated()]
    assert machine.terminated


Setup = Callable[[ClientInvite[str], FakeClock], None]


def _to_calling(machine: ClientInvite[str], clock: FakeClock) -> None:
    pass


def _to_proceeding(machine: ClientInvite[str], clock: FakeClock) -> None:
    clock.do(machine.on_response, "180", 180)


def _to_completed(machine: ClientInvite[str], clock: FakeClock) -> None:
    clock.do(machine.on_response, "486", 486)


def _to_accepted(machine: ClientInvite[str], clock: FakeClock) -> None:
    clock.do(machine.on_response, "200", 200)


# how to get there, the state, actions on a transport error (Figure 5).
TRANSPORT_ERRORS = [
    (_to_calling, S.CALLING, [CancelTimer(A), CancelTimer(B), TransportFailed(), Terminated()]),
    (_to_proceeding, S.PROCEEDING, []),  # nothing is sent there: absorbed
    (_to_completed, S.COMPLETED, [CancelTimer(D), TransportFailed(), Terminated()]),
    (_to_accepted, S.ACCEPTED, []),  # the TU sends the 2xx's ACK, not us
]


@pytest.mark.parametrize(("setup", "state", "expected"), TRANSPORT_ERRORS)
def test_transport_error(setup: Setup, state: ClientInviteState, expected: list[object]) -> None:
    machine, clock = started()
    setup(machine, clock)
    assert machine.state is state
    assert clock.do(machine.on_transport_error) == expected
    assert machine.terminated == (expected != [])


def test_start_twice_and_events_before_start_raise() -> None:
    machine = ClientInvite("INVITE", config=TimerConfig(), reliable=False, ack_factory=ack_for)
    with pytest.raises(LocalProtocolError):
        machine.on_response("180", 180, 0.0)
    with pytest.raises(LocalProtocolError):
        machine.on_timer(A, 0.0)
    with pytest.raises(LocalProtocolError):
        machine.on_transport_error(0.0)
    machine.start(0.0)
    with pytest.raises(LocalProtocolError):
        machine.start(0.0)


@pytest.mark.parametrize("status", [0, 99, 700, 999, -1])
def test_status_outside_100_699_is_absorbed(status: int) -> None:
    machine, clock = started()
    assert clock.do(machine.on_response, "junk", status) == []
    assert machine.state is S.CALLING


def test_cancelled_timer_firing_late_is_absorbed() -> None:
    machine, clock = started()
    clock.do(machine.on_response, "180", 180)
    assert machine.on_timer(A, 0.5) == []
    assert machine.on_timer(D, 0.5) == []  # never armed


def test_everything_is_absorbed_once_terminated() -> None:
    machine, clock = started(reliable=True)
    clock.do(machine.on_transport_error)
    assert machine.terminated
    assert machine.on_response("200", 200, 1.0) == []
    assert machine.on_timer(B, 32.0) == []
    assert machine.on_transport_error(1.0) == []


def test_failed_send_is_reported_after_the_list() -> None:
    machine = ClientInvite("INVITE", config=TimerConfig(), reliable=False, ack_factory=ack_for)
    clock = FakeClock(machine)
    clock.transport_down = True
    clock.do(machine.start)
    assert [action for _, action in clock.log] == [
        Send("INVITE"), StartTimer(A, 0.5), StartTimer(B, 32.0),
        CancelTimer(A), CancelTimer(B), TransportFailed(), Terminated(),
    ]
    assert clock.failed == [(0.0, "INVITE")]


def test_failed_ack_comes_after_the_final_went_up() -> None:
    machine, clock = started()
    clock.transport_down = True
    clock.do(machine.on_response, "486", 486)
    assert [action for _, action in clock.log[3:]] == [
        CancelTimer(A), CancelTimer(B), Send("ACK/486"), ToTU("486"), StartTimer(D, 32.0),
        CancelTimer(D), TransportFailed(), Terminated(),
    ]
