"""KSR.kx: fast getters of Kamailio's kemix module (src/modules/kemix/kemix_mod.c).

Each reads what the PV of the same meaning reads (geosip/script/pv.py: the request in
request routes, the reply in reply routes; the R-URI and $du always the request), with
Kamailio's null handling: get_* gives nil, gete_* "", getw_* "<null>".

Left out: get_ouri (geosip does not keep the R-URI as received once a route changes
it), get_env/get_envn (the sandbox gives scripts no access to the environment),
get_send_sock_name/get_rcv_sock_name (geosip sockets have no names). get_def & co read
DEFINES, which the configuration fills (Kamailio's #!define / -A NAME=VALUE); empty
until it does.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from geosip.core.context import RequestContext
from geosip.sip import ParseError, Response
from geosip.transport.base import Endpoint

from ..exports import KsrFunction, ModuleExports, ksr
from ..pv import Value, lua_text, message, parse

DEFINES: dict[str, str] = {}  # name -> value, set by the configuration loader

# Kamailio's protocol ids (ip_addr.h: PROTO_UDP...); 7 is PROTO_OTHER.
PROTO_IDS = {"udp": 1, "tcp": 2, "tls": 3, "sctp": 4, "ws": 5, "wss": 6}
_NULL = {"get": None, "gete": "", "getw": "<null>"}


def _getter(fname: str, read: Callable[[RequestContext], Value], what: str,
            kind: str = "string") -> KsrFunction:
    null = _NULL.get(fname.split("_", 1)[0])  # gets_status: nil

    def fn(ctx: RequestContext) -> Value:
        value = read(ctx)
        return null if value is None else lua_text(value) if isinstance(value, str) else value
    fn.__doc__ = f"{what}." if null is None else f"{what}; {null!r} when there is none."
    returns = f"{kind}, nil when absent" if null is None else f"{kind}, {null!r} when absent"
    return ksr(fname, returns=returns)(fn)


def _pv(name: str) -> Callable[[RequestContext], Value]:
    return parse(name).get


def _family(base: str, pv_name: str, what: str, modes: tuple[str, ...] = ("get", "gete", "getw")
            ) -> list[KsrFunction]:
    read = _pv(pv_name)
    return [_getter(f"{mode}_{base}", read, what) for mode in modes]


def _hostport(endpoint: Endpoint) -> str:
    return f"{endpoint.proto}:{endpoint.hostport}"


def _srcuri(ctx: RequestContext) -> str:
    """get_src_uri(): sip:ip:port, with ;transport= unless UDP."""
    source = ctx.inbound.source
    suffix = "" if source.proto == "udp" else f";transport={source.proto}"
    return f"sip:{source.hostport}{suffix}"


def _cturi(ctx: RequestContext) -> str | None:
    try:
        contacts = message(ctx).contact
    except ParseError:
        return None
    return str(contacts[0].uri) if contacts else None


def _nhuri(ctx: RequestContext) -> str:
    return ctx.dst_uri or ctx.msg.uri_text


def _advertised(ctx: RequestContext) -> tuple[str, int]:
    listener = ctx.inbound.listener
    if not listener.advertise:
        return listener.local.host, listener.local.port
    host, port = _split(listener.advertise)
    return host, port or listener.local.port


def _split(hostport: str) -> tuple[str, int | None]:
    host, _, port = hostport.rpartition(":") if not hostport.endswith("]") else (hostport, "", "")
    if not host or not port.isdigit():
        return hostport, None
    return host, int(port)


def _send_sock_port(ctx: RequestContext) -> int:
    sock = ctx.send_socket   # set_send_socket / $fs
    return sock.local.port if sock is not None else 0


def _body(ctx: RequestContext) -> Value:
    body = parse("$rb").get(ctx)
    return body or None  # kemix: an empty body is null


def _int(fname: str, read: Callable[[RequestContext], int], returns: str, doc: str) -> KsrFunction:
    def fn(ctx: RequestContext) -> int:
        return read(ctx)
    fn.__doc__ = doc
    return ksr(fname, returns=returns)(fn)


def _status(ctx: RequestContext) -> int:
    msg = message(ctx)
    return msg.status if isinstance(msg, Response) else -1


def _gets_status(ctx: RequestContext) -> str | None:
    msg = message(ctx)
    return str(msg.status) if isinstance(msg, Response) else None


def _defn(value: str | None) -> int:
    text = (value or "").strip()
    digits = text[1:] if text[:1] in "+-" else text
    return int(text) if digits.isdigit() and digits.isascii() and len(digits) < 19 else 0


@ksr("get_def", "s", returns="the value of the define, \"\" when not defined")
def get_def(ctx: RequestContext, name: str) -> str:
    """Value of a configuration define (Kamailio's #!define NAME VALUE)."""
    return DEFINES.get(name, "")


@ksr("get_defn", "s", returns="the define's value as an integer, 0 when not defined")
def get_defn(ctx: RequestContext, name: str) -> int:
    """Value of a configuration define as an integer."""
    return _defn(DEFINES.get(name))


@ksr("ifdef", "s", returns="1 when defined, -1 otherwise")
def ifdef(ctx: RequestContext, name: str) -> bool:
    """Whether a configuration define exists."""
    return name in DEFINES


@ksr("ifndef", "s", returns="1 when not defined, -1 otherwise")
def ifndef(ctx: RequestContext, name: str) -> bool:
    """Whether a configuration define is missing."""
    return name not in DEFINES


def _functions() -> tuple[KsrFunction, ...]:
    src: Callable[[RequestContext], Any] = lambda ctx: ctx.inbound.source
    rcv: Callable[[RequestContext], Any] = lambda ctx: ctx.inbound.listener.local
    out: list[KsrFunction] = [
        _getter("get_ruri", _pv("$ru"), "The Request-URI"),
        *_family("ruser", "$rU", "User part of the Request-URI"),
        *_family("rhost", "$rd", "Host part of the Request-URI"),
        _getter("get_furi", _pv("$fu"), "URI of the From header"),
        *_family("fuser", "$fU", "User part of the From URI"),
        *_family("fhost", "$fd", "Host part of the From URI"),
        _getter("get_turi", _pv("$tu"), "URI of the To header"),
        *_family("tuser", "$tU", "User part of the To URI"),
        *_family("thost", "$td", "Host part of the To URI"),
        *_family("duri", "$du", "The destination URI ($du)"),
        *[_getter(f"{m}_cturi", _cturi, "URI of the first Contact") for m in _NULL],
        _getter("get_nhuri", _nhuri, "The next hop: $du when set, else the Request-URI"),
        _getter("get_srcuri", _srcuri, "The source as a SIP URI (sip:ip:port;transport=...)"),
        _getter("get_srcaddr_sock", lambda ctx: _hostport(src(ctx)),
                "The source as proto:ip:port"),
        *_family("ua", "$ua", "The User-Agent header"),
        _getter("get_srcip", lambda ctx: src(ctx).host, "Source IP address"),
        _getter("get_srcport", lambda ctx: src(ctx).port, "Source port", "integer"),
        _getter("get_send_sock", _pv("$fs"), "The forced send socket (proto:ip:port)"),
        _int("get_send_sock_port", _send_sock_port, "the port, 0 when none is forced",
             "Port of the forced send socket."),
        _getter("get_rcvip", lambda ctx: rcv(ctx).host, "IP address the message came in on"),
        _getter("get_rcvport", lambda ctx: rcv(ctx).port, "Port the message came in on",
                "integer"),
        _getter("get_rcvadvip", lambda ctx: _advertised(ctx)[0],
                "Advertised address of the receiving socket (else its IP)"),
        _getter("get_rcvadvport", lambda ctx: _advertised(ctx)[1],
                "Advertised port of the receiving socket (else its port)", "integer"),
        _getter("get_rcvaddr_sock", lambda ctx: _hostport(rcv(ctx)),
                "The receiving socket as proto:ip:port"),
        _getter("get_proto", _pv("$pr"), "Transport of the message: udp, tcp, tls, ws, wss"),
        _int("get_protoid", lambda ctx: PROTO_IDS.get(src(ctx).proto, 7),
             "Kamailio's protocol id (1 udp, 2 tcp, 3 tls, 4 sctp, 5 ws, 6 wss)",
             "Protocol id of the transport."),
        *_family("au", "$au", "User of the credentials (Proxy-Authorization, else Authorization)"),
        _getter("get_method", _pv("$rm"), "Method (of the CSeq for a reply)"),
        _int("get_status", _status, "the status code, -1 for a request",
             "Status code of the reply."),
        _getter("gets_status", _gets_status, "Status code of the reply as a string"),
        *[_getter(f"{m}_body", _body, "The message body") for m in _NULL],
        _int("get_bodylen", lambda ctx: len(message(ctx).body), "the body length in bytes",
             "Length of the message body."),
        _int("get_timestamp", lambda ctx: int(time.time()), "seconds since the epoch",
             "Current Unix time."),
        _getter("get_callid", lambda ctx: parse("$ci").get(ctx) or "", "The Call-ID"),
        _int("get_conid", lambda ctx: ctx.inbound.conn_id if ctx.inbound.conn_id is not None
             else -1, "the connection id, -1 for UDP", "Id of the TCP/TLS/WS connection."),
        _getter("get_msgbuf", _pv("$mb"), "The whole message as it would be sent"),
        _int("get_msglen", lambda ctx: len(message(ctx).to_bytes()), "length in bytes",
             "Length of the whole message."),
        _int("get_msgtype", lambda ctx: 2 if isinstance(message(ctx), Response) else 1,
             "1 for a request, 2 for a reply", "Kind of message the route runs for."),
        get_def, get_defn, ifdef, ifndef,
    ]
    return tuple(out)


EXPORTS = ModuleExports(name="kx", ksr=_functions(),
                        doc="Fast getters of Kamailio's kemix module (KSR.kx).")
