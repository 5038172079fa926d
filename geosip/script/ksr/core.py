"""KSR core functions (Kamailio's KEMI core exports, src/core/kemi.c): logging, message,
branch and script flags, method and transport tests, Request-URI and destination
changes, forward, is_myself*.

Every function takes the RequestContext of the running route first (the engine binds
it). Return values are Kamailio's: the tests and setters that Kamailio types as
SR_KEMIP_BOOL give Lua true/false (`if KSR.is_INVITE() then`), forward/forward_uri/
add_tcp_alias* give 1 or -1, the loggers 1. Only forward/forward_uri may wait (DNS,
stream sends): they are `blocking` and run outside Lua (engine.py); the rest never
switch greenlets.

In a reply route (ctx.script.reply set) the method tests look at the reply's CSeq
method, as Kamailio's do for a reply; everything else acts on the request.

Left out (geosip has no equivalent yet): add_local_rport, set_advertised_address/port,
set_forward_close/no_connect, set_reply_close/no_connect, to_UDP...to_IPv6 (onsend
route), route(name), is_GET/POST/PUT/DELETE (no HTTP). KSR.xlog.* is the xlog module
(geosip/modules/xlog, loaded by default).
"""

from __future__ import annotations

import logging
from typing import Callable, cast

from geosip.core.context import RequestContext
from geosip.sip import ParseError, SipUri, parse_uri
from geosip.transport.base import Endpoint, normalize_host

from ..exports import KsrFunction, ModuleExports, ksr

script_log = logging.getLogger("geosip.script.log")

MAX_FLAG = 31      # Kamailio's flag_t has 32 bits: flags 0..31
MAX_BRANCHES = 12  # Kamailio's default max_branches: branch flags exist for 0..11
TRUE = "true on success, false on failure"


def _fn(name: str, args: str, fn: Callable[..., object], doc: str,
        returns: str = TRUE) -> KsrFunction:
    """A boolean KsrFunction from a small function (a lambda) and its doc."""
    return KsrFunction(name, fn, args, False, returns, doc, boolean=True)


def _bool(name: str, args: str = "", returns: str = TRUE) -> Callable[..., KsrFunction]:
    """@ksr for Kamailio's SR_KEMIP_BOOL functions: Lua gets true/false."""
    return ksr(name, args, returns=returns, boolean=True)


# ---- logging -------------------------------------------------------------------------

_LEVELS = {"dbg": logging.DEBUG, "info": logging.INFO, "notice": logging.INFO,
           "warn": logging.WARNING, "err": logging.ERROR, "crit": logging.CRITICAL}


def _logger(name: str, level: int) -> KsrFunction:
    def log(ctx: RequestContext, message: str) -> int:
        script_log.log(level, "%s", message)
        return 1
    log.__doc__ = f"Log `message` at {logging.getLevelName(level).lower()} level."
    return ksr(name, "s", returns="1")(log)


_LOGGERS = tuple(_logger(name, level) for name, level in _LEVELS.items())


@ksr("log", "ss", returns="1")
def log_(ctx: RequestContext, level: str, message: str) -> int:
    """KSR.log(level, message): level is dbg, info, notice, warn, err or crit (anything
    else logs as err, as Kamailio does)."""
    script_log.log(_LEVELS.get(level.lower(), logging.ERROR), "%s", message)
    return 1


@ksr("get_debug", returns="the log level in Kamailio's numbers: 3 dbg ... -1 err, -2 crit")
def get_debug(ctx: RequestContext) -> int:
    """The effective level of the script's logger as Kamailio's debug value."""
    level = script_log.getEffectiveLevel()
    return 3 if level <= logging.DEBUG else 2 if level <= logging.INFO else (
        0 if level <= logging.WARNING else -1 if level <= logging.ERROR else -2)


