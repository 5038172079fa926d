"""Requests geosip originates itself (Kamailio's tm UAC: t_uac_send, uac_req_send,
dispatcher's OPTIONS probes, msilo's deliveries, acc's ACCOUNTING requests).

`Tm.send_local(request, dst_uri)` starts a local client transaction: one Branch
(branch.py) driven by a `LocalTransaction`, which stands where a proxy's cell would
and hands the final response to `result` (a gevent AsyncResult) and to an optional
callback. Nothing here blocks: responses and timers are handled inline by the reader
and the scheduler; callers wait on `result` (or `Tm.request`) in their own greenlet.

A transaction that cannot be sent (no route, transport failure) ends with a local 503,
one that gets no final response with a local 408, as for a proxied branch (RFC 3261
§8.1.3.1, §17.1.1.2). INVITE is refused: a locally originated INVITE would need a
user-agent dialog (ACK for 2xx, BYE) that no module needs yet.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from typing import TYPE_CHECKING, Any, Callable

from gevent.event import AsyncResult

from geosip.sip import Request, Response

from .branch import Branch
from .scheduler import SLACK

if TYPE_CHECKING:
    from .manager import Tm

log = logging.getLogger("geosip.tm")

_NEVER = float("inf")
_serial = itertools.count(1)

FinalCallback = Callable[[Response], None]


class _NoRecordRoute:
    """The part of a RequestContext a Branch reads: local requests are not
    record-routed by us (they start here)."""

    record_route_wanted = False


class LocalTransaction:
    __slots__ = ("tm", "request", "key", "branch", "timers", "fr_inv_timer", "to_tag",
                 "final_sent", "result", "on_final", "ctx", "_wake", "_done")

    def __init__(self, tm: "Tm", request: Request,
                 on_final: FinalCallback | None = None) -> None:
        if request.method in ("INVITE", "ACK", "CANCEL"):
            raise ValueError(f"geosip cannot originate {request.method} requests")
        self.tm = tm
        self.request = request
        # Unique per local request: branch_for() derives the Via branch from it.
        self.key = ("local", str(next(_serial)), secrets.token_hex(8))
        self.timers = tm.timers
        self.fr_inv_timer = tm.fr_inv_timer
        self.to_tag = None
        self.final_sent = False
        self.result: AsyncResult = AsyncResult()
        self.on_final = on_final
        self.ctx = _NoRecordRoute()
        self.branch = Branch(self, 0, request)  # type: ignore[arg-type]
        self._wake = _NEVER
        self._done = False

    def start(self, dst_uri: str | None) -> None:
        branch = self.branch
        found = self.tm.core.destination(self.request, dst_uri)
        if found is None:
            branch.fail_locally(503)
            self._check_done()
            return
        branch.send(*found)

    # ---- what a Branch asks of its cell ----------------------------------------------

    def post(self, event: tuple[Any, ...]) -> None:
        if event[0] == "response":
            event[1].on_response(event[2])

    def on_timers(self, now: float) -> None:
        if self._done or now + SLACK < self._wake:
            return
        self._wake = _NEVER
        branch = self.branch
        branch.fire_timers(now, now + SLACK)
        if not self._done:
            deadlines = branch.deadlines()
            if deadlines:
                self.wake_at(min(deadlines))

    def wake_at(self, deadline: float) -> None:
        if deadline < self._wake:
            self._wake = deadline
            self.tm.scheduler.wake_at(deadline, self)

    def forward_upstream(self, response: Response, status: int | None = None) -> None:
        """Provisionals and 2xx retransmissions: nothing to pass on."""

    def branch_final(self, branch: Branch, response: Response) -> None:
        if self.final_sent:
            return
        self.final_sent = True
        self.result.set(response)
        if self.on_final is not None:
            try:
                self.on_final(response)
            except Exception:  # a module's callback must not break the reader
                log.exception("local %s: final response callback failed",
                              self.request.method)

    def _check_done(self) -> None:
        if self._done or not self.branch.terminated:
            return
        self._done = True
        self.branch.cell = None  # type: ignore[assignment]

    @property
    def done(self) -> bool:
        return self._done
