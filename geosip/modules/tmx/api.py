"""Suspending a transaction and continuing it later (Kamailio's t_suspend/t_continue,
used by KSR.tmx and KSR.async).

Contract. `suspend(ctx)` creates the request's transaction if needed and suspends it:
neither the end of the route nor its last failed branch answers the caller while it
is suspended (Cell.suspended); the request's greenlet goes on serving the transaction
(retransmissions are absorbed, a CANCEL ends it with 487). The transaction is named by
(cell.id_index, cell.id_label), Kamailio's $T(id_index)/$T(id_label).

`resume(index, label, fn)` takes it out of the registry and posts `fn(ctx)` to the
transaction, so the continuation runs in the transaction's own greenlet, never inside
the caller's route (a route calling KSR.tmx.t_continue is running Lua: it must not
run another route there). When `fn` returns, the transaction settles as after any
route: if nothing was relayed or answered the caller gets 500.

A transaction that stays suspended longer than its fr_inv_timer (INVITE) or fr_timer
(other methods) is answered 408, as Kamailio's blind branch times out.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

import gevent

from geosip.modules.tm import api as tm
from geosip.tm.cell import Cell

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

log = logging.getLogger("geosip.tmx")

# (index, label) -> (the transaction, its expiry timer on the event loop)
_suspended: dict[tuple[int, int], tuple[Cell, Any]] = {}


def suspend(ctx: "RequestContext") -> Cell | None:
    """Suspend the request's transaction (created if needed); None when it cannot be:
    an ACK, a retransmission, or a transaction that has sent its final response.
    Sends a 100 Trying when it creates an INVITE transaction: call it from a blocking
    KSR function."""
    cell = tm.transaction(ctx)
    if cell is None or cell.final_sent or cell.done:
        return None
    if not cell.suspended:
        cell.suspended = True
        key = (cell.id_index, cell.id_label)
        ctx.script.extra["t_id"] = key  # what $T(id_index)/$T(id_label) read (script/pv.py)
        limit = cell.fr_inv_timer if cell.request.method == "INVITE" else cell.timers.f
        # A loop timer only schedules (no greenlet switch in the caller's KSR call) and
        # is stopped on resume, so a continued transaction is not kept alive by it.
        timer = gevent.get_hub().loop.timer(limit)
        timer.start(_expire, key)
        _suspended[key] = (cell, timer)
    return cell


def resume(index: int, label: int, fn: Callable[["RequestContext"], object]) -> bool:
    """Continue suspended transaction (index, label) with fn(ctx) in its greenlet.
    False when no such transaction is suspended (unknown, continued already, timed
    out or cancelled)."""
    entry = _suspended.pop((index, label), None)
    if entry is None:
        return False
    cell, timer = entry
    timer.close()
    if not cell.suspended or cell.final_sent or cell.done:
        return False
    if not cell.active:  # nobody serves it any more: nothing can run the continuation
        cell.suspended = False
        return False
    cell.post(("call", lambda: _continue(cell, fn)))
    return True


def pending() -> int:
    """How many transactions are suspended now."""
    return len(_suspended)


def _continue(cell: Cell, fn: Callable[["RequestContext"], object]) -> None:
    if not cell.suspended or cell.final_sent:
        return  # cancelled or timed out meanwhile
    cell.suspended = False
    ctx = cell.ctx
    try:
        fn(ctx)
    finally:
        if ctx.cell is cell:
            cell.settle()


def _expire(key: tuple[int, int]) -> None:
    """Runs in the event loop (must not block): hand the 408 to the cell's greenlet."""
    entry = _suspended.pop(key, None)
    if entry is None:
        return
    cell, timer = entry
    timer.close()
    if cell.suspended and not cell.final_sent and cell.active:
        log.info("transaction %s:%s: suspended too long, answering 408", *key)
        cell.post(("call", lambda: _timeout(cell)))
    else:
        cell.suspended = False


def _timeout(cell: Cell) -> None:
    if cell.suspended and not cell.final_sent:
        cell.suspended = False
        cell.reply(408)


__all__ = ["pending", "resume", "suspend"]
