"""KSR.tm: creating, matching, relaying and answering the transaction of a request
(Kamailio's tm: t_relay.c, t_lookup.c, t_reply.c; tm README §4).

Everything here that may send (a 100 Trying, a reply, a request) or resolve DNS is
`blocking`: it runs outside Lua in the request's greenlet (engine.py).
"""

from __future__ import annotations

import logging
import re
from typing import cast

from geosip.core.context import RequestContext
from geosip.script.exports import ksr
from geosip.sip import ParseError, parse_uri
from geosip.sip.txn.keys import cancelled_invite_key, server_key

from . import api

log = logging.getLogger("geosip.tm")


def _relay(ctx: RequestContext) -> int:
    if ctx.msg.method == "ACK":  # no transaction: forwarded statelessly (RFC 3261 §17)
        return 1 if ctx.relay() else -1
    cell = api.transaction(ctx)
    if cell is None:
        return 0  # a retransmission: its transaction already handles it
    ctx.script.extra["tm:batch"] = len(cell.branches)  # for t_drop_replies("l")
    return 1 if ctx.relay() else -1


@ksr("t_relay", blocking=True,
     returns="1 when a branch was sent, -1 when none could be (the transaction then "
             "answers 500 itself), 0 for a retransmission absorbed by its transaction")
def t_relay(ctx: RequestContext) -> int:
    """Relay statefully to $du or the Request-URI, plus every appended branch (parallel
    forking), creating the transaction if needed. An ACK is forwarded statelessly."""
    return _relay(ctx)


_PROXY = re.compile(r"(?:(udp|tcp|tls|ws|wss):)?(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(?::(\d{1,5}))?",
                    re.IGNORECASE)


def proxy_uri(spec: str) -> str | None:
    """"[proto:]host[:port]" (Kamailio's t_relay_to proxy) as a destination URI."""
    match = _PROXY.fullmatch(spec.strip())
    if match is None:
        return None
    proto, host, port = match.groups()
    uri = f"sip:{host}" + (f":{port}" if port else "")
    if proto and proto.lower() != "udp":
        uri += f";transport={proto.lower()}"
    try:
        parse_uri(uri)
    except ParseError:
        return None
    return uri


@ksr("t_relay_to_proxy", "s", blocking=True,
     returns="as t_relay; -1 also for a malformed proxy")
def t_relay_to_proxy(ctx: RequestContext, proxy: str) -> int:
    """t_relay to "[proto:]host[:port]" for every branch ("tcp:10.0.0.1:5060",
    "10.0.0.1", "tls:[2001:db8::1]:5061"); $du is left as it was."""
    dst = proxy_uri(proxy)
    if dst is None:
        log.error("t_relay_to_proxy: bad proxy %r", proxy)
        return -1
    saved = ctx.dst_uri
    ctx.dst_uri = dst
    ctx.branches = [(uri, dst) for uri, _ in ctx.branches]
    try:
        return _relay(ctx)
    finally:
        ctx.dst_uri = saved


@ksr("t_newtran", blocking=True,
     returns="1 created, 0 for a retransmission (absorbed), -1 for an ACK or when the "
             "request has its transaction already")
def t_newtran(ctx: RequestContext) -> int:
    """Create the transaction of the request (an INVITE gets 100 Trying); replies and
    relays from now on are stateful, retransmissions are absorbed."""
    if ctx.cell is not None or ctx.msg.method == "ACK":
        return -1
    return 1 if api.transaction(ctx) is not None else 0


@ksr("t_check_trans", blocking=True,
     returns="1 it belongs to a transaction, -1 it does not, 0 handled here: end the "
             "route (a retransmission, an ACK to a negative reply, a matched CANCEL)")
