"""INVITE server transaction: RFC 3261 §17.2.1, with RFC 6026 §7.1 and §8.5-§8.7.

Theory of operation. The core builds the machine when an INVITE matches no transaction,
and passes the INVITE to the TU. `start` sends 100 Trying at once when a `trying_factory`
is given: like Kamailio's t_relay, we do not run the optional 200 ms wait of §17.2.1 (it
would need a timer the RFC does not name, to save one small datagram); a TU that answers
quickly itself passes None. The TU's responses go out through `send_response`:
- 1xx: sent, and remembered; a retransmitted INVITE is answered with the latest one.
- 300-699: sent, then retransmitted by Timer G (T1 doubling up to T2, unreliable only)
  until the ACK arrives ("Confirmed", which absorbs ACK retransmissions for Timer I) or
  Timer H (64*T1) gives up: the ACK never came, and the TU is told (TimedOut).
- 2xx: sent once. The TU owns its retransmission (§13.3.1.4) and passes each one here,
  which sends it; RFC 6026 keeps the transaction in "Accepted" for Timer L so that a
  retransmitted INVITE is absorbed instead of being taken for a new request, and hands
  any ACK that matches it to the TU (RFC 6026 §8.7: "MUST be passed directly to the TU").

                      | start(): send 100 Trying if a trying_factory was given
                      v
  INVITE:       +------------+  1xx from TU: send it
  resend latest |            |---+
  1xx      +----| Proceeding |<--+
           +--->|            |
                +------------+
  300-699 from TU: |       | 2xx from TU: send it, arm L
  send, arm G, H   |       v
                   |   +----------+  2xx from TU: send it
                   |   |          |---+   INVITE: absorb
                   |   | Accepted |<--+   ACK: to TU
                   |   +----------+
                   v        | L fires
           +-----------+    |
  INVITE;  |           |    |
  G fires: | Completed |    |
  resend +-|           |    |
  final  +>|           |-------------------------+
           +-----------+ H fires: TimedOut       |
              | ACK: cancel G, H, arm I          |
              v             |                    |
           +-----------+    |                    |
  ACK,     |           |    |                    |
  INVITE:  | Confirmed |    |                    |
  absorb   |           |    |                    |
           +-----------+    |                    |
              | I fires     |                    |
              v             v                    v
           +----------------------------------------+
           |               Terminated               |
           +----------------------------------------+

On a reliable transport Timer G is never armed and Timer I is zero: the ACK ends the
transaction at once.

Transport errors follow RFC 6026 Figure 7, which replaced RFC 3261's exits to
"Terminated" with loops: in "Proceeding", "Completed" and "Accepted" the TU is told
(TransportFailed, once) and the transaction stays, so that retransmitted INVITEs keep
matching it until Timer H or L ends it. In "Proceeding" the TU still owes a final
response; `send_response` sends it as usual.

Events: `start(now)`, `on_request(request, is_ack, now)` for a retransmitted INVITE or
an ACK, `send_response(response, status, now)` from the TU, `on_timer(timer, now)`,
`on_transport_error(now)`. Each returns the actions to carry out (see actions.py).

Absorbed (return []): an ACK in "Proceeding" or "Confirmed", an INVITE in "Accepted" or
"Confirmed", a transport error in "Confirmed" or after the first report, anything from
the network or a timer once "Terminated".

Raises LocalProtocolError from `send_response` for a status outside 100-699, and for a
response the state does not allow: any response once "Completed", "Confirmed" or
"Terminated", and anything but a 2xx in "Accepted". Raises it too when `start` is called
twice, or any event comes before it.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import ClassVar

from ..errors import LocalProtocolError
from .actions import Action, Send, ToTU
from ._machine import Input, M, Machine, Table, classify
from .timers import Timer, TimerConfig


class ServerInviteState(Enum):
    """States of Figure 7 (RFC 3261) as corrected by RFC 6026 §7.1."""

    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


_S = ServerInviteState


class ServerInvite(Machine[M, ServerInviteState]):
    """The INVITE server transaction for `request`.

    `trying_factory(request)`, if given, builds the 100 Trying that `start` sends
    (§8.2.6.1: with the request's Timestamp copied); whatever it raises propagates.
    """

    __slots__ = ("request", "_trying_factory", "_provisional", "_final", "_interval")

    def __init__(
        self,
        request: M,
        *,
        config: TimerConfig,
        reliable: bool,
        trying_factory: Callable[[M], M] | None = None,
    ) -> None:
        super().__init__(config, reliable, _S.PROCEEDING, _S.TERMINATED, started=False)
        self.request = request
        self._trying_factory = trying_factory
        self._provisional: M | None = None
        self._final: M | None = None
        self._interval = config.g

    def start(self, now: float) -> list[Action[M]]:
        """Send 100 Trying if a `trying_factory` was given (§17.2.1).

        Raises LocalProtocolError if called twice.
        """
        self._mark_started()
        if self._trying_factory is None:
            return []
        self._provisional = self._trying_factory(self.request)
        return [Send(self._provisional)]

    def on_request(self, request: M, is_ack: bool, now: float) -> list[Action[M]]:
        """A retransmission of the INVITE, or (`is_ack`) an ACK, matched this transaction.

        Raises LocalProtocolError if the machine has not been started.
        """
        self._check_started()
        return self._dispatch(Input.ACK if is_ack else Input.REQUEST, request, now, from_tu=False)

    def send_response(self, response: M, status: int, now: float) -> list[Action[M]]:
        """The TU answers with `response`, whose status code is `status`.

        Raises LocalProtocolError for a status outside 100-699, for a response the state
        does not allow (see the module docstring), or before `start`.
        """
        self._check_started()
        kind = classify(status)
        if kind is None:
            raise LocalProtocolError(f"ServerInvite: status {status} is not 100-699")
        return self._dispatch(kind, response, now, from_tu=True)

    # -- handlers (see _TABLE) ---------------------------------------------------------

    def _resend_provisional(self, request: M, now: float) -> list[Action[M]]:
        # §17.2.1: a retransmitted INVITE gets the latest provisional, if any was sent.
        return [] if self._provisional is None else [Send(self._provisional)]

    def _provide(self, response: M, now: float) -> list[Action[M]]:
        self._provisional = response
        return [Send(response)]

    def _accept(self, response: M, now: float) -> list[Action[M]]:
        # RFC 6026 §8.5: send the 2xx once (the TU retransmits it) and linger for Timer L.
        out: list[Action[M]] = [Send(response)]
        self._state = _S.ACCEPTED
        self._start_timer(out, Timer.TIMER_L, self.config.l, now)
        return out

    def _send(self, response: M, now: float) -> list[Action[M]]:
        # RFC 6026 §8.7: a 2xx retransmission from the TU goes out as it is.
        return [Send(response)]

    def _pass_up(self, ack: M, now: float) -> list[Action[M]]:
        # RFC 6026 §8.7: an ACK matching "Accepted" goes to the TU, not absorbed.
        return [ToTU(ack)]

    def _complete(self, response: M, now: float) -> list[Action[M]]:
        # §17.2.1: send the final; G retransmits it (unreliable only), H bounds the wait.
        self._final = response
        out: list[Action[M]] = [Send(response)]
        self._state = _S.COMPLETED
        if not self.reliable:
            self._start_timer(out, Timer.TIMER_G, self._interval, now)
        self._start_timer(out, Timer.TIMER_H, self.config.h, now)
        return out

    def _resend_final(self, request: M | None, now: float) -> list[Action[M]]:
        assert self._final is not None  # set on entering Completed
        return [Send(self._final)]

    def _retransmit(self, _: None, now: float) -> list[Action[M]]:
        # §17.2.1: Timer G doubles, up to T2.
        self._interval = min(2 * self._interval, self.config.t2)
        out = self._resend_final(None, now)
        self._start_timer(out, Timer.TIMER_G, self._interval, now)
        return out

    def _confirm(self, ack: M, now: float) -> list[Action[M]]:
        # §17.2.1: the ACK is absorbed; linger for Timer I to absorb its retransmissions.
        out: list[Action[M]] = []
        self._cancel_timers(out, Timer.TIMER_G, Timer.TIMER_H)
        return self._linger(out, _S.CONFIRMED, Timer.TIMER_I, now)

    _TABLE: ClassVar[Table] = {
        (_S.PROCEEDING, Input.REQUEST): _resend_provisional,
        (_S.PROCEEDING, Input.PROVISIONAL): _provide,
        (_S.PROCEEDING, Input.SUCCESS): _accept,
        (_S.PROCEEDING, Input.FAILURE): _complete,
        (_S.PROCEEDING, Input.TRANSPORT_ERROR): Machine._report_failure,
        (_S.COMPLETED, Input.REQUEST): _resend_final,
        (_S.COMPLETED, Input.ACK): _confirm,
        (_S.COMPLETED, Timer.TIMER_G): _retransmit,
        (_S.COMPLETED, Timer.TIMER_H): Machine._time_out,
        (_S.COMPLETED, Input.TRANSPORT_ERROR): Machine._report_failure,
        (_S.CONFIRMED, Timer.TIMER_I): Machine._finish,
        (_S.ACCEPTED, Input.ACK): _pass_up,
        (_S.ACCEPTED, Input.SUCCESS): _send,
        (_S.ACCEPTED, Timer.TIMER_L): Machine._finish,
        (_S.ACCEPTED, Input.TRANSPORT_ERROR): Machine._report_failure,
    }
