"""What other modules use of tm (STYLE.md item 4): the request's transaction, stateful
replies with the script's reply headers, route types, running a named route, and the
q-values of the destination set.

Shared keys of ctx.script.extra (the script layer's per-message namespace):
- "route_type": "request" (absent), "failure", "onreply" or "branch": the kind of
  route running now (KSR.tmx.t_is_*_route).
- "reply_headers": [(name, value)] added to every reply the script sends
  (KSR.hdr.append_to_reply fills it).
- "branch_q": {uri: q}, the q-values (0..1) of appended branches, and "ru_q", the
  Request-URI's as $ru_q keeps it (thousandths, -1 unspecified). Unspecified ones are
  tried last by t_next_contacts. Set and read them with set_q() and q_of().
- "tm:*" keys are tm's own.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import gevent

from geosip.sip import Request
from geosip.sip.txn.keys import server_key
from geosip.tm.cell import Cell

if TYPE_CHECKING:
    from geosip.core.context import RequestContext
    from geosip.tm.uac import FinalCallback

log = logging.getLogger("geosip.tm")

ROUTE_TYPE = "route_type"
REPLY_HEADERS = "reply_headers"


# ---- the transaction ---------------------------------------------------------------------


def transaction(ctx: "RequestContext") -> Cell | None:
    """The request's transaction, created (with 100 Trying for an INVITE) if it has none
    yet. None for an ACK (it never has one) and for a retransmission whose original
    already created it (the core gives that transaction the retransmission).
    Sends: callers are `blocking` KSR functions."""
    cell = ctx.cell
    if cell is not None:
        return cell
    request = ctx.msg
    if request.method == "ACK":
        return None
    tm = ctx.core.tm
    key = server_key(request)
    if key in tm.servers:
        return None
    cell = ctx.cell = Cell(tm, ctx, key)
    apply_timers(ctx, cell)
    cell.start()
    return cell


def apply_timers(ctx: "RequestContext", cell: Cell) -> None:
    """Per-transaction fr timers asked for before the transaction existed (t_set_fr)."""
    fr = ctx.script.extra.get("tm:fr")
    if fr is None:
        return
    fr_inv, fr_ms = cast("tuple[float, float]", fr)
    if fr_ms:
        cell.timers = dataclasses.replace(cell.timers, timer_b=fr_ms / 1000,
                                          timer_f=fr_ms / 1000)
    if fr_inv:
        cell.fr_inv_timer = fr_inv / 1000


# ---- replies -----------------------------------------------------------------------------


def reply(ctx: "RequestContext", status: int, reason: str | None,
          stateful: bool = True) -> bool:
    """Answer the request (t_reply / sl_send_reply): through its transaction when it has
    one (created first when `stateful`), else statelessly. The script's reply headers
    are added; a 3xx lists the appended branches as Contacts (Kamailio's t_reply).
    False for an ACK, a status outside 100..699, or when a final was sent already."""
    if ctx.msg.method == "ACK" or not 100 <= status <= 699:
        return False
    status = int(status)
    headers = list(cast("list[tuple[str, str]]", ctx.script.extra.get(REPLY_HEADERS, ())))
    if 300 <= status < 400:
        headers += [("Contact", f"<{uri}>") for uri, _ in ctx.branches]
    if stateful and transaction(ctx) is None:
        return False  # a retransmission: its transaction answers it
    sent = ctx.reply(status, reason or None, headers)
    if sent:
        ctx.script.extra["tm:status"] = status
    return bool(sent)


def last_status(ctx: "RequestContext") -> int | None:
    """The status of the last reply the script sent for this request, if any."""
    return ctx.script.extra.get("tm:status")  # type: ignore[return-value]


# ---- routes ------------------------------------------------------------------------------


def route_type(ctx: "RequestContext") -> str:
    return ctx.script.extra.get(ROUTE_TYPE, "request")  # type: ignore[return-value]


@contextmanager
def route_kind(ctx: "RequestContext", kind: str) -> Iterator[None]:
    """Mark the routes run inside as `kind` (failure, onreply, branch, request)."""
    extra = ctx.script.extra
    saved = extra.get(ROUTE_TYPE)
    extra[ROUTE_TYPE] = kind
    try:
        yield
    finally:
        if saved is None:
            extra.pop(ROUTE_TYPE, None)
        else:
            extra[ROUTE_TYPE] = saved


def engine_of(ctx: "RequestContext") -> Any:
    """The script engine routing this request (the LuaRouter's), or None."""
    return getattr(ctx.core.router, "engine", None)


def has_route(ctx: "RequestContext", name: str) -> bool:
    """Whether the script defines function `name`. Only from blocking KSR functions or
    outside routes: looked up while a route's coroutine runs, lupa 2.8 hands back the
    coroutine's stack instead of the table's value."""
    engine = engine_of(ctx)
    return engine is not None and engine.script.function(name) is not None


def run_route(ctx: "RequestContext", name: str, kind: str, answer: bool = True) -> bool:
    """Run the script's function `name` for ctx as a route of `kind`, in the calling
    greenlet (which must not be running Lua). A script error is logged with its file
    and line and, when `answer`, the request gets 500 if it has no final answer yet.
    False when the route is missing or failed."""
    from geosip.script.engine import ScriptError  # the script layer imports modules

    engine = engine_of(ctx)
    if engine is None:
        log.error("route %s: no script engine routes this request", name)
        return False
    with route_kind(ctx, kind):
        try:
            if engine.run(name, ctx):
                return True
            log.error("route %s: the script defines no function %s()", name, name)
        except ScriptError as exc:
            log.error("route %s: %s", name, exc)
    if answer and not ctx.replied and ctx.msg.method != "ACK":
        ctx.reply(500, "Server Internal Error")
    return False


# ---- requests the script originates (t_uac_send, uac_req_send) --------------------------


def send_local_later(core: Any, request: Request, dst_uri: str | None = None,
                     on_final: "FinalCallback | None" = None) -> None:
    """Tm.send_local in a greenlet of its own: callable from Lua (non-blocking KSR
    functions), since resolving the destination or connecting may switch greenlets.
    A request that cannot be sent ends with a local 503 to `on_final`, as always.
    ValueError at once for INVITE, ACK and CANCEL, which geosip does not originate
    (geosip/tm/uac.py)."""
    if request.method in ("INVITE", "ACK", "CANCEL"):
        raise ValueError(f"geosip cannot originate {request.method} requests")
    gevent.spawn(core.tm.send_local, request, dst_uri, on_final)


# ---- q-values (serial forking) -----------------------------------------------------------


def set_q(ctx: "RequestContext", uri: str | None, q: float | None) -> None:
    """Record the q-value (0..1, None = unspecified) of an appended branch (`uri`), or
    of the Request-URI (None; kept as $ru_q keeps it, in thousandths)."""
    extra = ctx.script.extra
    if uri is None:
        extra["ru_q"] = -1 if q is None else round(q * 1000)
    else:
        branch_q: dict[str, float] = extra.setdefault("branch_q", {})  # type: ignore[assignment]
        if q is None:
            branch_q.pop(uri, None)
        else:
            branch_q[uri] = q


def q_of(ctx: "RequestContext", uri: str | None) -> float:
    """The q-value (0..1) of a branch or of the Request-URI (None); -1 unspecified."""
    extra = ctx.script.extra
    if uri is None:
        value = extra.get("ru_q", -1)
        return -1.0 if value is None or value < 0 else value / 1000  # type: ignore[operator]
    value = cast("dict[str, float]", extra.get("branch_q", {})).get(uri)
    return -1.0 if value is None else float(value)


__all__ = ["REPLY_HEADERS", "ROUTE_TYPE", "apply_timers", "engine_of", "has_route",
           "last_status", "q_of", "reply", "route_kind", "route_type", "run_route",
           "send_local_later", "set_q", "transaction"]
