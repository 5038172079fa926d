"""A fake clock that drives one transaction state machine, as tm/ will with gevent.

It carries out the machine's actions: StartTimer/CancelTimer keep a table of pending
timers, Send and ToTU are recorded with the time they happened at, and `advance` /
`run_until` / `run` move time forward, firing due timers into the machine in deadline
order (ties in the order they were armed). With `transport_down` set, every Send fails,
and the clock reports it with `on_transport_error` once the list is done, as the actions
contract asks. It also checks the actions' contract on the
way: a CancelTimer only for a pending timer, nothing after Terminated, no timer left when
Terminated comes, and the machine's own view of its armed timers equal to the clock's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from geosip.sip.txn import (
    Action,
    CancelTimer,
    Send,
    StartTimer,
    Terminated,
    TimedOut,
    Timer,
    ToTU,
    TransportFailed,
)

Event = Callable[..., "list[Action[Any]]"]


class FakeClock:
    """Drives `machine` (any of the four) on simulated time starting at `now`."""

    def __init__(self, machine: Any, now: float = 0.0) -> None:
        self.machine = machine
        self.now = now
        self.pending: dict[Timer, tuple[float, int]] = {}
        self._armed = 0
        self.log: list[tuple[float, Action[Any]]] = []
        self.sent: list[tuple[float, Any]] = []
        self.to_tu: list[tuple[float, Any]] = []
        self.failed: list[tuple[float, Any]] = []
        self.transport_down = False
        self.terminated_at: float | None = None

    # -- driving -----------------------------------------------------------------------

    def do(self, event: Event, *args: Any) -> list[Action[Any]]:
        """Call `event(*args, now)` (a bound method of the machine) and carry out its result."""
        actions = event(*args, self.now)
        self.apply(actions)
        return actions

    def advance(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def run_until(self, when: float) -> None:
        """Fire, in order, every timer due by `when`, then set the clock to `when`."""
        while self.pending:
            timer, (deadline, _) = min(self.pending.items(), key=lambda item: item[1])
            if deadline > when:
                break
            del self.pending[timer]
            self.now = deadline
            self.apply(self.machine.on_timer(timer, self.now))
        self.now = max(self.now, when)

    def run(self, max_firings: int = 100_000) -> None:
        """Fire timers until none is pending."""
        for _ in range(max_firings):
            if not self.pending:
                return
            self.run_until(min(deadline for deadline, _ in self.pending.values()))
        raise AssertionError(f"timers still pending after {max_firings} firings")

    def apply(self, actions: list[Action[Any]]) -> None:
        send_failed = False
        for action in actions:
            assert self.terminated_at is None, f"{action!r} after Terminated"
            self.log.append((self.now, action))
            match action:
                case StartTimer(timer, delay):
                    assert delay > 0, action
                    self.pending[timer] = (self.now + delay, self._armed)
                    self._armed += 1
                case CancelTimer(timer):
                    assert timer in self.pending, f"cancel of {timer} that is not pending"
                    del self.pending[timer]
                case Send(message) if self.transport_down:
                    self.failed.append((self.now, message))
                    send_failed = True
                case Send(message):
                    self.sent.append((self.now, message))
                case ToTU(message):
                    self.to_tu.append((self.now, message))
                case Terminated():
                    assert not self.pending, f"Terminated with {self.pending} pending"
                    self.terminated_at = self.now
                case TimedOut() | TransportFailed():
                    pass
                case _:
                    raise AssertionError(f"unknown action {action!r}")
        armed = {timer: deadline for timer, (deadline, _) in self.pending.items()}
        assert dict(self.machine.timers) == armed, (dict(self.machine.timers), armed)
        if send_failed:
            self.apply(self.machine.on_transport_error(self.now))

    # -- what happened -----------------------------------------------------------------

    def send_times(self, message: Any = None) -> list[float]:
        """When messages (only `message`, if given) were sent."""
        return [at for at, sent in self.sent if message is None or sent == message]

    def signals(self) -> list[tuple[float, Action[Any]]]:
        """The TimedOut, TransportFailed and Terminated actions, with their times."""
        kinds = (TimedOut, TransportFailed, Terminated)
        return [(at, action) for at, action in self.log if isinstance(action, kinds)]

    def timers(self) -> dict[Timer, float]:
        """Pending timers and their deadlines."""
        return {timer: deadline for timer, (deadline, _) in self.pending.items()}
