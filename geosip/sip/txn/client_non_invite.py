"""Non-INVITE client transaction: RFC 3261 §17.1.2.

Theory of operation. The TU builds the request (REGISTER, MESSAGE, OPTIONS, BYE, ...) and
the machine around it; `start` sends it. On an unreliable transport Timer E retransmits
it at T1, 2*T1, 4*T1, ... capped at T2; once a 1xx has arrived the server is known to
have it, and the retransmissions go on every T2 only to guard against a lost final
(§17.1.2.2). Timer F (64*T1, or `TimerConfig.timer_f`) gives up, in "Trying" or
"Proceeding" alike: unlike INVITE, a non-INVITE request has no CANCEL-driven end. The
first final response (200-699) goes up to the TU; "Completed" then absorbs its
retransmissions for Timer K.

                     | start(): send request, arm E (unreliable) and F
                     v
  E fires:      +-----------+  F fires: TimedOut
  resend,       |           |  transport error: TransportFailed
  E=min(2E,T2)+-|  Trying   |-------------------------------------+
              +>|           |                                     |
                +-----------+                                     |
      200-699 |      | 1xx: to TU                                 |
              |      v                                            |
              |  +------------+  1xx: to TU                       |
              |  |            |  E fires: resend, E=T2            |
              |  | Proceeding |---+                               |
              |  |            |<--+                               |
              |  +------------+-----------------------------------+
              |      |   F fires: TimedOut;                       |
              |      |   transport error: TransportFailed         |
              |      | 200-699: to TU, cancel E, F, arm K         |
              v      v                                            |
           +-----------+                                          |
  200-699: |           |                                          |
  absorb +-| Completed |                                          |
         +>|           |                                          |
           +-----------+                                          |
             | K fires                                            |
             v                                                    v
           +------------------------------------------------------+
           |                     Terminated                       |
           +------------------------------------------------------+

On a reliable transport Timer E is never armed and Timer K is zero: a final response ends
the transaction at once.

Events: `start(now)`, `on_response(response, status, now)`, `on_timer(timer, now)`,
`on_transport_error(now)`. Each returns the actions to carry out (see actions.py).

Absorbed (return []): any response in "Completed" (§17.1.2.2: retransmissions are
buffered there), a status outside 100-699, a transport error in "Completed" (nothing is
sent there), anything once "Terminated".

Raises LocalProtocolError when `start` is called twice, or any event comes before it.
"""

from __future__ import annotations

from enum import Enum
from typing import ClassVar

from .actions import Action, Send, ToTU
from ._machine import Input, M, Machine, Table, classify
from .timers import Timer, TimerConfig


class ClientNonInviteState(Enum):
    """States of Figure 6 (RFC 3261)."""

    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"


_S = ClientNonInviteState


class ClientNonInvite(Machine[M, ClientNonInviteState]):
    """The non-INVITE client transaction for `request` (any method but INVITE and ACK)."""

    __slots__ = ("request", "_interval")

    def __init__(self, request: M, *, config: TimerConfig, reliable: bool) -> None:
        super().__init__(config, reliable, _S.TRYING, _S.TERMINATED, started=False)
        self.request = request
        self._interval = config.e

    def start(self, now: float) -> list[Action[M]]:
        """Send the request and arm Timer E (unreliable transport only) and Timer F.

        Raises LocalProtocolError if called twice.
        """
        self._mark_started()
        out: list[Action[M]] = [Send(self.request)]
        if not self.reliable:  # §17.1.2.2: E only where the transport may lose it
            self._start_timer(out, Timer.TIMER_E, self._interval, now)
        self._start_timer(out, Timer.TIMER_F, self.config.f, now)
        return out

    def on_response(self, response: M, status: int, now: float) -> list[Action[M]]:
        """A response matching this transaction arrived; `status` is its status code.

        Raises LocalProtocolError if the machine has not been started.
        """
        self._check_started()
        kind = classify(status)
        if kind is None:
            return []
        return self._dispatch(kind, response, now, from_tu=False)

    # -- handlers (see _TABLE) ---------------------------------------------------------

    def _retransmit(self, _: None, now: float) -> list[Action[M]]:
        # §17.1.2.2, "Trying": E doubles, up to T2.
        return self._resend(min(2 * self._interval, self.config.t2), now)

    def _keep_alive(self, _: None, now: float) -> list[Action[M]]:
        # §17.1.2.2, "Proceeding": E is reset to T2, whatever it was.
        return self._resend(self.config.t2, now)

    def _resend(self, interval: float, now: float) -> list[Action[M]]:
        self._interval = interval
        out: list[Action[M]] = [Send(self.request)]
        self._start_timer(out, Timer.TIMER_E, interval, now)
        return out

    def _proceed(self, response: M, now: float) -> list[Action[M]]:
        # §17.1.2.2: Timer E keeps its pending value; its next firing resets it to T2.
        self._state = _S.PROCEEDING
        return [ToTU(response)]

    def _pass_up(self, response: M, now: float) -> list[Action[M]]:
        return [ToTU(response)]

    def _complete(self, response: M, now: float) -> list[Action[M]]:
        # §17.1.2.2: the final goes up; linger for Timer K to absorb its retransmissions.
        out: list[Action[M]] = []
        self._cancel_timers(out, Timer.TIMER_E, Timer.TIMER_F)
        out.append(ToTU(response))
        return self._linger(out, _S.COMPLETED, Timer.TIMER_K, now)

    _TABLE: ClassVar[Table] = {
        (_S.TRYING, Timer.TIMER_E): _retransmit,
        (_S.TRYING, Timer.TIMER_F): Machine._time_out,
        (_S.TRYING, Input.TRANSPORT_ERROR): Machine._fail,
        (_S.TRYING, Input.PROVISIONAL): _proceed,
        (_S.TRYING, Input.SUCCESS): _complete,
        (_S.TRYING, Input.FAILURE): _complete,
        (_S.PROCEEDING, Timer.TIMER_E): _keep_alive,
        (_S.PROCEEDING, Timer.TIMER_F): Machine._time_out,
        (_S.PROCEEDING, Input.TRANSPORT_ERROR): Machine._fail,
        (_S.PROCEEDING, Input.PROVISIONAL): _pass_up,
        (_S.PROCEEDING, Input.SUCCESS): _complete,
        (_S.PROCEEDING, Input.FAILURE): _complete,
        (_S.COMPLETED, Timer.TIMER_K): Machine._finish,
    }