@ksr("set_drop", returns="1")
def set_drop(ctx: RequestContext) -> int:
    """Mark the message dropped and go on with the route (Kamailio's KSR.set_drop):
    a reply route's reply is not forwarded, a branch route's branch is not sent."""
    ctx.script.dropped = True
    return 1


drop = ksr("drop", returns="1")(set_drop.fn)  # issue 4: KSR.drop() marks and continues

# ---- flags ---------------------------------------------------------------------------


def _flag_ok(flag: float) -> bool:
    return flag == int(flag) and 0 <= flag <= MAX_FLAG


@_bool("setflag", "i")
def setflag(ctx: RequestContext, flag: int) -> bool:
    """Set message flag 0..31; false when out of range."""
    if not _flag_ok(flag):
        return False
    ctx.script.flags |= 1 << int(flag)
    return True


@_bool("resetflag", "i")
def resetflag(ctx: RequestContext, flag: int) -> bool:
    if not _flag_ok(flag):
        return False
    ctx.script.flags &= ~(1 << int(flag))
    return True


@_bool("isflagset", "i", returns="true when the flag is set, false when not (or out of range)")
def isflagset(ctx: RequestContext, flag: int) -> bool:
    return _flag_ok(flag) and bool(ctx.script.flags >> int(flag) & 1)


# Branch flags: branch 0 (the Request-URI's) in ScriptState.branch_flags, the others
# in extra["bflags"] = {branch index: flags}.
def _bflags(ctx: RequestContext, branch: int) -> int:
    if branch == 0:
        return ctx.script.branch_flags
    bflags = cast("dict[int, int]", ctx.script.extra.get("bflags", {}))
    return bflags.get(branch, 0)


def _set_bflags(ctx: RequestContext, branch: int, value: int) -> None:
    if branch == 0:
        ctx.script.branch_flags = value
    else:
        ctx.script.extra.setdefault("bflags", {})[branch] = value  # type: ignore[index]


def _branch_ok(flag: float, branch: float) -> bool:
    return _flag_ok(flag) and branch == int(branch) and 0 <= branch < MAX_BRANCHES


@_bool("setbiflag", "ii")
def setbiflag(ctx: RequestContext, flag: int, branch: int) -> bool:
    """Set branch flag `flag` of branch `branch` (0 is the Request-URI's)."""
    if not _branch_ok(flag, branch):
        return False
    _set_bflags(ctx, int(branch), _bflags(ctx, int(branch)) | 1 << int(flag))
    return True


@_bool("resetbiflag", "ii")
def resetbiflag(ctx: RequestContext, flag: int, branch: int) -> bool:
    if not _branch_ok(flag, branch):
        return False
    _set_bflags(ctx, int(branch), _bflags(ctx, int(branch)) & ~(1 << int(flag)))
    return True


@_bool("isbiflagset", "ii", returns="true when set, false when not (or out of range)")
def isbiflagset(ctx: RequestContext, flag: int, branch: int) -> bool:
    return _branch_ok(flag, branch) and bool(_bflags(ctx, int(branch)) >> int(flag) & 1)


setbflag = _fn("setbflag", "i", lambda ctx, flag: setbiflag.fn(ctx, flag, 0),
               "Set branch flag `flag` of branch 0.")
resetbflag = _fn("resetbflag", "i", lambda ctx, flag: resetbiflag.fn(ctx, flag, 0),
                 "Reset branch flag `flag` of branch 0.")
isbflagset = _fn("isbflagset", "i", lambda ctx, flag: isbiflagset.fn(ctx, flag, 0),
                 "Test branch flag `flag` of branch 0.", "true when set, false when not")


def _sflag(ctx: RequestContext, flag: float, op: str) -> bool:
    # Script flags: per message here (Kamailio keeps them per process, reset per message).
    if not _flag_ok(flag):
        return False
    value: int = ctx.script.extra.get("sflags", 0)  # type: ignore[assignment]
    bit = 1 << int(flag)
    if op == "test":
        return bool(value & bit)
    ctx.script.extra["sflags"] = value | bit if op == "set" else value & ~bit
    return True


