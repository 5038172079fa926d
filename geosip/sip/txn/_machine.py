"""The machinery the four transaction state machines share (internal).

A machine is a state (an Enum of its own), a transition table and the timers it has
armed. The table maps (state, input) to a handler, where an input is an `Input` or a
`Timer`; a handler is a plain function `(machine, message_or_None, now) -> actions`.
`_dispatch` looks the pair up; a pair that is missing means the input does not fit the
state, and it is then absorbed (input from the network, a timer or the transport) or
refused with LocalProtocolError (input from the TU, i.e. a bug above this layer).

The machine records each armed timer's deadline, so that a late firing of a timer it has
already cancelled is absorbed, and so that `Terminated` always comes after the
`CancelTimer` of every timer still armed: a driver that obeys the actions is left with
nothing pending.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar

from ..errors import LocalProtocolError
from .actions import Action, CancelTimer, StartTimer, Terminated, TimedOut, TransportFailed
from .timers import Timer, TimerConfig

M = TypeVar("M")
S = TypeVar("S", bound=Enum)


class Input(Enum):
    """What, besides a timer, can happen to a transaction."""

    PROVISIONAL = "1xx response"
    SUCCESS = "2xx response"
    FAILURE = "300-699 response"
    REQUEST = "request retransmission"
    ACK = "ACK"
    TRANSPORT_ERROR = "transport error"


Handler = Callable[[Any, Any, float], "list[Action[Any]]"]
Table = Mapping[tuple[Any, "Input | Timer"], Handler]


def classify(status: int) -> Input | None:
    """The input a response with `status` is; None outside 100-699 (§7.2, §21)."""
    if 100 <= status <= 199:
        return Input.PROVISIONAL
    if 200 <= status <= 299:
        return Input.SUCCESS
    if 300 <= status <= 699:
        return Input.FAILURE
    return None


class Machine(Generic[M, S]):
    """Base of the four machines: state, armed timers, dispatch. Not used directly."""

    __slots__ = ("config", "reliable", "_state", "_end", "_armed", "_started", "_reported")

    _TABLE: ClassVar[Table]

    def __init__(
        self, config: TimerConfig, reliable: bool, initial: S, end: S, started: bool
    ) -> None:
        self.config = config
        self.reliable = reliable
        self._state = initial
        self._end = end
        self._armed: dict[Timer, float] = {}
        self._started = started
        self._reported = False

    @property
    def state(self) -> S:
        """The current state."""
        return self._state

    @property
    def terminated(self) -> bool:
        """True once the machine has returned `Terminated()`."""
        return self._state is self._end

    @property
    def timers(self) -> Mapping[Timer, float]:
        """The armed timers and their deadlines (the `now` they were armed at + delay)."""
        return MappingProxyType(self._armed)

    def __repr__(self) -> str:
        armed = ",".join(sorted(timer.value for timer in self._armed))
        return f"<{type(self).__name__} {self._state.name} timers=[{armed}]>"

    def on_timer(self, timer: Timer, now: float) -> list[Action[M]]:
        """`timer` fired. A timer that is not armed (cancelled, or fired already) is absorbed.

        Raises LocalProtocolError if the machine has not been started.
        """
        self._check_started()
        if timer not in self._armed:
            return []
        del self._armed[timer]
        return self._dispatch(timer, None, now, from_tu=False)

    def on_transport_error(self, now: float) -> list[Action[M]]:
        """The transport failed to send one of this machine's messages.

        Absorbed in states where the RFC's diagram has no transport-error arrow.
        Raises LocalProtocolError if the machine has not been started.
        """
        self._check_started()
        return self._dispatch(Input.TRANSPORT_ERROR, None, now, from_tu=False)

    # -- for the subclasses ------------------------------------------------------------

    def _check_started(self) -> None:
        if not self._started:
            raise LocalProtocolError(f"{type(self).__name__}: event before start()")

    def _mark_started(self) -> None:
        if self._started:
            raise LocalProtocolError(f"{type(self).__name__}: start() called twice")
        self._started = True

    def _dispatch(
        self, key: Input | Timer, message: M | None, now: float, *, from_tu: bool
    ) -> list[Action[M]]:
        handler = self._TABLE.get((self._state, key))
        if handler is None:
            if from_tu:
                raise LocalProtocolError(
                    f"{type(self).__name__}: {key.value} from the TU is not allowed "
                    f"in state {self._state.name}"
                )
            return []
        actions: list[Action[M]] = handler(self, message, now)
        return actions

    def _start_timer(self, out: list[Action[M]], timer: Timer, delay: float, now: float) -> None:
        self._armed[timer] = now + delay
        out.append(StartTimer(timer, delay))

    def _cancel_timers(self, out: list[Action[M]], *timers: Timer) -> None:
        for timer in timers:
            if timer in self._armed:
                del self._armed[timer]
                out.append(CancelTimer(timer))

    def _terminate(
        self, out: list[Action[M]], signal: TimedOut | TransportFailed | None = None
    ) -> list[Action[M]]:
        # Timers are disarmed before the TU hears why the transaction ended.
        self._cancel_timers(out, *list(self._armed))
        if signal is not None:
            out.append(signal)
        self._state = self._end
        out.append(Terminated())
        return out

    def _linger(self, out: list[Action[M]], state: S, timer: Timer, now: float) -> list[Action[M]]:
        """Enter `state`, left when `timer` fires; at once if its value is zero (Table 4:
        D, I, J, K on a reliable transport, where no retransmission can arrive)."""
        delay = self.config.delay(timer, self.reliable)
        if delay <= 0:
            return self._terminate(out)
        self._state = state
        self._start_timer(out, timer, delay, now)
        return out

    def _time_out(self, _: None, now: float) -> list[Action[M]]:
        """Timer B, F or H: tell the TU, and end (§17.1.1.2, §17.1.2.2, §17.2.1)."""
        return self._terminate([], TimedOut())

    def _fail(self, _: None, now: float) -> list[Action[M]]:
        """A transport error that ends the transaction (§17.1.1.2, §17.1.2.2, §17.2.2)."""
        return self._terminate([], TransportFailed())

    def _report_failure(self, _: None, now: float) -> list[Action[M]]:
        """A transport error the transaction outlives (RFC 6026 §7.1 Figure 7): tell the
        TU once, and keep absorbing retransmissions until the state's timer ends it."""
        if self._reported:
            return []
        self._reported = True
        return [TransportFailed()]

    def _finish(self, _: None, now: float) -> list[Action[M]]:
        """Timer D, I, J, K, L or M: the lingering state is over."""
        return self._terminate([])
