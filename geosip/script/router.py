"""The Lua router: Kamailio's KEMI routes as geosip's Router (core/router.py).

- `ksr_request_route()` runs for every new request.
- A failure route armed with KSR.tm.t_on_failure("name") runs once when the
  transaction's branches have all failed (serial forking), a reply route armed with
  t_on_reply("name") for each response, and `ksr_reply_route()` for every response
  that belongs to a transaction.
- `ksr_onsend_route()`, when the script defines it, runs just before each forwarded
  request first leaves (t_relay branches, forward()), with $snd(ip/port/proto/...)
  naming the destination; KSR.x.drop() there cancels that send (Kamailio's
  onsend_route). A script without it pays nothing.
A script error ends the route: it is logged with the script's file and line and a
request that was not answered yet gets 500, once.
"""

from __future__ import annotations

import logging

from geosip.core.context import RequestContext
from geosip.core.router import Router
from geosip.sip import Request, Response
from geosip.transport.base import Endpoint, Listener

from .engine import Engine, ScriptError
from .pv import ONSEND

log = logging.getLogger("geosip.script")


class LuaRouter(Router):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def request(self, ctx: RequestContext) -> None:
        if self.engine.script.function("ksr_reply_route") is not None:
            ctx.reply_handler = self.reply  # every response of the transaction
        if self.engine.script.function("ksr_onsend_route") is not None:
            ctx.send_handler = self.onsend
        self._run("ksr_request_route", ctx)

    def onsend(self, ctx: RequestContext, request: Request, dest: Endpoint,
               listener: Listener) -> bool:
        """The send handler (RequestContext.send_handler): run ksr_onsend_route for a
        request about to leave; False when the route dropped it. It may run inside a
        KSR call (t_relay, forward): the engine then runs it nested (Engine.run), and it
        cannot wait."""
        script = ctx.script
        saved = script.dropped
        script.extra[ONSEND] = (request, dest, listener)
        script.dropped = False
        try:
            self._run("ksr_onsend_route", ctx, answer=False)
            return not script.dropped
        finally:
            del script.extra[ONSEND]
            script.dropped = saved

    def failure(self, ctx: RequestContext, best: Response) -> None:
        """The handler t_on_failure arms (RequestContext.failure_handler)."""
        name = ctx.script.on_failure
        ctx.script.on_failure = None  # Kamailio disarms it; the route may arm it again
        if name:
            ctx.script.reply = best
            try:
                self._run(name, ctx)
            finally:
                ctx.script.reply = None

    def reply(self, ctx: RequestContext, response: Response) -> bool:
        """The handler for responses: ksr_reply_route, then the armed reply route.
        Returns False when a route dropped the response (KSR.x.drop / drop())."""
        ctx.script.reply = response
        ctx.script.dropped = False
        try:
            self._run("ksr_reply_route", ctx, answer=False)
            if ctx.script.on_reply and not ctx.script.dropped:
                self._run(ctx.script.on_reply, ctx, answer=False)
            return not ctx.script.dropped
        finally:
            ctx.script.reply = None

    def event(self, fname: str, ctx: RequestContext, *args: object) -> bool:
        """An event callback: `fname(evname, ...)`; a script error is logged and the
        event goes on as if the function had returned."""
        try:
            return self.engine.run(fname, ctx, *args)
        except ScriptError as exc:
            log.error("event callback %s: %s", fname, exc)
            return True

    def _run(self, name: str, ctx: RequestContext, answer: bool = True) -> None:
        try:
            self.engine.run(name, ctx)
        except ScriptError as exc:
            log.error("route %s: %s", name, exc)
            if answer and not ctx.replied and ctx.msg.method != "ACK":
                ctx.reply(500, "Server Internal Error")
