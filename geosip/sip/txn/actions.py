"""What a transaction state machine asks its driver to do.

Every event method of a machine returns a list of these, to be carried out in order by the
driver (tm/ with gevent timers and sockets, or a fake clock in the tests). Messages are
opaque: the machines hand back the very objects they were given or built through the
caller's factories, and never look inside them.

Contract for the driver:
- `Send(message)`: transmit `message` on the transaction's transport (the first send and
  every retransmission alike). If the transport fails, call the machine's
  `on_transport_error(now)` once the whole list has been carried out, not from inside
  it: a machine's lists must not interleave (the rest of the list may start a timer,
  or pass a response up, that the error's actions would otherwise have to come after).
- `StartTimer(timer, delay)`: arm `timer` to call `on_timer(timer, now)` `delay` seconds
  from now, replacing any pending arming of the same timer.
- `CancelTimer(timer)`: disarm `timer`. A machine cancels only timers it has armed; it
  absorbs a late firing of a timer it has already cancelled.
- `ToTU(message)`: hand a response (or, for an INVITE server transaction in "Accepted",
  an ACK) up to the transaction user.
- `TimedOut()`: tell the TU the transaction timed out (Timer B, F or H: the 408 case,
  §8.1.3.1, §16.7 item 6).
- `TransportFailed()`: tell the TU the transport failed (the 503 case, §8.1.3.1).
- `Terminated()`: the machine is over; it is the last action it ever returns, every timer
  has been cancelled before it, and the driver drops the transaction from its table.

TimedOut, TransportFailed and Terminated are each returned at most once per machine. A
TimedOut or TransportFailed may come after a final response went up (an INVITE client
transaction whose ACK cannot be sent, §17.1.1.2); a TU that already has its final
response ignores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar, Union

from .timers import Timer

M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class Send(Generic[M]):
    """Transmit (or retransmit) `message` on the transaction's transport."""

    message: M


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Arm `timer` to fire `delay` seconds from the `now` of the call that returned this."""

    timer: Timer
    delay: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Disarm `timer`."""

    timer: Timer


@dataclass(frozen=True, slots=True)
class ToTU(Generic[M]):
    """Pass `message` up to the transaction user."""

    message: M


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The transaction timed out: the TU acts as if it received a 408 (§8.1.3.1)."""


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """The transport failed: the TU acts as if it received a 503 (§8.1.3.1)."""


@dataclass(frozen=True, slots=True)
class Terminated:
    """The transaction is over; drop it."""


Action = Union[Send[M], StartTimer, CancelTimer, ToTU[M], TimedOut, TransportFailed, Terminated]
"""Any action; `Action[M]` where M is the caller's message type."""