setsflag = _fn("setsflag", "i", lambda ctx, flag: _sflag(ctx, flag, "set"),
               "Set script flag 0..31 (kept for this message's routes).")
resetsflag = _fn("resetsflag", "i", lambda ctx, flag: _sflag(ctx, flag, "reset"),
                 "Reset script flag 0..31.")
issflagset = _fn("issflagset", "i", lambda ctx, flag: _sflag(ctx, flag, "test"),
                 "Test script flag 0..31.", "true when set, false when not")

# ---- methods -------------------------------------------------------------------------


def _method(ctx: RequestContext) -> str:
    reply = ctx.script.reply
    return reply.cseq.method if reply is not None else ctx.msg.method


@_bool("is_method", "s", returns="true when the method matches, false otherwise")
def is_method(ctx: RequestContext, methods: str) -> bool:
    """One method name, or several separated by '|' ("INVITE|BYE"); case-insensitive."""
    method = _method(ctx).upper()
    return any(method == m.strip().upper() for m in methods.split("|"))


# is_method_in letters (kemi.c): I A B C M R P S N O F(REFER) U(UPDATE) K(KDMQ); G T V D
# (GET POST PUT DELETE) never match: geosip takes no HTTP.
_LETTERS = {"I": "INVITE", "A": "ACK", "B": "BYE", "C": "CANCEL", "M": "MESSAGE",
            "R": "REGISTER", "P": "PUBLISH", "S": "SUBSCRIBE", "N": "NOTIFY",
            "O": "OPTIONS", "F": "REFER", "U": "UPDATE", "K": "KDMQ"}


@_bool("is_method_in", "s", returns="true when a letter names the method, false otherwise")
def is_method_in(ctx: RequestContext, letters: str) -> bool:
    """Letters: I=INVITE A=ACK B=BYE C=CANCEL M=MESSAGE R=REGISTER P=PUBLISH
    S=SUBSCRIBE N=NOTIFY O=OPTIONS F=REFER U=UPDATE K=KDMQ (any case)."""
    method = _method(ctx)
    return any(_LETTERS.get(c) == method for c in letters.upper())


def _method_test(method: str) -> KsrFunction:
    def test(ctx: RequestContext) -> bool:
        return _method(ctx) == method
    test.__doc__ = f"True for {method} (a reply's CSeq method in a reply route)."
    return _bool(f"is_{method}", returns=f"true for {method}, false otherwise")(test)


_METHOD_TESTS = tuple(_method_test(m) for m in (
    "INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "SUBSCRIBE", "PUBLISH",
    "NOTIFY", "REFER", "INFO", "UPDATE", "PRACK", "MESSAGE", "KDMQ"))

# ---- transport -----------------------------------------------------------------------


def _proto_test(name: str, protos: tuple[str, ...]) -> KsrFunction:
    def test(ctx: RequestContext) -> bool:
        return ctx.inbound.source.proto in protos
    test.__doc__ = f"True when the request came over {'/'.join(protos).upper()}."
    return _bool(name, returns="true when it did, false otherwise")(test)


_PROTO_TESTS = tuple(_proto_test(name, protos) for name, protos in (
    ("is_UDP", ("udp",)), ("is_TCP", ("tcp",)), ("is_TLS", ("tls",)), ("is_WS", ("ws",)),
    ("is_WSS", ("wss",)), ("is_WSX", ("ws", "wss")), ("is_SCTP", ("sctp",))))

_PROTO_LETTERS = {"u": "udp", "t": "tcp", "e": "tls", "v": "ws", "w": "wss", "s": "sctp"}


