"""Non-INVITE client transaction (RFC 3261 §17.1.2) on a fake clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from geosip.sip.errors import LocalProtocolError
from geosip.sip.txn import (
    CancelTimer,
    ClientNonInvite,
    ClientNonInviteState,
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

S = ClientNonInviteState
E, F, K = Timer.TIMER_E, Timer.TIMER_F, Timer.TIMER_K


def started(
    config: TimerConfig | None = None, reliable: bool = False
) -> tuple[ClientNonInvite[str], FakeClock]:
    machine = ClientNonInvite("MESSAGE", config=config or TimerConfig(), reliable=reliable)
    clock = FakeClock(machine)
    clock.do(machine.start)
    return machine, clock


# config, 1xx arrival time (None: never), send times, Timer F. §17.1.2.2: E doubles up to
# T2 in Trying; in Proceeding each firing resends and resets E to T2.
SCHEDULES = [
    (TimerConfig(), None,
     [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5], 32.0),
    (TimerConfig(t2=2.0), None,
     [0.0, 0.5, 1.5, 3.5, 5.5, 7.5, 9.5, 11.5, 13.5, 15.5, 17.5, 19.5, 21.5, 23.5, 25.5,
      27.5, 29.5, 31.5], 32.0),
    (TimerConfig(timer_f=5.0), None, [0.0, 0.5, 1.5, 3.5], 5.0),
    # 1xx before the first retransmission: E still fires at 0.5, then every T2.
    (TimerConfig(), 0.2, [0.0, 0.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5], 32.0),
    # 1xx after two doublings: the pending E (due 3.5) fires, then every T2.
    (TimerConfig(), 2.0, [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5], 32.0),
    # in Proceeding E jumps to T2 at once, skipping the doubling (Trying: 0 1 3 7 15).
    (TimerConfig(t1=1.0, t2=8.0, timer_f=20.0), 1.5, [0.0, 1.0, 3.0, 11.0, 19.0], 20.0),
]


@pytest.mark.parametrize(("config", "provisional_at", "sends", "timer_f"), SCHEDULES)
def test_timer_e_retransmits_until_timer_f(
    config: TimerConfig, provisional_at: float | None, sends: list[float], timer_f: float
) -> None:
    machine, clock = started(config)
    if provisional_at is not None:
        clock.run_until(provisional_at)
        assert clock.do(machine.on_response, "100", 100) == [ToTU("100")]
        assert machine.state is S.PROCEEDING
    clock.run()
    assert clock.send_times("MESSAGE") == sends
    assert clock.signals() == [(timer_f, TimedOut()), (timer_f, Terminated())]


def test_start_actions() -> None:
    machine = ClientNonInvite("MESSAGE", config=TimerConfig(), reliable=False)
    assert machine.start(0.0) == [Send("MESSAGE"), StartTimer(E, 0.5), StartTimer(F, 32.0)]
    assert machine.state is S.TRYING


def test_reliable_transport_never_retransmits() -> None:
    machine, clock = started(reliable=True)
    clock.do(machine.on_response, "100", 100)
    clock.run()
    assert clock.send_times() == [0.0]
    assert clock.signals() == [(32.0, TimedOut()), (32.0, Terminated())]


@pytest.mark.parametrize("status", [200, 202, 299, 302, 404, 408, 503, 699])
@pytest.mark.parametrize("provisional_first", [False, True])
def test_final_completes_and_timer_k_ends(status: int, provisional_first: bool) -> None:
    machine, clock = started()
    clock.advance(1.0)
    if provisional_first:
        clock.do(machine.on_response, "100", 100)
    final = str(status)
    actions = clock.do(machine.on_response, final, status)
    assert actions == [CancelTimer(E), CancelTimer(F), ToTU(final), StartTimer(K, 5.0)]
    assert machine.state is S.COMPLETED
    # §17.1.2.2: "Completed" buffers response retransmissions; nothing goes up again.
    for response, code in [(final, status), ("100", 100), ("500", 500)]:
        assert clock.do(machine.on_response, response, code) == []
    clock.run()
    assert clock.signals() == [(6.0, Terminated())]
    assert clock.send_times() == [0.0, 0.5]


def test_reliable_final_terminates_at_once() -> None:
    machine, clock = started(reliable=True)
    assert clock.do(machine.on_response, "200", 200) == [
        CancelTimer(F), ToTU("200"), Terminated()
    ]


Setup = Callable[[ClientNonInvite[str], FakeClock], None]


def _to_trying(machine: ClientNonInvite[str], clock: FakeClock) -> None:
    pass


def _to_proceeding(machine: ClientNonInvite[str], clock: FakeClock) -> None:
    clock.do(machine.on_response, "100", 100)


def _to_completed(machine: ClientNonInvite[str], clock: FakeClock) -> None:
    clock.do(machine.on_response, "200", 200)


# how to get there, the state, actions on a transport error (Figure 6).
TRANSPORT_ERRORS = [
    (_to_trying, S.TRYING, [CancelTimer(E), CancelTimer(F), TransportFailed(), Terminated()]),
    (_to_proceeding, S.PROCEEDING,
     [CancelTimer(E), CancelTimer(F), TransportFailed(), Terminated()]),
    (_to_completed, S.COMPLETED, []),  # nothing is sent there: absorbed
]


@pytest.mark.parametrize(("setup", "state", "expected"), TRANSPORT_ERRORS)
def test_transport_error(
    setup: Setup, state: ClientNonInviteState, expected: list[object]
) -> None:
    machine, clock = started()
    setup(machine, clock)
    assert machine.state is state
    assert clock.do(machine.on_transport_error) == expected
    assert machine.terminated == (expected != [])


def test_start_twice_and_events_before_start_raise() -> None:
    machine = ClientNonInvite("OPTIONS", config=TimerConfig(), reliable=False)
    with pytest.raises(LocalProtocolError):
        machine.on_response("200", 200, 0.0)
    machine.start(0.0)
    with pytest.raises(LocalProtocolError):
        machine.start(1.0)


def test_absorbed_inputs() -> None:
    machine, clock = started()
    assert clock.do(machine.on_response, "junk", 700) == []
    assert machine.on_timer(K, 0.0) == []  # not armed
    clock.do(machine.on_response, "200", 200)
    assert machine.on_timer(E, 0.5) == []  # cancelled, fires late
    clock.run()
    assert machine.terminated
    assert machine.on_response("200", 200, 99.0) == []
    assert machine.on_transport_error(99.0) == []
