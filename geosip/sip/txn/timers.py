"""Transaction timers: their names and their values (RFC 3261 §17, Table 4; RFC 6026 §8.11).

A `TimerConfig` is a frozen value handed to each transaction, so two transactions (or two
test cases) may run with different T1/T2/T4 side by side; nothing here is global.
Values are seconds. Table 4 gives two columns for some timers: the properties below (`b`,
`d`, `i`, ...) are the values for an unreliable transport, and `delay(timer, reliable)` is
what a state machine starts a timer with, zero where Table 4 says "0s for TCP/SCTP".

Timer C (§16.6 item 11) is the proxy's, not the transaction's, and is left to tm/.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Timer(Enum):
    """A transaction timer, named as RFC 3261 Table 4 and RFC 6026 §8.11 name it."""

    TIMER_A = "A"  # INVITE request retransmit interval, unreliable only (§17.1.1.2)
    TIMER_B = "B"  # INVITE transaction timeout (§17.1.1.2)
    TIMER_D = "D"  # wait time for response retransmits (§17.1.1.2)
    TIMER_E = "E"  # non-INVITE request retransmit interval, unreliable only (§17.1.2.2)
    TIMER_F = "F"  # non-INVITE transaction timeout (§17.1.2.2)
    TIMER_G = "G"  # INVITE response retransmit interval (§17.2.1)
    TIMER_H = "H"  # wait time for ACK receipt (§17.2.1)
    TIMER_I = "I"  # wait time for ACK retransmits (§17.2.1)
    TIMER_J = "J"  # wait time for non-INVITE request retransmits (§17.2.2)
    TIMER_K = "K"  # wait time for response retransmits (§17.1.2.2)
    TIMER_L = "L"  # wait time for accepted INVITE request retransmits (RFC 6026 §8.11)
    TIMER_M = "M"  # wait time for retransmission of 2xx to INVITE or forks (RFC 6026 §8.11)


# Timers whose Table 4 value is zero on a reliable transport: there are no retransmissions
# to wait out, so the state they bound is left at once.
_ZERO_WHEN_RELIABLE = frozenset({Timer.TIMER_D, Timer.TIMER_I, Timer.TIMER_J, Timer.TIMER_K})


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1, T2, T4 and the overridable timeouts, in seconds (RFC 3261 §17.1.1.1, Table 4).

    `timer_b` and `timer_f` override the INVITE and non-INVITE transaction timeouts (64*T1
    by default), as Kamailio's fr_inv_timer / fr_timer do. `timer_d` is Timer D on an
    unreliable transport; §17.1.1.2 asks for at least 32 s, which is not enforced so that
    labs and tests may shorten it.

    `wait` caps the timers that only keep a finished transaction around to absorb
    retransmissions (D, J, L, M), like Kamailio's wt_timer (5 s there). The RFC's 32 s
    keeps tens of thousands of finished transactions alive at a few hundred calls per
    second; a peer retransmits at most every T2 (4 s), so a few seconds still catch a
    retransmission of a request whose final response was lost. None = the RFC values.

    Raises ValueError (at construction) for a non-positive T1 or T4, T2 < T1, a
    non-positive override, or a negative `timer_d`.
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_b: float | None = None
    timer_f: float | None = None
    timer_d: float = 32.0
    wait: float | None = None

    def __post_init__(self) -> None:
        if not self.t1 > 0:
            raise ValueError(f"T1 must be positive, not {self.t1!r}")
        if not self.t2 >= self.t1:
            raise ValueError(f"T2 ({self.t2!r}) must be at least T1 ({self.t1!r})")
        if not self.t4 > 0:
            raise ValueError(f"T4 must be positive, not {self.t4!r}")
        for name in ("timer_b", "timer_f"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, not {value!r}")
        if not self.timer_d >= 0:
            raise ValueError(f"timer_d must not be negative, not {self.timer_d!r}")
        if self.wait is not None and not self.wait > 0:
            raise ValueError(f"wait must be positive or None, not {self.wait!r}")

    def _waited(self, value: float) -> float:
        return value if self.wait is None else min(value, self.wait)

    # Table 4, unreliable-transport column. A, E and G are initial values: the machines
    # double them (E and G capped at T2).
    @property
    def a(self) -> float:
        """Timer A, initially T1."""
        return self.t1

    @property
    def b(self) -> float:
        """Timer B, 64*T1 unless `timer_b` overrides it."""
        return self.timer_b if self.timer_b is not None else 64 * self.t1

    @property
    def d(self) -> float:
        """Timer D on an unreliable transport (`timer_d`, > 32 s per Table 4; `wait` caps it)."""
        return self._waited(self.timer_d)

    @property
    def e(self) -> float:
        """Timer E, initially T1."""
        return self.t1

    @property
    def f(self) -> float:
        """Timer F, 64*T1 unless `timer_f` overrides it."""
        return self.timer_f if self.timer_f is not None else 64 * self.t1

    @property
    def g(self) -> float:
        """Timer G, initially T1."""
        return self.t1

    @property
    def h(self) -> float:
        """Timer H, 64*T1."""
        return 64 * self.t1

    @property
    def i(self) -> float:
        """Timer I on an unreliable transport, T4."""
        return self.t4

    @property
    def j(self) -> float:
        """Timer J on an unreliable transport, 64*T1 (`wait` caps it)."""
        return self._waited(64 * self.t1)

    @property
    def k(self) -> float:
        """Timer K on an unreliable transport, T4."""
        return self.t4

    @property
    def l(self) -> float:  # noqa: E743 -- the RFC's name
        """Timer L, 64*T1 (RFC 6026 §8.11; `wait` caps it)."""
        return self._waited(64 * self.t1)

    @property
    def m(self) -> float:
        """Timer M, 64*T1 (RFC 6026 §8.11; `wait` caps it)."""
        return self._waited(64 * self.t1)

    def delay(self, timer: Timer, reliable: bool) -> float:
        """The value `timer` starts with on a reliable or unreliable transport (Table 4).

        D, I, J and K are zero on a reliable transport. A, E and G are never started on
        one (the machines do not retransmit there); their value is returned regardless.
        """
        if reliable and timer in _ZERO_WHEN_RELIABLE:
            return 0.0
        value: float = getattr(self, timer.value.lower())
        return value
