"""A stateful proxy transaction (Kamailio's "cell"): one server transaction, the
client transactions of its branches, and the response context of RFC 3261 §16.7.

Contract. The route that relays a request creates the cell in the request's greenlet;
once the route returns, that greenlet serves the cell (`serve`): it takes the cell's
events (responses, retransmissions, CANCEL, timers) from a queue, in order, so that
routes armed on the transaction (failure route, reply route) run in it and no two
events of a transaction ever interleave. When the final response has gone upstream
nothing is left to decide, only to absorb and retransmit: the greenlet ends and the
remaining events are handled inline by the reader or the scheduler ("passive").
The cell leaves the tables when every state machine has terminated.

Proxy rules carried out here (RFC 3261 §16.7, §16.10, §9.1; RFC 6026):
- 100 is absorbed; other 1xx are forwarded; every 2xx is forwarded at once, and
  afterwards the other branches are cancelled (§16.7 step 10).
- A 6xx cancels the other branches; otherwise finals are collected until no branch is
  pending, then the best one (select.py) is forwarded, after the failure handler had
  its chance to start new branches (serial forking).
- A branch that times out counts as a local 408, one whose transport fails as a 503.
- fr_inv_timer: a branch that sent a provisional but no final within it is cancelled
  and counts as 408 (Kamailio's fr_inv_timer, RFC 3261 §16.8 timer C).
- CANCEL: answered 200 by the core; here every pending branch is cancelled, with a
  CANCEL only once it has answered provisionally (§9.1); the caller gets 487.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from gevent.queue import SimpleQueue

from geosip.core.context import TMCB_E2EACK_IN, TMCB_RESPONSE_OUT
from geosip.core.via import is_our_branch, reply_destination
from geosip.sip import Request, Response
from geosip.sip.txn import (CancelTimer, ClientInvite, ClientNonInvite, Send, ServerInvite,
                            ServerNonInvite, StartTimer, Terminated, TimedOut, ToTU,
                            TransportFailed)
from geosip.sip.txn.actions import Action

from .branch import Branch
from .scheduler import SLACK
from .select import best_response, final_status

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

    from .manager import Tm

log = logging.getLogger("geosip.tm")

_STOP = object()
_NEVER = float("inf")


class Cell:
    __slots__ = ("tm", "ctx", "request", "key", "server", "branches", "queue", "active",
                 "final_sent", "cancelled", "to_tag", "failed_over", "_done", "_wake",
                 "reply_dest", "timers", "fr_inv_timer", "suspended", "dropped",
                 "id_index", "id_label")

    def __init__(self, tm: "Tm", ctx: "RequestContext", key: tuple[str, ...]) -> None:
        self.tm = tm
        self.ctx = ctx
        self.request: Request = ctx.msg
        self.key = key
        machine_cls = ServerInvite if self.request.method == "INVITE" else ServerNonInvite
        reliable = ctx.inbound.source.reliable
        if machine_cls is ServerInvite:
            self.server: ServerInvite[Any] | ServerNonInvite[Any] = ServerInvite(
                self.request, config=tm.timers, reliable=reliable,
                trying_factory=lambda req: req.make_response(100))
        else:
            self.server = ServerNonInvite(self.request, config=tm.timers, reliable=reliable)
        self.branches: list[Branch] = []
        self.queue: SimpleQueue[Any] = SimpleQueue()
        self.active = True        # served by its greenlet (False: passive, inline)
        self.final_sent = False
        self.cancelled = False
        self.to_tag = tm.local_tag(key)
        self.failed_over = False
        self._done = False
        self._wake = _NEVER  # when the scheduler is due to call on_timers
        # Every response of the transaction goes where the request's top Via says.
        self.reply_dest = reply_destination(self.request.top_via, ctx.inbound)
        # Script hooks (geosip/modules/tm, tmx). The timers of branches created from now
        # on (KSR.tm.t_set_fr); suspended: neither the end of a route nor a failed last
        # branch answers (KSR.tmx.t_suspend, KSR.async.route); dropped: indexes of
        # branches whose replies no longer count (KSR.tm.t_drop_replies); the
        # transaction's id ($T(id_index), $T(id_label)), set by Tm.add_cell.
        self.timers = tm.timers
        self.fr_inv_timer = tm.fr_inv_timer
        self.suspended = False
        self.dropped: set[int] | None = None
        self.id_index = 0
        self.id_label = 0

    # ---- life ------------------------------------------------------------------------

    def start(self) -> None:
        """Register and (for INVITE) send 100 Trying."""
        self.tm.add_cell(self)
        if isinstance(self.server, ServerInvite):
            self._server_actions(self.server.start(time.monotonic()))

    def serve(self) -> None:
        """Run the cell's event loop in the calling greenlet until the final response
        has been sent; then the cell goes passive."""
        queue = self.queue
        self.settle()
        while not self.final_sent and not self._done:
            event = queue.get()
            if event is _STOP:
                break
            self._handle(event)
        self.active = False
        while not queue.empty():  # whatever arrived meanwhile
            event = queue.get()
            if event is not _STOP:
                self._handle(event)
        self._check_done()

    def post(self, event: tuple[Any, ...]) -> None:
        """Deliver an event: to the cell's greenlet while active, else handle it now."""
        if self.active:
            self.queue.put(event)
        else:
            self._handle(event)

    def on_timers(self, now: float) -> None:
        """Called by the scheduler: fire the due timers of every machine. A wake-up
        made stale by a later re-arming is ignored."""
        if self._done or now + SLACK < self._wake:
            return
        self._wake = _NEVER
        self.post(("timers",))

    def _handle(self, event: tuple[Any, ...]) -> None:
        kind = event[0]
        try:
            if kind == "response":
                event[1].on_response(event[2])
            elif kind == "timers":
                self._fire_timers(time.monotonic())
            elif kind == "request":
                self._server_actions(self._server_request(event[1], event[2]))
            elif kind == "cancel":
                self.cancel_branches(reason_cancel=True)
                if self.suspended and not self.final_sent:  # nothing to wait for
                    self.suspended = False
                    self.reply(487)
            elif kind == "call":  # run a callable in the cell's greenlet (a resumed route)
                event[1]()
        except Exception:
            log.exception("transaction %s: event %s failed", self.key[0], kind)

    def _server_request(self, request: Request, is_ack: bool) -> list[Action[Any]]:
        now = time.monotonic()
        if isinstance(self.server, ServerInvite):
            return self.server.on_request(request, is_ack, now)
        return self.server.on_request(request, now)

    def _fire_timers(self, now: float) -> None:
        due = now + SLACK  # the scheduler batches timers this close together
        for timer, deadline in list(self.server.timers.items()):
            if deadline <= due:
                self._server_actions(self.server.on_timer(timer, now))
        for branch in list(self.branches):
            branch.fire_timers(now, due)
        self._check_done()
        if not self._done:
            deadlines = [*self.server.timers.values()]
            for branch in self.branches:
                deadlines += branch.deadlines()
            if deadlines:
                self.wake_at(min(deadlines))

    def wake_at(self, deadline: float) -> None:
        """Have the scheduler call on_timers at `deadline` (one wake-up per cell: only
        an earlier deadline than the one pending is passed on)."""
        if deadline < self._wake:
            self._wake = deadline
            self.tm.scheduler.wake_at(deadline, self)

    # ---- the server side -------------------------------------------------------------

    def reply(self, status: int, reason: str | None = None,
              headers: list[tuple[str, str]] | None = None, body: bytes = b"",
              content_type: str | None = None) -> bool:
        """t_reply: answer the request from this transaction. False when a final
        response has been sent already (RFC 3261 §16.7: only one final per request)."""
        if self.final_sent:
            return False
        response = self.request.make_response(status, reason, to_tag=self.to_tag)
        for name, value in headers or ():
            response.add_header(name, value)
        if body or content_type:
            response.set_body(body, content_type)
        self.send_upstream(response, status)
        return True

    def send_upstream(self, response: Response, status: int) -> None:
        """Send through the server transaction: provisionals, one final, and 2xx
        repeats (forks and retransmissions, RFC 6026 "Accepted")."""
        if self.server.terminated:  # e.g. its transport failed (RFC 6026 Figure 7)
            return
        if status >= 200:
            if self.final_sent and status >= 300:
                return
            self.final_sent = True
        actions = self.server.send_response(response, status, time.monotonic())
        self._server_actions(actions)
        if status >= 200:
            self.tm.stats.final_reply(status)
        if self.ctx.tm_callbacks:  # modules' TMCB_RESPONSE_OUT (dialog, acc)
            self.ctx.run_tm_callbacks(TMCB_RESPONSE_OUT, response)

    def _server_actions(self, actions: list[Action[Any]]) -> None:
        now = time.monotonic()
        failed = False
        for action in actions:
            if isinstance(action, Send):
                if not self.tm.send_response(action.message, self.ctx.inbound,
                                             self.reply_dest):
                    failed = True  # reported after the list (actions.py contract)
            elif isinstance(action, StartTimer):
                self.wake_at(now + action.delay)
            elif isinstance(action, ToTU):
                if self.ctx.tm_callbacks:  # modules' TMCB_E2EACK_IN (acc's report_ack)
                    self.ctx.run_tm_callbacks(TMCB_E2EACK_IN, action.message)
                self.tm.core.route_ack_for_2xx(action.message, self.ctx.inbound)
            elif isinstance(action, (TimedOut, TransportFailed)):
                log.info("transaction %s: %s on the server side", self.key[0],
                         type(action).__name__)
            elif isinstance(action, Terminated):
                self._check_done()
            elif not isinstance(action, CancelTimer):
                raise AssertionError(f"unknown action {action!r}")
        if failed and not self.server.terminated:
            self._server_actions(self.server.on_transport_error(now))

    # ---- branches --------------------------------------------------------------------

    def add_branch(self, request: Request) -> Branch:
        branch = Branch(self, len(self.branches), request)
        self.branches.append(branch)
        return branch

    def branch_final(self, branch: Branch, response: Response) -> None:
        """A branch completed with `response` (real, or a local 408/503)."""
        status = response.status
        if 200 <= status < 300:
            self.forward_upstream(response)
            self.cancel_branches()
            return
        if self.final_sent:
            return
        if status >= 600:
            self.cancel_branches()
        if self.suspended or any(b.pending for b in self.branches):
            return
        best = best_response(self.finals())
        if self.cancelled:
            self.reply(487)
            return
        if self.ctx.has_failure_handler() and not self.failed_over:
            before = len(self.branches)
            self.ctx.run_failure(best)
            if (self.final_sent or self.suspended or
                    any(b.pending for b in self.branches[before:])):
                return
        self.forward_upstream(best, final_status(best))

    def finals(self) -> list[Response]:
        """The final responses that count for the choice of the best one: every
        branch's, less those the script dropped (t_drop_replies) unless that leaves
        none."""
        finals = [b.final for b in self.branches if b.final is not None]
        dropped = self.dropped
        if dropped:
            kept = [b.final for b in self.branches
                    if b.final is not None and b.index not in dropped]
            if kept:
                return kept
        return finals

    def settle(self) -> None:
        """After a route: with no branch pending and no final sent, answer now: the
        best branch response, or 500 when the route created the transaction but
        neither relayed nor replied."""
        if self.final_sent or self.suspended or any(b.pending for b in self.branches):
            return
        finals = self.finals()
        if not finals:
            log.warning("transaction %s: route ended without relay or reply", self.key[0])
            self.reply(500, "No Route")
            return
        best = best_response(finals)
        self.forward_upstream(best, final_status(best))

    def forward_upstream(self, response: Response, status: int | None = None) -> None:
        """Send a branch's response upstream: our Via popped (RFC 3261 §16.7 step 9)."""
        if not self.ctx.run_reply_handler(response):
            return
        # Changed in place: a received response is forwarded once (a retransmission is a
        # new message object), and best_response copies before merging challenges.
        if is_our_branch(response.top_via.branch):  # local responses carry none of ours
            response.pop_value("Via")
        if status is not None and status != response.status:
            response.set_status(status)
        self.send_upstream(response, response.status)

    def cancel_branches(self, reason_cancel: bool = False) -> None:
        """Cancel every pending INVITE branch (§16.10, §16.7 step 10)."""
        if reason_cancel:
            self.cancelled = True
        for branch in self.branches:
            if branch.pending:
                branch.cancel()

    # ---- end -------------------------------------------------------------------------

    def _check_done(self) -> None:
        if self._done or not self.server.terminated:
            return
        if any(not b.terminated for b in self.branches):
            return
        self._done = True
        self.tm.remove_cell(self)
        if self.active:
            self.queue.put(_STOP)
        # Break the cell <-> branch <-> context cycles so reference counting frees the
        # transaction now instead of leaving it to the cyclic GC (a measurable cost at
        # thousands of transactions in their wait states).
        for branch in self.branches:
            branch.cell = None  # type: ignore[assignment]
        self.branches = []
        self.ctx.cell = None

    @property
    def done(self) -> bool:
        return self._done


__all__ = ["Cell", "ClientInvite", "ClientNonInvite"]
