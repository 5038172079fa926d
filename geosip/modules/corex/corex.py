"""KSR.corex: core extensions (Kamailio's corex module, KEMI exports): branches, the
Request-URI user, User-Agent, sending raw data, the socket requests leave from.

append_branch* add a branch to the destination set the next relay forks to (Kamailio's
dset); a q-value is kept where tm's serial forking reads it (tm api: set_q). As in
Kamailio, at most MAX_BRANCHES targets (the Request-URI and 11 appended branches).
send_data resolves the URI (RFC 3263) and may connect: it is a blocking call (engine.py
runs it outside Lua). set_send_socket is $fs = ... (script/pv.py set_send_socket): the
core then sends the request's branches from that listener (core.send_socket).
"""

from __future__ import annotations

import logging
import re

from geosip.core.context import RequestContext
from geosip.core.resolve import ResolveError, resolve
from geosip.modules.tm.api import q_of, set_q
from geosip.sip import ParseError, SipUri, TelUri, parse_uri
from geosip.script.exports import ksr
from geosip.script.ksr.hdr import message
from geosip.script.pv import set_send_socket as _set_socket
from geosip.transport.base import SendError

log = logging.getLogger("geosip.modules.corex")

MAX_BRANCHES = 12     # Kamailio's max_branches core parameter (default)
_Q = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")   # RFC 3261 §25.1 qvalue


def _append(ctx: RequestContext, uri: str, dst_uri: str | None, q: float | None) -> int:
    if len(ctx.branches) >= MAX_BRANCHES - 1:
        log.error("corex: max number of branches (%d) exceeded", MAX_BRANCHES)
        return -1
    try:
        parse_uri(uri)
    except ParseError as exc:
        log.error("corex: cannot append branch %r: %s", uri[:80], exc.reason)
        return -1
    ctx.append_branch(uri, dst_uri)
    if q is not None:
        set_q(ctx, uri, q)
    return 1


@ksr("append_branch", returns="1 appended, -1 too many branches")
def append_branch(ctx: RequestContext) -> int:
    """Add the current Request-URI (with $du and its q) as a new branch."""
    q = q_of(ctx, None)
    return _append(ctx, ctx.msg.uri_text, ctx.dst_uri, None if q < 0 else q)


@ksr("append_branch_uri", "s", returns="1 appended, -1 not a URI or too many branches")
def append_branch_uri(ctx: RequestContext, uri: str) -> int:
    """Add a branch to `uri`."""
    return _append(ctx, uri, None, None)


@ksr("append_branch_uri_q", "ss", returns="1 appended, -1 not a URI, bad q or too many")
def append_branch_uri_q(ctx: RequestContext, uri: str, q: str) -> int:
    """Add a branch to `uri` with q-value `q` ("0" to "1", up to three decimals)."""
    if _Q.fullmatch(q.strip()) is None:
        log.error("corex.append_branch_uri_q: bad q-value %r", q)
        return -1
    return _append(ctx, uri, None, float(q))


@ksr("has_ruri_user", returns="1 the Request-URI has a user part, -1 not")
def has_ruri_user(ctx: RequestContext) -> int:
    try:
        uri = ctx.msg.uri
    except ParseError:
        return -1
    if isinstance(uri, TelUri):
        return 1
    return 1 if isinstance(uri, SipUri) and uri.user else -1


@ksr("has_user_agent", returns="1 the message has a User-Agent header, -1 not")
def has_user_agent(ctx: RequestContext) -> int:
    return 1 if message(ctx).has("user-agent") else -1


@ksr("send_data", "ss", blocking=True,
     returns="1 sent, -1 bad URI, no route (DNS, no socket) or send failure")
def send_data(ctx: RequestContext, uri: str, data: str) -> int:
    """Send `data` as it is to the address `uri` resolves to (RFC 3263), over the URI's
    transport, from one of our sockets."""
    try:
        endpoints = resolve(parse_uri(uri))
    except (ParseError, ResolveError) as exc:
        log.error("corex.send_data: no destination for %r: %s", uri[:80], exc)
        return -1
    transport = ctx.core.transport
    payload = data.encode("utf-8", "surrogateescape")
    for endpoint in endpoints:
        listener = transport.listener_for(endpoint.proto, endpoint.ipv6)
        if listener is None:
            continue
        try:
            transport.send(payload, endpoint, listener=listener)
        except SendError as exc:
            log.info("corex.send_data: cannot send to %s: %s", endpoint, exc)
            continue
        return 1
    return -1


@ksr("set_send_socket", "s", returns="1 set, -1 none of our sockets matches")
def set_send_socket(ctx: RequestContext, ssock: str) -> int:
    """Send the request from our socket `ssock` ("proto:host:port", "proto:host" or
    "host:port"), when it can reach the destination (same transport and address
    family); "" lets geosip choose again. Also $fs."""
    return 1 if _set_socket(ctx, ssock) else -1


FUNCTIONS = (append_branch, append_branch_uri, append_branch_uri_q, has_ruri_user,
             has_user_agent, send_data, set_send_socket)
