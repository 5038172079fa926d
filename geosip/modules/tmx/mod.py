"""tmx's exports (STYLE.md item 4): KSR.tmx, Kamailio's tm extensions: route-type
tests, the retransmission pre-check, and suspending/continuing a transaction (api.py).
"""

from __future__ import annotations

import logging

import gevent

from geosip.core.context import RequestContext
from geosip.modules.tm import api as tm
from geosip.script.exports import KsrFunction, ModuleExports, ksr
from geosip.sip.txn.keys import ServerKey, server_key

from . import api

log = logging.getLogger("geosip.tmx")

# ---- route types ---------------------------------------------------------------------


def _route_test(name: str, kind: str, what: str) -> KsrFunction:
    def test(ctx: RequestContext) -> bool:
        return tm.route_type(ctx) == kind
    test.__doc__ = f"Running in {what}."
    return ksr(name, returns="1 when it is, -1 otherwise")(test)


_ROUTE_TESTS = (
    _route_test("t_is_request_route", "request", "a request route (ksr_request_route "
                "and the functions it calls)"),
    _route_test("t_is_failure_route", "failure", "a failure route (t_on_failure), or a "
                "route continued by t_continue or KSR.async"),
    _route_test("t_is_reply_route", "onreply", "a reply route (ksr_reply_route, t_on_reply)"),
    _route_test("t_is_branch_route", "branch", "a branch route (t_on_branch)"),
)

# ---- retransmissions -----------------------------------------------------------------

# Requests being routed before their transaction exists: server key -> the greenlet
# routing it (it leaves when that greenlet ends; by then the transaction has it).
_in_progress: dict[ServerKey, gevent.Greenlet] = {}


@ksr("t_precheck_trans", returns="1 when the request is a retransmission of one being "
                                 "processed, -1 otherwise")
def t_precheck_trans(ctx: RequestContext) -> bool:
    """Catch a retransmission that arrives while its original is still in the script
    (before t_relay/t_newtran created the transaction): Kamailio's basic script then
    calls t_check_trans() and ends the route. ACK and CANCEL are never caught."""
    request = ctx.msg
    if request.method in ("ACK", "CANCEL"):
        return False
    key = server_key(request)
    cell = ctx.core.tm.servers.get(key)
    if cell is not None and cell is not ctx.cell:
        return True
    me = gevent.getcurrent()
    other = _in_progress.get(key)
    if other is not None and other is not me and not other.dead:
        return True
    if len(_in_progress) > 10_000:  # greenlets that are not gevent.Greenlets stay listed
        for stale in [k for k, g in _in_progress.items() if g.dead]:
            del _in_progress[stale]
    _in_progress[key] = me  # type: ignore[assignment]
    if isinstance(me, gevent.Greenlet):
        me.link(lambda g: _in_progress.pop(key) if _in_progress.get(key) is g else None)
    return False


# ---- suspend / continue --------------------------------------------------------------


@ksr("t_suspend", blocking=True,
     returns="1 suspended, -1 when it cannot be (ACK, retransmission, answered already)")
def t_suspend(ctx: RequestContext) -> bool:
    """Suspend the request's transaction (created if needed; an INVITE gets 100
    Trying): it stays unanswered after the route ends until KSR.tmx.t_continue names
    it by $T(id_index) and $T(id_label), or until fr_inv_timer/fr_timer (then 408).
    The route goes on: end it (KSR.x.exit()) after storing the two ids."""
    return api.suspend(ctx) is not None


@ksr("t_continue", "iis", returns="1 the continuation is on its way, -1 no such suspended "
                                  "transaction")
def t_continue(ctx: RequestContext, index: int, label: int, route: str) -> bool:
    """Continue suspended transaction (index, label) in route `route`, run for that
    transaction's request in its own greenlet (as a failure-type route: t_relay,
    t_reply... work there). Returns at once; unlike Kamailio the route has not run
    yet when this returns. A missing route is logged then and the request gets 500."""
    return api.resume(int(index), int(label),
                      lambda suspended: tm.run_route(suspended, route, "failure"))


@ksr("t_flush_flags", returns="1")
def t_flush_flags(ctx: RequestContext) -> bool:
    """Nothing to copy: in geosip the message flags are the transaction's flags."""
    return True


EXPORTS = ModuleExports(
    name="tmx",
    ksr=(*_ROUTE_TESTS, t_precheck_trans, t_suspend, t_continue, t_flush_flags),
    doc="tm extensions: route types, retransmission pre-check, suspend/continue.",
)