def t_check_trans(ctx: RequestContext) -> int:
    """Kamailio's t_check_trans(). In a reply route: 1 (geosip runs reply routes only
    for transactions). A CANCEL whose INVITE transaction exists is answered 200 and
    cancels its branches, as the core does (RFC 3261 §16.10), and gives 0. A request
    retransmitted while its original was still being routed is handed to the
    original's transaction (which resends its last reply or absorbs the ACK): 0.
    A request that has its own transaction (t_newtran) gives 1; a new one -1."""
    if ctx.script.reply is not None:
        return 1 if ctx.cell is not None else -1
    request, tm = ctx.msg, ctx.core.tm
    if request.method == "CANCEL":
        invite = tm.servers.get(cancelled_invite_key(request))
        if invite is None:
            return -1
        ctx.replied = True
        ctx.core.reply_stateless(request, ctx.inbound, 200, None, None)
        invite.post(("cancel",))
        return 0
    if ctx.cell is not None:
        return 1
    cell = tm.servers.get(server_key(request))
    if cell is None:
        return -1
    cell.post(("request", request, request.method == "ACK"))
    return 0


@ksr("t_lookup_request", returns="1 when the request matches a transaction, -1 otherwise")
def t_lookup_request(ctx: RequestContext) -> bool:
    """Whether a transaction exists for this request (its own included)."""
    return ctx.cell is not None or server_key(ctx.msg) in ctx.core.tm.servers


@ksr("t_lookup_cancel", returns="1 when the CANCEL's INVITE transaction exists, -1 otherwise")
def t_lookup_cancel(ctx: RequestContext) -> bool:
    return (ctx.msg.method == "CANCEL" and
            cancelled_invite_key(ctx.msg) in ctx.core.tm.servers)


@ksr("t_reply", "is", blocking=True,
     returns="1 sent, -1 when a final was sent already, for an ACK or a bad status")
def t_reply(ctx: RequestContext, status: int, reason: str) -> bool:
    """Answer statefully, creating the transaction if the request has none (so its
    retransmissions get the same answer). Headers from KSR.hdr.append_to_reply are
    added; a 3xx lists the appended branches as Contact."""
    return api.reply(ctx, int(status), reason)


t_send_reply = ksr("t_send_reply", "is", blocking=True,
                   returns="as t_reply")(t_reply.fn)


def _set_fr(ctx: RequestContext, fr_inv: float, fr: float) -> bool:
    if fr_inv < 0 or fr < 0:
        return False
    extra = ctx.script.extra
    old_inv, old_fr = cast("tuple[float, float]", extra.get("tm:fr", (0, 0)))
    extra["tm:fr"] = (fr_inv or old_inv, fr or old_fr)
    if ctx.cell is not None:
        api.apply_timers(ctx, ctx.cell)
    return True


@ksr("t_set_fr", "ii")
def t_set_fr(ctx: RequestContext, fr_inv: int, fr: int) -> bool:
    """Per transaction, in ms: fr_inv_timer (an INVITE branch that answered 1xx waits
    that long for a final) and fr_timer (the wait for any answer); 0 leaves one as it
    is. Applies to branches created from now on, in this route or a later one."""
    return _set_fr(ctx, fr_inv, fr)


@ksr("t_set_fr_inv", "i")
def t_set_fr_inv(ctx: RequestContext, fr_inv: int) -> bool:
    """t_set_fr(fr_inv, 0)."""
    return _set_fr(ctx, fr_inv, 0)


@ksr("t_reset_fr", returns="1")
def t_reset_fr(ctx: RequestContext) -> bool:
    """Back to the tm parameters fr_timer and fr_inv_timer for new branches."""
    ctx.script.extra.pop("tm:fr", None)
    cell = ctx.cell
    if cell is not None:
        cell.timers, cell.fr_inv_timer = cell.tm.timers, cell.tm.fr_inv_timer
    return True


FUNCTIONS = (t_relay, t_relay_to_proxy, t_newtran, t_check_trans, t_lookup_request,
             t_lookup_cancel, t_reply, t_send_reply, t_set_fr, t_set_fr_inv, t_reset_fr)
