"""Non-INVITE server transaction: RFC 3261 §17.2.2.

Theory of operation. The core builds the machine when a non-INVITE request (not ACK)
matches no transaction, and passes the request to the TU; the machine is live from
construction, in "Trying", and has nothing to send until the TU answers. The server never
retransmits on its own: the client does (Timer E), and each retransmitted request is
answered with the latest response the TU gave, or discarded while there is none. The
TU's final response moves the machine to "Completed", which answers retransmissions with
that final for Timer J (64*T1 on unreliable transports, zero on reliable ones).

                 | constructed: request passed to the TU
                 v
            +-----------+  request: discard
            |  Trying   |---+
            |           |<--+
            +-----------+
  200-699 from |     | 1xx from TU: send it
  TU: send it  |     v
               |  +------------+  1xx from TU: send it
               |  |            |  request: resend latest 1xx
               |  | Proceeding |---+
               |  |            |<--+
               |  +------------+-----------------------------+
               |        |   transport error: TransportFailed |
               |        | 200-699 from TU: send it, arm J    |
               v        v                                    |
            +-----------+                                    |
  request:  |           |                                    |
  resend +--| Completed |------------------------------------+
  final  +->|           |   transport error: TransportFailed |
            +-----------+                                    |
               | J fires                                     |
               v                                             v
            +------------------------------------------------+
            |                  Terminated                    |
            +------------------------------------------------+

Events: `on_request(request, now)` for a retransmission, `send_response(response, status,
now)` from the TU, `on_timer(timer, now)`, `on_transport_error(now)`. Each returns the
actions to carry out (see actions.py).

Absorbed (return []): a retransmitted request in "Trying" (§17.2.2: discarded), a
transport error in "Trying" (nothing has been sent), anything from the network or a timer
once "Terminated".

Raises LocalProtocolError from `send_response` for a status outside 100-699, and for any
response once "Completed" or "Terminated". (§17.2.2 has the transaction discard further
finals from the TU; sending one is a bug in the TU, so we say so. Nothing is sent and the
state is unchanged, so a caller may catch the error and carry on.)
"""

from __future__ import annotations

from enum import Enum
from typing import ClassVar

from ..errors import LocalProtocolError
from .actions import Action, Send
from ._machine import Input, M, Machine, Table, classify
from .timers import Timer, TimerConfig


class ServerNonInviteState(Enum):
    """States of Figure 8 (RFC 3261)."""

    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"


_S = ServerNonInviteState


class ServerNonInvite(Machine[M, ServerNonInviteState]):
    """The non-INVITE server transaction for `request` (any method but INVITE and ACK)."""

    __slots__ = ("request", "_latest")

    def __init__(self, request: M, *, config: TimerConfig, reliable: bool) -> None:
        super().__init__(config, reliable, _S.TRYING, _S.TERMINATED, started=True)
        self.request = request
        self._latest: M | None = None

    def on_request(self, request: M, now: float) -> list[Action[M]]:
        """A retransmission of the request matched this transaction."""
        return self._dispatch(Input.REQUEST, request, now, from_tu=False)

    def send_response(self, response: M, status: int, now: float) -> list[Action[M]]:
        """The TU answers with `response`, whose status code is `status`.

        Raises LocalProtocolError for a status outside 100-699, or for any response once
        the machine is "Completed" or "Terminated".
        """
        kind = classify(status)
        if kind is None:
            raise LocalProtocolError(f"ServerNonInvite: status {status} is not 100-699")
        return self._dispatch(kind, response, now, from_tu=True)

    # -- handlers (see _TABLE) ---------------------------------------------------------

    def _provide(self, response: M, now: float) -> list[Action[M]]:
        # §17.2.2: any 1xx from the TU is sent, in "Trying" and "Proceeding".
        self._latest = response
        self._state = _S.PROCEEDING
        return [Send(response)]

    def _complete(self, response: M, now: float) -> list[Action[M]]:
        # §17.2.2: send the final, then answer retransmissions with it until Timer J.
        self._latest = response
        return self._linger([Send(response)], _S.COMPLETED, Timer.TIMER_J, now)

    def _resend(self, request: M, now: float) -> list[Action[M]]:
        # §17.2.2: "Proceeding" resends the latest 1xx, "Completed" the final.
        assert self._latest is not None  # set on leaving Trying
        return [Send(self._latest)]

    _TABLE: ClassVar[Table] = {
        (_S.TRYING, Input.PROVISIONAL): _provide,
        (_S.TRYING, Input.SUCCESS): _complete,
        (_S.TRYING, Input.FAILURE): _complete,
        (_S.PROCEEDING, Input.PROVISIONAL): _provide,
        (_S.PROCEEDING, Input.SUCCESS): _complete,
        (_S.PROCEEDING, Input.FAILURE): _complete,
        (_S.PROCEEDING, Input.REQUEST): _resend,
        (_S.PROCEEDING, Input.TRANSPORT_ERROR): Machine._fail,
        (_S.COMPLETED, Input.REQUEST): _resend,
        (_S.COMPLETED, Timer.TIMER_J): Machine._finish,
        (_S.COMPLETED, Input.TRANSPORT_ERROR): Machine._fail,
    }
