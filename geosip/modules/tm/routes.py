"""KSR.tm: routes armed on the transaction (tm README §4.6-4.9, §4.50).

- t_on_failure(name): `name` runs once when every branch has failed, before the best
  response goes upstream; it may relay again (serial forking) or answer. Kamailio
  disarms it each time: arm it again in the failure route for the next failover.
- t_on_reply(name): `name` runs for each response of the transaction (after
  ksr_reply_route), in the transaction's greenlet; KSR.drop() there drops a
  provisional (a final is always forwarded, as in Kamailio's named reply routes).
- t_on_branch(name): `name` runs for each new branch before it is sent, with $ru/$du
  and the message being that branch's copy; KSR.drop() there discards the branch.

The handlers installed on the RequestContext (failure_handler, reply_handler) and the
branch hook of Tm.relay (ctx.script.extra["branch_hook"]) mark the route type
(api.route_kind) and hand over to the LuaRouter or run the route themselves.

As in Kamailio's KEMI, arming does not check that the function exists (a KSR function
must not look into the script's Lua tables while Lua is running, see api.has_route):
a missing route is logged when it is due, and the transaction goes on without it.
"""

from __future__ import annotations

import logging

from geosip.core.context import RequestContext
from geosip.script.exports import ksr
from geosip.sip import Request, Response

from . import api

log = logging.getLogger("geosip.tm")


def _missing(ctx: RequestContext, name: str | None, what: str) -> None:
    # Called from the transaction, never with Lua running: the lookup is safe here.
    if name and not api.has_route(ctx, name):
        log.error("%s(%r): the script defines no function %s()", what, name, name)


def _on_failure(ctx: RequestContext, best: Response) -> None:
    _missing(ctx, ctx.script.on_failure, "t_on_failure")
    with api.route_kind(ctx, "failure"):
        ctx.core.router.failure(ctx, best)  # type: ignore[attr-defined]


def _on_reply(ctx: RequestContext, response: Response) -> bool:
    _missing(ctx, ctx.script.on_reply, "t_on_reply")
    with api.route_kind(ctx, "onreply"):
        keep = ctx.core.router.reply(ctx, response)  # type: ignore[attr-defined]
    return keep or response.status >= 200


def _on_branch(ctx: RequestContext, request: Request,
               dst_uri: str | None) -> tuple[bool, str | None]:
    """Tm.relay's branch hook: run the branch route on this branch's request."""
    name = ctx.script.on_branch
    if not name:
        return True, dst_uri
    script = ctx.script
    saved = ctx.msg, ctx.dst_uri, script.dropped
    ctx.msg, ctx.dst_uri, script.dropped = request, dst_uri, False
    cell = ctx.cell
    script.extra["branch_idx"] = len(cell.branches) if cell is not None else 0
    try:
        api.run_route(ctx, name, "branch", answer=False)
        return not script.dropped, ctx.dst_uri
    finally:
        ctx.msg, ctx.dst_uri, script.dropped = saved
        script.extra.pop("branch_idx", None)


@ksr("t_on_failure", "s", returns="1 (\"\" disarms)")
def t_on_failure(ctx: RequestContext, name: str) -> bool:
    """Run route `name` when the transaction's branches have all failed."""
    if not name:
        ctx.script.on_failure, ctx.failure_handler = None, None
        return True
    ctx.script.on_failure, ctx.failure_handler = name, _on_failure
    return True


@ksr("t_on_reply", "s", returns="1 (\"\" disarms)")
def t_on_reply(ctx: RequestContext, name: str) -> bool:
    """Run route `name` for every response of the transaction."""
    if not name:
        ctx.script.on_reply, ctx.reply_handler = None, None
        return True
    ctx.script.on_reply, ctx.reply_handler = name, _on_reply
    return True


@ksr("t_on_branch", "s", returns="1 (\"\" disarms)")
def t_on_branch(ctx: RequestContext, name: str) -> bool:
    """Run route `name` for each branch created by the next relays, before it is sent."""
    if not name:
        ctx.script.on_branch = None
        ctx.script.extra.pop("branch_hook", None)
        return True
    ctx.script.on_branch = name
    ctx.script.extra["branch_hook"] = _on_branch
    return True


_TARGETS = {"failure_route": lambda ctx: ctx.script.on_failure is not None,
            "branch_route": lambda ctx: ctx.script.on_branch is not None,
            "onreply_route": lambda ctx: ctx.script.on_reply is not None}


@ksr("t_is_set", "s", returns="1 when that route is armed, -1 when not or for an unknown "
                              "target")
def t_is_set(ctx: RequestContext, target: str) -> bool:
    """target: "failure_route", "branch_route" or "onreply_route"."""
    test = _TARGETS.get(target)
    if test is None:
        log.error("t_is_set: unknown target %r", target)
        return False
    return test(ctx)


FUNCTIONS = (t_on_failure, t_on_reply, t_on_branch, t_is_set)