@_bool("is_proto", "s", returns="true when a letter names the transport, false otherwise")
def is_proto(ctx: RequestContext, letters: str) -> bool:
    """Letters: u=UDP t=TCP e=TLS v=WS w=WSS s=SCTP (any case). geosip has no SCTP."""
    proto = ctx.inbound.source.proto
    return any(_PROTO_LETTERS.get(c) == proto for c in letters.lower())


is_ipv4 = _fn("is_IPv4", "", lambda ctx: not ctx.inbound.listener.local.ipv6,
              "Received on an IPv4 socket.", "true when it was, false otherwise")
is_ipv6 = _fn("is_IPv6", "", lambda ctx: ctx.inbound.listener.local.ipv6,
              "Received on an IPv6 socket.", "true when it was, false otherwise")
is_src_port = _fn("is_src_port", "i", lambda ctx, port: ctx.inbound.source.port == port,
                  "The source port is `port`.", "true when it is, false otherwise")
is_dst_port = _fn("is_dst_port", "i",
                  lambda ctx, port: ctx.inbound.listener.local.port == port,
                  "The local port it arrived on is `port`.", "true when it is, false otherwise")


@_bool("force_rport")
def force_rport(ctx: RequestContext) -> bool:
    """Add rport to the top Via as if the client asked for it (RFC 3581)."""
    ctx.force_rport()
    return True


def _tcp_alias(ctx: RequestContext, port: int) -> bool:
    source, conn_id = ctx.inbound.source, ctx.inbound.conn_id
    if source.proto not in ("tcp", "tls"):
        return True  # Kamailio: nothing to do, success
    if conn_id is None or not 0 < port < 65536:
        return False
    return ctx.core.transport.add_alias(conn_id, Endpoint(source.proto, source.host, port))


add_tcp_alias = KsrFunction(
    "add_tcp_alias", lambda ctx, port: _tcp_alias(ctx, int(port)), "i",
    doc="Reuse this TCP/TLS connection for requests to the source host at `port` (1, "
        "nothing done, on other transports).")
add_tcp_alias_via = KsrFunction(
    "add_tcp_alias_via", lambda ctx: _tcp_alias(ctx, ctx.msg.top_via.port or 5060),
    doc="add_tcp_alias() with the port of the top Via.")

# ---- Request-URI and destination -----------------------------------------------------


def _set_ruri(ctx: RequestContext, text: str) -> bool:
    try:
        uri = parse_uri(text)
        ctx.msg.uri = uri
    except (ParseError, ValueError) as exc:
        script_log.error("invalid Request-URI %r: %s", text, exc)
        return False
    return True


@_bool("seturi", "s")
def seturi(ctx: RequestContext, uri: str) -> bool:
    """Rewrite the Request-URI; false when `uri` is not a valid URI."""
    return _set_ruri(ctx, uri)


def _rewrite(ctx: RequestContext, **changes: object) -> bool:
    uri = ctx.msg.uri
    if not isinstance(uri, SipUri):
        return False
    return _set_ruri(ctx, str(uri.replace(**changes)))


@_bool("setuser", "s")
def setuser(ctx: RequestContext, user: str) -> bool:
    """Set the user part of a SIP Request-URI ("" removes it); false for other URIs."""
    return _rewrite(ctx, user=user or None, password=None)


@_bool("sethost", "s")
def sethost(ctx: RequestContext, host: str) -> bool:
    """Set the host part of a SIP Request-URI; false for other URIs or a bad host."""
    return bool(host) and _rewrite(ctx, host=host)


@_bool("setdsturi", "s")
def setdsturi(ctx: RequestContext, uri: str) -> bool:
    """Set the destination URI ($du): where the request goes instead of its R-URI."""
    try:
        parse_uri(uri)
    except ParseError as exc:
        script_log.error("invalid destination URI %r: %s", uri, exc)
        return False
    ctx.dst_uri = uri
    return True


@_bool("resetdsturi")
def resetdsturi(ctx: RequestContext) -> bool:
    ctx.dst_uri = None
    return True


