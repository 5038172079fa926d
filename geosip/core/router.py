"""The Python router interface, and the two built-in routers.

A router decides what happens to each new request (Kamailio's request_route); the
Lua engine of the next issue is a router too. Its `request(ctx)` runs in the request's
own greenlet and may block (DNS, SQL). It answers with `ctx.reply(...)`, forwards with
`ctx.relay()` (stateful) or `ctx.forward()` (stateless), or does nothing (the request is
dropped). Handlers for the transaction's later events are armed on the context
(`ctx.failure_handler`, `ctx.reply_handler`), and `ctx.send_handler(ctx, request, dest,
listener)` runs just before each forwarded request first leaves (Kamailio's
onsend_route; returning False cancels that send).

Built in, for `geosip run --router NAME` (a dotted `module:attribute` loads another):
- `relay`: what a Kamailio script does around t_relay() to the Request-URI: Max-Forwards
  (483), in-dialog requests by their Route set, Record-Route on dialog-forming
  requests, 416 for a URI it cannot route, keep-alive OPTIONS to itself answered.
- `forward`: the same with stateless forward() (RFC 3261 §16.11).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod

from geosip.sip import SipUri, TelUri

from .context import RequestContext

# Dialog-forming methods get our Record-Route (RFC 3261 §16.6 item 4, RFC 6665).
_RECORD_ROUTE = frozenset(("INVITE", "SUBSCRIBE", "REFER", "NOTIFY"))


class Router(ABC):
    """Base class: define `request`."""

    @abstractmethod
    def request(self, ctx: RequestContext) -> None:
        """Decide what happens to a new request (Kamailio's request_route)."""

    def event(self, fname: str, ctx: RequestContext, *args: object) -> bool:
        """Run the event callback `fname(*args)` (Kamailio's event_route, which KEMI
        modules name with their `event_callback` parameter) on `ctx`, a local context
        (Core.local_context). False when the router has no such callback: Python
        routers have none."""
        return False


class ProxyRouter(Router):
    """The default proxy logic; `stateful` chooses t_relay() or forward()."""

    def __init__(self, stateful: bool = True) -> None:
        self.stateful = stateful

    def send(self, ctx: RequestContext) -> None:
        sent = ctx.relay() if self.stateful else ctx.forward()
        if not sent and not ctx.replied and ctx.msg.method != "ACK":
            ctx.reply(503, "Service Unavailable")

    def request(self, ctx: RequestContext) -> None:
        msg = ctx.msg
        if not ctx.process_maxfwd():
            ctx.reply(483)  # RFC 3261 §16.3 item 3
            return
        if msg.to_tag is not None:  # within a dialog: follow its route set
            if ctx.loose_route() or msg.method == "ACK":
                self.send(ctx)
            else:
                ctx.reply(404, "Not Here")
            return
        if msg.method == "CANCEL":  # no transaction matched it: RFC 3261 §16.10
            ctx.forward()
            return
        ctx.loose_route()  # pre-loaded Route: drop our own entries (§16.4)
        uri = msg.uri
        if not isinstance(uri, (SipUri, TelUri)):
            ctx.reply(416)  # RFC 3261 §8.2.2.1, RFC 4475 unkscm
            return
        if ctx.is_myself() and not msg.has("route"):
            if msg.method == "OPTIONS" and isinstance(uri, SipUri) and uri.user is None:
                ctx.reply(200, "Keepalive")
            else:
                ctx.reply(404, "Not Found")  # no user location before the registrar issue
            return
        if msg.method in _RECORD_ROUTE:
            ctx.record_route()
        self.send(ctx)


def load_router(name: str) -> Router:
    """`relay`, `forward`, or `package.module:attribute` naming a Router class or
    instance. Raises ValueError with what to fix."""
    if name == "relay":
        return ProxyRouter(stateful=True)
    if name == "forward":
        return ProxyRouter(stateful=False)
    module_name, colon, attr = name.partition(":")
    if not colon:
        raise ValueError(f"unknown router {name!r}: use relay, forward or module:attribute")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load router {name!r}: {exc}") from exc
    router = obj() if isinstance(obj, type) else obj
    if not callable(getattr(router, "request", None)):
        raise ValueError(f"router {name!r} has no request(ctx) method")
    return router
