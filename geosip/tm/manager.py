"""The transaction manager: the tables that match messages to transactions (RFC 3261
§17.1.3, §17.2.3), `relay` (Kamailio's t_relay) and the sending helpers of cells.

Tables hold only live transactions: a cell leaves `servers` and its branches leave
`clients` when their state machines terminate, so `len(tm.servers)` is the live
transaction count (tm:inuse_transactions).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from geosip.sip import Message, Request, Response
from geosip.sip.txn import TimerConfig
from geosip.sip.txn.keys import ClientKey, ServerKey, server_key
from geosip.transport.base import Endpoint, Inbound, Listener, SendError

from .branch import Branch
from .cell import Cell
from .scheduler import Scheduler
from .uac import FinalCallback, LocalTransaction

if TYPE_CHECKING:
    from geosip.core.context import RequestContext
    from geosip.core.core import Core

log = logging.getLogger("geosip.tm")


@dataclass(frozen=True, slots=True)
class TmConfig:
    """Kamailio's tm parameters, in seconds: fr_timer bounds the wait for any answer
    (Timers B and F), fr_inv_timer the wait for a final after a provisional, wt_timer
    how long a finished transaction stays to absorb retransmissions (TimerConfig.wait;
    None keeps the RFC's 32 s)."""

    fr_timer: float = 30.0
    fr_inv_timer: float = 120.0
    wt_timer: float | None = 5.0
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


class Tm:
    def __init__(self, core: "Core", config: TmConfig) -> None:
        self.core = core
        self.stats = core.stats
        self.configure(config)
        self.scheduler = Scheduler()
        self.servers: dict[ServerKey, Cell] = {}
        self.clients: dict[ClientKey, Branch] = {}
        self._labels = itertools.count(1)

    def configure(self, config: TmConfig) -> None:
        """Apply timers; transactions started afterwards use them."""
        self.config = config
        self.timers = TimerConfig(t1=config.t1, t2=config.t2, t4=config.t4,
                                  timer_b=config.fr_timer, timer_f=config.fr_timer,
                                  wait=config.wt_timer)
        self.fr_inv_timer = config.fr_inv_timer

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()

    # ---- tables ----------------------------------------------------------------------

    def add_cell(self, cell: Cell) -> None:
        # Kamailio names a transaction by (hash index, label): $T(id_index), $T(id_label)
        # and KSR.tmx.t_continue(index, label, ...) use them. The label alone is unique.
        cell.id_label = label = next(self._labels)
        cell.id_index = label & 0xFFFF
        self.servers[cell.key] = cell
        self.stats.inc("tm:UAS_transactions")

    def remove_cell(self, cell: Cell) -> None:
        if self.servers.get(cell.key) is cell:
            del self.servers[cell.key]

    def add_branch(self, branch_id: str, method: str, branch: Branch) -> None:
        self.clients[(branch_id, method)] = branch
        self.stats.inc("tm:UAC_transactions")

    def remove_branch(self, branch_id: str, method: str) -> None:
        self.clients.pop((branch_id, method), None)

    def live(self) -> int:
        """Live transactions: server cells plus client transactions."""
        return len(self.servers) + len(self.clients)

    # ---- relaying --------------------------------------------------------------------

    def relay(self, ctx: "RequestContext") -> bool:
        """t_relay: forward the request statefully to its Request-URI (and the branches
        appended by the route), creating the transaction if the route has not. Returns
        False when no branch could be sent; the route then answers (Kamailio's
        sl_reply_error), or the cell answers with the local 503/500 when it ends."""
        request = ctx.msg
        if request.method == "ACK":  # an ACK has no transaction to create (§17)
            return self.core.forward(ctx)
        cell = ctx.cell
        if cell is None:
            key = server_key(request)
            if key in self.servers:  # a retransmission that raced its original route
                return True
            cell = Cell(self, ctx, key)
            ctx.cell = cell
            cell.start()
        sent = 0
        # The script layer's branch route (KSR.tm.t_on_branch): hook(ctx, request,
        # dst_uri) -> (keep, dst_uri) may change the branch's copy of the request and
        # its destination, or drop the branch.
        hook = ctx.script.extra.get("branch_hook")
        for uri, dst_uri in ctx.targets():
            branch_request = request.copy()
            assert isinstance(branch_request, Request)
            branch_request.uri = uri
            if hook is not None:
                keep, dst_uri = hook(ctx, branch_request, dst_uri)  # type: ignore[operator]
                if not keep:
                    continue
            branch = cell.add_branch(branch_request)
            found = self.core.destination(branch_request, dst_uri)
            if found is None:
                branch.fail_locally(503)
                continue
            dest, listener = found
            if branch.send(dest, listener):  # False: the onsend route dropped it
                sent += 1
        ctx.clear_branches()
        return sent > 0

    # ---- requests of our own (uac.py) ------------------------------------------------

    def send_local(self, request: Request, dst_uri: str | None = None,
                   on_final: "FinalCallback | None" = None) -> "LocalTransaction":
        """Send a request geosip originates to `dst_uri` (else by its Route set and
        Request-URI) in a client transaction of its own; never blocks. Its final
        response (possibly a local 408 or 503) goes to `on_final`, called inline (it must
        not block), and to the returned transaction's `result`."""
        local = LocalTransaction(self, request, on_final)
        local.start(dst_uri)
        return local

    def request(self, request: Request, dst_uri: str | None = None) -> Response:
        """send_local, then wait in this greenlet for the final response."""
        return self.send_local(request, dst_uri).result.get()

    # ---- sending ---------------------------------------------------------------------

    def send_request(self, message: Message, dest: Endpoint, listener: Listener) -> bool:
        try:
            self.core.transport.send(message.to_bytes(), dest, listener=listener)
        except SendError as exc:
            log.info("cannot send %s to %s: %s", message, dest, exc)
            return False
        self.stats.inc("core:fwd_requests")
        return True

    def send_response(self, message: Message, inbound: Inbound, dest: Endpoint) -> bool:
        return self.core.send_response(message, inbound, dest)

    @staticmethod
    def local_tag(key: ServerKey) -> str:
        """The To tag of responses geosip makes for a transaction: the same for every
        response of it, as RFC 3261 §8.2.6.2 requires."""
        return hashlib.md5("|".join(key).encode("utf-8", "surrogateescape"),
                           usedforsecurity=False).hexdigest()[:16]
