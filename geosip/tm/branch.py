"""One branch of a proxied request: its client transaction (RFC 3261 §17.1), the
CANCEL that may follow it (§9.1), and what it answered.

A branch is driven by its cell (cell.py): the cell hands it responses and timer
wake-ups, and the branch reports its final response back with `cell.branch_final`.
A branch that times out reports a local 408, one whose transport fails a local 503
(§16.7 step 6, §8.1.3.1).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from geosip.core.context import RequestContext
from geosip.core.via import branch_for, our_via
from geosip.sip import Request, Response
from geosip.sip.txn import (CancelTimer, ClientInvite, ClientNonInvite, Send, StartTimer,
                            Terminated, TimedOut, ToTU, TransportFailed)
from geosip.sip.txn.actions import Action
from geosip.transport.base import Endpoint, Listener

from .requests import make_ack, make_cancel

if TYPE_CHECKING:
    from .cell import Cell

log = logging.getLogger("geosip.tm")


class Branch:
    __slots__ = ("cell", "index", "request", "machine", "dest", "listener", "branch_id",
                 "final", "provisional", "cancel_pending", "cancel_machine", "fr_inv_deadline")

    def __init__(self, cell: "Cell", index: int, request: Request) -> None:
        self.cell = cell
        self.index = index
        self.request = request
        self.machine: ClientInvite[Any] | ClientNonInvite[Any] | None = None
        self.dest: Endpoint | None = None
        self.listener: Listener | None = None
        self.branch_id = ""
        self.final: Response | None = None
        self.provisional = False
        self.cancel_pending = False
        self.cancel_machine: ClientNonInvite[Any] | None = None
        self.fr_inv_deadline: float | None = None

    @property
    def pending(self) -> bool:
        """No final response yet."""
        return self.final is None

    @property
    def terminated(self) -> bool:
        return ((self.machine is None or self.machine.terminated) and
                (self.cancel_machine is None or self.cancel_machine.terminated))

    # ---- sending ---------------------------------------------------------------------

    def send(self, dest: Endpoint, listener: Listener) -> bool:
        """Put our Via on the request and start its client transaction towards `dest`
        (from the socket the script forced, if any). False when onsend_route dropped
        the request: the branch then fails as a send failure does (local 503)."""
        tm = self.cell.tm
        ctx = self.cell.ctx
        # Script hooks apply to proxied requests; geosip's own (uac.py) have no script
        # context, and Kamailio runs no onsend_route for tm's local requests either.
        proxied = isinstance(ctx, RequestContext)
        if proxied:
            listener = tm.core.send_socket(ctx, dest, listener)
        self.dest = dest
        self.listener = listener
        # Derived from the server transaction: a retransmission that arrives after the
        # transaction is gone (wt_timer) is forwarded with the same branch, and the next
        # hop absorbs it as the retransmission it is (RFC 3261 §17.2.3).
        self.branch_id = branch_for(self.cell.key, self.index)
        request = self.request
        if ctx.record_route_wanted:
            tm.core.record_route(ctx, request, listener)
        request.prepend_value("Via", our_via(listener, self.branch_id))
        if proxied and not ctx.may_send(request, dest, listener):  # before the first send only
            log.info("branch %d of %s: dropped by onsend_route", self.index, request)
            self.fail_locally(503)
            return False
        config = self.cell.timers  # per transaction (t_set_fr)
        if request.method == "INVITE":
            self.machine = ClientInvite(request, config=config, reliable=dest.reliable,
                                        ack_factory=lambda resp: make_ack(request, resp))
        else:
            self.machine = ClientNonInvite(request, config=config, reliable=dest.reliable)
        tm.add_branch(self.branch_id, request.method, self)
        self._actions(self.machine, self.machine.start(time.monotonic()))
        return True

    def fail_locally(self, status: int) -> None:
        """The branch could not even be sent (no route, no socket): a local final."""
        self._final(self._local_response(status))

    def cancel(self) -> None:
        """CANCEL this branch: now if it answered provisionally, else once it does
        (§9.1); a non-INVITE branch is not cancelled, it completes by itself."""
        if self.request.method != "INVITE" or self.final is not None:
            return
        if not self.provisional:
            self.cancel_pending = True
            return
        if self.cancel_machine is not None or self.listener is None or self.dest is None:
            return
        cancel = make_cancel(self.request)
        self.cancel_machine = ClientNonInvite(cancel, config=self.cell.tm.timers,
                                              reliable=self.dest.reliable)
        self.cell.tm.add_branch(self.branch_id, "CANCEL", self)
        self._actions(self.cancel_machine, self.cancel_machine.start(time.monotonic()))

    # ---- events ----------------------------------------------------------------------

    def on_response(self, response: Response) -> None:
        now = time.monotonic()
        if response.cseq.method == "CANCEL":
            if self.cancel_machine is not None:
                self._actions(self.cancel_machine,
                              self.cancel_machine.on_response(response, response.status, now))
            return
        if self.machine is not None:
            self._actions(self.machine, self.machine.on_response(response, response.status, now))

    def deadlines(self) -> list[float]:
        """Every pending deadline of this branch (its machines' timers, fr_inv_timer)."""
        out = [*self.machine.timers.values()] if self.machine is not None else []
        if self.cancel_machine is not None:
            out += self.cancel_machine.timers.values()
        if self.fr_inv_deadline is not None:
            out.append(self.fr_inv_deadline)
        return out

    def fire_timers(self, now: float, due: float) -> None:
        """Fire every timer whose deadline is at or before `due`."""
        for machine in (self.machine, self.cancel_machine):
            if machine is None:
                continue
            for timer, deadline in list(machine.timers.items()):
                if deadline <= due:
                    self._actions(machine, machine.on_timer(timer, now))
        if self.fr_inv_deadline is not None and self.fr_inv_deadline <= due and self.pending:
            # Kamailio's fr_inv_timer (RFC 3261 §16.8 timer C): give up on the branch.
            self.fr_inv_deadline = None
            self.cancel()
            self._final(self._local_response(408))

    def _actions(self, machine: ClientInvite[Any] | ClientNonInvite[Any],
                 actions: list[Action[Any]]) -> None:
        cell = self.cell
        if cell is None:  # the transaction ended while an earlier action ran
            return
        tm = cell.tm
        now = time.monotonic()
        failed = False
        for action in actions:
            if isinstance(action, Send):
                assert self.dest is not None and self.listener is not None
                if not tm.send_request(action.message, self.dest, self.listener):
                    failed = True  # reported after the list (actions.py contract)
            elif isinstance(action, StartTimer):
                cell.wake_at(now + action.delay)
            elif isinstance(action, ToTU):
                if machine is self.machine:
                    self._to_tu(action.message)
            elif isinstance(action, TimedOut):
                if machine is self.machine:
                    self._final(self._local_response(408))
            elif isinstance(action, TransportFailed):
                if machine is self.machine:
                    self._final(self._local_response(503))
            elif isinstance(action, Terminated):
                method = "CANCEL" if machine is self.cancel_machine else self.request.method
                tm.remove_branch(self.branch_id, method)
                cell._check_done()
            elif not isinstance(action, CancelTimer):
                raise AssertionError(f"unknown action {action!r}")
        if failed and not machine.terminated:
            self._actions(machine, machine.on_transport_error(now))

    def _to_tu(self, response: Response) -> None:
        status = response.status
        if status < 200:
            if not self.provisional:
                self.provisional = True
                if self.cancel_pending:
                    self.cancel()
                elif self.request.method == "INVITE":
                    self.fr_inv_deadline = time.monotonic() + self.cell.fr_inv_timer
                    self.cell.wake_at(self.fr_inv_deadline)
            if status > 100 and not self.cell.final_sent:
                self.cell.forward_upstream(response)
            return
        if self.final is None:
            self._final(response)
        elif 200 <= status < 300:  # a retransmitted 2xx (RFC 6026 Accepted): pass it on
            self.cell.forward_upstream(response)

    def _final(self, response: Response) -> None:
        if self.final is not None:
            return
        self.final = response
        self.fr_inv_deadline = None
        self.cell.branch_final(self, response)

    def _local_response(self, status: int) -> Response:
        """A response geosip makes for this branch, addressed upstream (built from the
        cell's request, so it carries no Via of ours for the cell to pop)."""
        return self.cell.request.make_response(status, to_tag=self.cell.to_tag)