isdsturiset = _fn("isdsturiset", "", lambda ctx: bool(ctx.dst_uri),
                  "The destination URI ($du) is set.", "true when it is, false otherwise")

# ---- is_myself -----------------------------------------------------------------------


def _host_is_myself(ctx: RequestContext, host: str) -> bool:
    """A bare host (no port: any port matches, as Kamailio's check_self(host, 0, 0))."""
    myself = ctx.core.myself
    host = normalize_host(host).lower()
    names = [*myself.aliases, *((l.advertise or "").lower() for l in myself.listeners)]
    return any(_host_part(name) == host for name in names) or any(
        normalize_host(listener.local.host).lower() == host for listener in myself.listeners)


def _host_part(hostport: str) -> str:
    """The host of 'host', 'host:port', '[v6]' or '[v6]:port', normalized."""
    if hostport.startswith("["):
        return normalize_host(hostport[:hostport.find("]") + 1])
    return hostport.split(":", 1)[0] if hostport.count(":") == 1 else normalize_host(hostport)


def _is_myself(ctx: RequestContext, text: str) -> bool:
    if text.startswith(("sip:", "sips:")):
        try:
            return ctx.core.myself.is_myself(parse_uri(text))
        except ParseError:
            return False
    return bool(text) and _host_is_myself(ctx, text)


@_bool("is_myself", "s", returns="true when ours, false otherwise")
def is_myself(ctx: RequestContext, uri: str) -> bool:
    """A SIP URI (host, port) or a bare host names this server (listeners, aliases)."""
    return _is_myself(ctx, uri)


def _myself_of(name: str, get: Callable[[RequestContext], str]) -> KsrFunction:
    def test(ctx: RequestContext) -> bool:
        try:
            return _is_myself(ctx, get(ctx))
        except ParseError:
            return False
    test.__doc__ = f"is_myself() of the {name}."
    return _bool(f"is_myself_{name}", returns="true when ours, false otherwise")(test)


_MYSELF = (
    _myself_of("ruri", lambda ctx: ctx.msg.uri_text),
    _myself_of("furi", lambda ctx: str(ctx.msg.from_.uri)),
    _myself_of("turi", lambda ctx: str(ctx.msg.to.uri)),
    _myself_of("suri", lambda ctx: "sip:{};transport={}".format(
        ctx.inbound.source.hostport, ctx.inbound.source.proto)),
    _myself_of("srcip", lambda ctx: ctx.inbound.source.host),
)

# ---- stateless forwarding ------------------------------------------------------------


@ksr("forward", blocking=True)
def forward(ctx: RequestContext) -> bool:
    """Forward statelessly to $du or the Request-URI (RFC 3261 §16.11)."""
    return ctx.forward()


@ksr("forward_uri", "s", blocking=True)
def forward_uri(ctx: RequestContext, uri: str) -> bool:
    """Forward statelessly to `uri` (host, port and transport taken from it); $du is
    left as it was."""
    try:
        parse_uri(uri)
    except ParseError:
        return False
    saved, ctx.dst_uri = ctx.dst_uri, uri
    try:
        return ctx.forward()
    finally:
        ctx.dst_uri = saved


EXPORTS = ModuleExports(
    name="",
    ksr=(*_LOGGERS, log_, get_debug, set_drop, drop,
         setflag, resetflag, isflagset, setbflag, resetbflag, isbflagset,
         setbiflag, resetbiflag, isbiflagset, setsflag, resetsflag, issflagset,
         is_method, is_method_in, *_METHOD_TESTS,
         *_PROTO_TESTS, is_proto, is_ipv4, is_ipv6, is_src_port, is_dst_port,
         force_rport, add_tcp_alias, add_tcp_alias_via,
         seturi, setuser, sethost, setdsturi, resetdsturi, isdsturiset,
         is_myself, *_MYSELF, forward, forward_uri),
    doc="Kamailio core functions (KSR.<name>).",
)
