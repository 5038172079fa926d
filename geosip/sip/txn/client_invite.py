"""INVITE client transaction: RFC 3261 §17.1.1, with RFC 6026 §7.2 and §8.4 ("Accepted").

Theory of operation. The TU builds the INVITE and the machine around it; `start` sends it.
On an unreliable transport Timer A retransmits it at T1, 2*T1, 4*T1, ... until a response
arrives; Timer B (64*T1, or `TimerConfig.timer_b`) gives up in "Calling". A 1xx stops the
retransmissions. A 300-699 is answered with an ACK built by the caller's `ack_factory`
(the ACK is hop-by-hop, part of this transaction, §17.1.1.3), and "Completed" resends that
same ACK for every retransmission of the response until Timer D. A 2xx goes up to the TU,
which ACKs it end to end (§13.2.2.4); RFC 6026 keeps the transaction in "Accepted" for
Timer M so that retransmitted 2xx and 2xx from other forks still match it and reach the TU.

                     | start(): send INVITE, arm A (unreliable) and B
                     v
  A fires:      +-----------+  B fires: TimedOut
  resend INVITE |           |  transport error: TransportFailed
  A doubled  +--|  Calling  |------------------------------------------+
             +->|           |                                          |
                +-----------+                                          |
      300-699 |      | 1xx: to TU, cancel A                            |
              |      v                                                 |
              |  +------------+  1xx: to TU                            |
              |  | Proceeding |---+                                    |
              |  |            |<--+                                    |
              |  +------------+                                        |
              |    |       | 2xx (in Calling too): to TU, cancel A, B, |
              |    |       v arm M                                     |
              |    |     +----------+  2xx: to TU (the TU ACKs it)     |
              |    |     | Accepted |---+                              |
              |    |     |          |<--+                              |
              |    |     +----------+                                  |
              |    | 300-699: send ACK, to TU, cancel A, B, arm D      |
              v    v           | M fires                               |
           +-----------+       |                                       |
  300-699: |           |       |                                       |
  resend +-| Completed |       |                                       |
  ACK    +>|           |       |                                       |
           +-----------+       |                                       |
             | D fires; transport error: TransportFailed               |
             v                 v                                       v
           +-----------------------------------------------------------+
           |                        Terminated                         |
           +-----------------------------------------------------------+

On a reliable transport Timer A is never armed and Timer D is zero: a 300-699 ends the
transaction at once, after the ACK.

Events: `start(now)`, `on_response(response, status, now)`, `on_timer(timer, now)`,
`on_transport_error(now)`. Each returns the actions to carry out (see actions.py).

Absorbed (return []): a 1xx or 2xx in "Completed", a 1xx or 300-699 in "Accepted",
a status outside 100-699, Timer B in "Proceeding" (Figure 5 acts on it only in "Calling":
once the callee rings, the TU ends the wait with CANCEL and its 487, §9.1, and a proxy
runs Timer C, §16.6; Timer B is not cancelled by the 1xx, as §17.1.1.2 says nothing of
it), a transport error outside "Calling" and "Completed", anything once "Terminated".

Raises LocalProtocolError when `start` is called twice, or any event comes before it.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import ClassVar

from .actions import Action, Send, ToTU
from ._machine import Input, M, Machine, Table, classify
from .timers import Timer, TimerConfig


class ClientInviteState(Enum):
    """States of Figure 5 (RFC 3261) as corrected by RFC 6026 §7.2."""

    CALLING = "Calling"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


_S = ClientInviteState


class ClientInvite(Machine[M, ClientInviteState]):
    """The INVITE client transaction for `request`.

    `ack_factory(response)` builds the ACK for a 300-699 `response` (§17.1.1.3); it is
    called once per transaction, and whatever it raises propagates out of `on_response`.
    """

    __slots__ = ("request", "_ack_factory", "_ack", "_interval")

    def __init__(
        self,
        request: M,
        *,
        config: TimerConfig,
        reliable: bool,
        ack_factory: Callable[[M], M],
    ) -> None:
        super().__init__(config, reliable, _S.CALLING, _S.TERMINATED, started=False)
        self.request = request
        self._ack_factory = ack_factory
        self._ack: M | None = None
        self._interval = config.a

    def start(self, now: float) -> list[Action[M]]:
        """Send the INVITE and arm Timer A (unreliable transport only) and Timer B.

        Raises LocalProtocolError if called twice.
        """
        self._mark_started()
        out: list[Action[M]] = [Send(self.request)]
        if not self.reliable:  # §17.1.1.2: A only where the transport may lose it
            self._start_timer(out, Timer.TIMER_A, self._interval, now)
        self._start_timer(out, Timer.TIMER_B, self.config.b, now)
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
        # §17.1.1.2: Timer A doubles each time, with no cap (unlike E and G).
        self._interval *= 2
        out: list[Action[M]] = [Send(self.request)]
        self._start_timer(out, Timer.TIMER_A, self._interval, now)
        return out

    def _proceed(self, response: M, now: float) -> list[Action[M]]:
        # §17.1.1.2: no more retransmissions once the server is known to have it.
        out: list[Action[M]] = []
        self._cancel_timers(out, Timer.TIMER_A)
        self._state = _S.PROCEEDING
        out.append(ToTU(response))
        return out

    def _pass_up(self, response: M, now: float) -> list[Action[M]]:
        return [ToTU(response)]

    def _accept(self, response: M, now: float) -> list[Action[M]]:
        # RFC 6026 §8.4: 2xx to the TU, no ACK from us, linger for Timer M.
        out: list[Action[M]] = []
        self._cancel_timers(out, Timer.TIMER_A, Timer.TIMER_B)
        out.append(ToTU(response))
        self._state = _S.ACCEPTED
        self._start_timer(out, Timer.TIMER_M, self.config.m, now)
        return out

    def _complete(self, response: M, now: float) -> list[Action[M]]:
        # §17.1.1.2/§17.1.1.3: ACK the non-2xx final, pass it up, linger for Timer D.
        # The ACK goes out before the TU sees the response, which may take its time.
        out: list[Action[M]] = []
        self._cancel_timers(out, Timer.TIMER_A, Timer.TIMER_B)
        self._ack = self._ack_factory(response)
        out.append(Send(self._ack))
        out.append(ToTU(response))
        return self._linger(out, _S.COMPLETED, Timer.TIMER_D, now)

    def _resend_ack(self, response: M, now: float) -> list[Action[M]]:
        # §17.1.1.2: a retransmitted final gets the same ACK and does not go up again.
        assert self._ack is not None  # set on entering Completed
        return [Send(self._ack)]

    _TABLE: ClassVar[Table] = {
        (_S.CALLING, Timer.TIMER_A): _retransmit,
        (_S.CALLING, Timer.TIMER_B): Machine._time_out,
        (_S.CALLING, Input.TRANSPORT_ERROR): Machine._fail,
        (_S.CALLING, Input.PROVISIONAL): _proceed,
        (_S.CALLING, Input.SUCCESS): _accept,
        (_S.CALLING, Input.FAILURE): _complete,
        (_S.PROCEEDING, Input.PROVISIONAL): _pass_up,
        (_S.PROCEEDING, Input.SUCCESS): _accept,
        (_S.PROCEEDING, Input.FAILURE): _complete,
        (_S.COMPLETED, Input.FAILURE): _resend_ack,
        (_S.COMPLETED, Timer.TIMER_D): Machine._finish,
        (_S.COMPLETED, Input.TRANSPORT_ERROR): Machine._fail,
        (_S.ACCEPTED, Input.SUCCESS): _pass_up,
        (_S.ACCEPTED, Timer.TIMER_M): Machine._finish,
    }
