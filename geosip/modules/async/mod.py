"""async's exports (STYLE.md item 4): KSR.async.

- ms_sleep(ms) / sleep(s) (geosip extensions): wait, then go on with the next line of
  the same route, Lua locals intact. The route's coroutine yields; its greenlet sleeps
  outside Lua and other requests are routed meanwhile (engine.py). No transaction is
  created: a retransmission arriving during the sleep is routed too, unless the
  script created the transaction first (t_newtran) or checks KSR.tmx.t_precheck_trans.
- route(name, s) / ms_route(name, ms) (Kamailio's): suspend the request's
  transaction (tmx api), and after the delay run route `name` for it in the request's
  own greenlet, as a failure-type route (t_relay, t_reply work there). They return 0
  at once, as Kamailio's do (a native script then ends its route); in Lua the route
  goes on, so end it after the call (`KSR.x.exit()` or return), as Kamailio's KEMI
  examples do.
"""

from __future__ import annotations

import logging

import gevent

from geosip.core.context import RequestContext
from geosip.modules.tm import api as tm
from geosip.modules.tmx import api as tmx
from geosip.script.exports import ModuleExports, ksr

log = logging.getLogger("geosip.async")


@ksr("ms_sleep", "i", blocking=True, returns="1 after the wait, -1 for a negative time")
def ms_sleep(ctx: RequestContext, ms: int) -> bool:
    """geosip extension: wait `ms` milliseconds, then continue the route in place."""
    if ms < 0:
        return False
    gevent.sleep(ms / 1000)
    return True


@ksr("sleep", "i", blocking=True, returns="1 after the wait, -1 for a negative time")
def sleep(ctx: RequestContext, seconds: int) -> bool:
    """geosip extension: wait `seconds`, then continue the route in place."""
    if seconds < 0:
        return False
    gevent.sleep(seconds)
    return True


def _route_later(ctx: RequestContext, name: str, delay: float) -> int:
    if delay < 0 or not tm.has_route(ctx, name):
        log.error("async route %r in %ss: no such route or a negative time", name, delay)
        return -1
    cell = tmx.suspend(ctx)
    if cell is None:
        return -1
    index, label = cell.id_index, cell.id_label
    # The timer's callback runs in the event loop: it only posts the continuation to
    # the transaction, whose greenlet runs the route.
    timer = gevent.get_hub().loop.timer(delay)

    def due() -> None:
        timer.close()
        tmx.resume(index, label, lambda c: tm.run_route(c, name, "failure"))

    timer.start(due)
    return 0


@ksr("route", "si", blocking=True,
     returns="0 the transaction is suspended and `name` will run; -1 on error")
def route(ctx: RequestContext, name: str, seconds: int) -> int:
    """Continue the request in route `name` after `seconds` (Kamailio's async_route)."""
    return _route_later(ctx, name, seconds)


@ksr("ms_route", "si", blocking=True,
     returns="0 the transaction is suspended and `name` will run; -1 on error")
def ms_route(ctx: RequestContext, name: str, ms: int) -> int:
    """Continue the request in route `name` after `ms` milliseconds."""
    return _route_later(ctx, name, ms / 1000)


EXPORTS = ModuleExports(
    name="async",
    ksr=(ms_sleep, sleep, route, ms_route),
    doc="Asynchronous routing: sleep in place, or suspend and continue in a route.",
)
