"""Pseudo-variables: Kamailio's $ru, $fu, $hdr(name), $var(x), $avp(x), $xavp(a=>b)...
as accessors over a RequestContext, for KSR.pv and KSR.kx (ksr/pv.py, ksr/kx.py).

Contract.
- `parse(name)` turns a PV name into a `Pv` once; an LRU cache keeps CACHE_SIZE names,
  so a script pays the parsing once per name and names built in a loop cannot grow
  memory. Raises PvError for an unknown or malformed name ("unknown pseudo-variable $foo").
- `Pv.get(ctx)` returns str, int, or None for Kamailio's $null (bytes for text that is
  not UTF-8). A malformed header reads as $null, as in Kamailio (which logs an error).
- `Pv.set(ctx, value)` takes str, int, or None to unset. It returns False where Kamailio
  returns -1 for a value the PV refuses (a malformed URI, unsetting $ru) and raises
  PvError for a script bug: a read-only PV or a value of the wrong type.
No accessor blocks or switches greenlets: they run with Lua on the stack.

Which message. Request and branch routes read ctx.msg; reply routes ctx.script.reply
(Kamailio runs them for the reply); failure routes, which KSR.tm marks
(extra[ROUTE_TYPE] == "failure", tm/api.py), the request. $rs, $rr and $T(reply_code)
read ctx.script.reply in reply and failure routes; the R-URI PVs and $du always act on
the request, so a failure route can change them and relay again.

Storage: $var in ctx.script.vars (per message; 0 until set, as Kamailio's $var);
$avp in ctx.script.avps (name -> values, latest first); $xavp in ctx.script.xavps
(name -> items, latest first; an item is {field: [values, latest first]}, or a plain
value after `$xavp(x) = v`); $shv in SHARED, one dict per process.
$snd/$sndto(name) and $sndfrom(name) read ctx.script.extra[ONSEND] = (request, dest,
listener), which the LuaRouter sets while ksr_onsend_route runs ($null elsewhere).
$fs is ctx.send_socket (the socket the core sends from, core.send_socket).
$au $ad $aU $ar read the credentials header, else (after auth's consume_credentials
removed it from the request) the value auth kept for them.
Transformations: `$(name{s.escape.common}{s.len})` (also spelled `${name{...}}`, as
old Kamailio slides do) apply geosip/script/transforms.py to the value; read-only.
Modules add PV classes of their own with `register` ($sht by htable, $dbr by sqlops),
as Kamailio modules export theirs.
Not supported: indexes given by a PV ([$var(i)]), and
$sel beyond via[N] and its branch/host/port/transport/received/rport.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Callable

from geosip.modules.tm.api import ROUTE_TYPE, last_status
from geosip.sip import LocalProtocolError, ParseError, Request, SipUri, TelUri, parse_uri
from geosip.sip.digest import parse_credentials
from geosip.sip.message import Message

from . import transforms

if TYPE_CHECKING:
    from geosip.core.context import RequestContext
    from geosip.transport.base import Listener

log = logging.getLogger("geosip.script")

Value = str | int | bytes | None
Index = int | str | None           # None: no index; "*": all; int: position (-1 last)
Getter = Callable[["RequestContext"], Any]
Setter = Callable[["RequestContext", "str | int | None"], bool]

CACHE_SIZE = 1024
ONSEND = "onsend"                  # ctx.script.extra while ksr_onsend_route runs
CONSUMED = "auth_consumed"         # ctx.script.extra: (header, value) auth consumed
STARTED = int(time.time())         # $TS: when this process started
SHARED: dict[str, str | int] = {}  # $shv: process-wide (not shared between workers)
ALL = "*"


class PvError(ValueError):
    """An unknown or malformed PV name, a read-only PV, or a value of the wrong type."""


class Pv:
    """A parsed pseudo-variable: its name, getter and (when writable) setter."""

    __slots__ = ("name", "_get", "_set")

    def __init__(self, name: str, get: Getter, set_: Setter | None = None) -> None:
        self.name, self._get, self._set = name, get, set_

    def get(self, ctx: "RequestContext") -> Value:
        try:
            value = self._get(ctx)
        except ParseError:
            return None
        return lua_text(value) if isinstance(value, str) else value

    def set(self, ctx: "RequestContext", value: str | int | None) -> bool:
        """Assign (None unsets). Raises PvError when read-only or for a wrong type."""
        if self._set is None:
            raise PvError(f"pseudo-variable {self.name} is read-only")
        try:
            return self._set(ctx, value)
        except (ParseError, LocalProtocolError) as exc:
            log.error("cannot set %s: %s", self.name, exc)
            return False


def lua_text(value: str) -> str | bytes:
    """lupa encodes str as UTF-8; text kept with surrogate escapes goes as raw bytes."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")


def _decoded(data: bytes) -> str | bytes:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def message(ctx: "RequestContext") -> Message:
    """The message the route runs for (see the module docstring)."""
    reply = ctx.script.reply
    if reply is not None and ctx.script.extra.get(ROUTE_TYPE) != "failure":
        return reply
    return ctx.msg


def _need(label: str, value: str | int | None, kind: type | tuple[type, ...]) -> Any:
    """The setters' type check: a script bug, so PvError (the route fails)."""
    if isinstance(value, bool) or not isinstance(value, kind):
        got = "nil" if value is None else "an integer" if isinstance(value, int) else "a string"
        want = "a string" if kind is str else "an integer" if kind is int else "a string or integer"
        raise PvError(f"{label} needs {want} value, got {got}")
    return value


# ---- the Request-URI and $du (always the request) -----------------------------------

def _ruri(ctx: "RequestContext") -> SipUri | TelUri | None:
    uri = ctx.msg.uri
    return uri if isinstance(uri, (SipUri, TelUri)) else None


def _user(uri: Any) -> str | None:
    return uri.user if isinstance(uri, SipUri) else uri.number if isinstance(uri, TelUri) else None


def _host(uri: Any) -> str | None:
    return uri.host if isinstance(uri, SipUri) else None


def _port(uri: Any) -> int | None:
    if isinstance(uri, TelUri):
        return 5060  # no port in the URI: Kamailio's pv_get_xuri_attr answers 5060
    if not isinstance(uri, SipUri):
        return None
    if uri.port is not None:
        return uri.port
    return 5061 if uri.secure or uri.transport == "tls" else 5060


def _set_ru(ctx: "RequestContext", value: str | int | None) -> bool:
    if value is None:
        log.error("cannot unset $ru")  # as Kamailio: "cannot unset R-URI"
        return False
    ctx.msg.uri = parse_uri(_need("$ru", value, str))  # ParseError: -1
    return True


def _set_part(part: str) -> Setter:
    """$rU, $rd, $rp: change one part of the R-URI (None removes a user or port)."""
    label = {"user": "$rU", "host": "$rd", "port": "$rp"}[part]

    def set_(ctx: "RequestContext", value: str | int | None) -> bool:
        uri = _ruri(ctx)
        if part == "port":
            new = _port_value(value)
        elif value is not None:
            new = _need(label, value, str) or None
        else:
            new = None
        if isinstance(uri, TelUri) and part == "user" and new:
            uri = uri.replace(number=new)
        elif isinstance(uri, SipUri) and (new or part != "host"):
            uri = uri.replace(**{part: new})
        else:
            return False
        ctx.msg.uri = parse_uri(str(uri))  # check what was written reads back
        return True
    return set_


def _port_value(value: str | int | None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if not value.isdigit() or len(value) > 5:
            raise ParseError(f"invalid port {value[:20]!r}")
        value = int(value)
    port: int = _need("$rp", value, int)
    if not 0 < port < 65536:
        raise ParseError(f"port {port} out of range")
    return port


def _set_du(ctx: "RequestContext", value: str | int | None) -> bool:
    if value is None or value == "":
        ctx.dst_uri = None  # $du = $null: resetdsturi()
    else:
        ctx.dst_uri = str(parse_uri(_need("$du", value, str)))
    return True


# ---- the message ----------------------------------------------------------------------

_ADDRESS: dict[str, Callable[[Any], Any]] = {
    "uri": lambda a: str(a.uri), "user": lambda a: _user(a.uri), "host": lambda a: _host(a.uri),
    "display": lambda a: a.display, "tag": lambda a: a.tag}


def _address(header: str, part: str) -> Getter:
    """$fu $fU $fd $fn $ft and the $t... twins."""
    pick = _ADDRESS[part]
    if header == "from":
        return lambda ctx: pick(message(ctx).from_)
    return lambda ctx: pick(message(ctx).to)


def _credential(part: str) -> Getter:
    """$au $ad $aU $ar: from Proxy-Authorization, else Authorization (as Kamailio)."""
    def get(ctx: "RequestContext") -> str | None:
        msg = message(ctx)
        value = msg.header("proxy-authorization") or msg.header("authorization")
        if value is None and msg is ctx.msg:
            # consume_credentials removed the header from the request; Kamailio only
            # leaves it out of what it forwards, so $au still reads it.
            consumed = ctx.script.extra.get(CONSUMED)
            value = consumed[1] if isinstance(consumed, tuple) else None
        if value is None:
            return None
        cred = parse_credentials(value)
        user, at, domain = cred.username.partition("@")
        return {"user": user, "domain": domain if at else "", "whole": cred.username,
                "realm": cred.realm}[part] or None
    return get


def _method(ctx: "RequestContext") -> str:
    msg = message(ctx)
    return msg.method if isinstance(msg, Request) else msg.cseq.method


def _content_length(ctx: "RequestContext") -> int | None:
    msg = message(ctx)
    return len(msg.body) if msg.has("content-length") else None


def _flags(attr: str, label: str) -> tuple[Getter, Setter]:
    def set_(ctx: "RequestContext", value: str | int | None) -> bool:
        setattr(ctx.script, attr, 0 if value is None else _need(label, value, int))
        return True
    return (lambda ctx: getattr(ctx.script, attr)), set_


def _set_ru_q(ctx: "RequestContext", value: str | int | None) -> bool:
    ctx.script.extra["ru_q"] = -1 if value is None else _need("$ru_q", value, int)
    return True


def _socket_name(listener: "Listener | None") -> str | None:
    """Kamailio's socket name: proto:host:port."""
    return None if listener is None else f"{listener.proto}:{listener.local.hostport}"


def set_send_socket(ctx: "RequestContext", spec: str | int | None) -> bool:
    """$fs = "proto:host:port" (KSR.corex.set_send_socket): send from that listener;
    False when none of ours matches. None (or "") lets the core choose again."""
    if spec is None or spec == "":
        ctx.send_socket = None
        return True
    text: str = _need("$fs", spec, str)
    listener = ctx.core.myself.socket(text)
    if listener is None:
        log.error("no socket found to match %r", text[:80])
        return False
    ctx.send_socket = listener
    return True


def _route_uri(ctx: "RequestContext") -> str | None:
    """$route_uri (rr): the URI of the top Route header."""
    routes = message(ctx).route
    return str(routes[0].uri) if routes else None


# Kamailio's numbers (ip_addr.h: PROTO_UDP...; AF_INET, AF_INET6) for $snd(proto/af).
_PROTO_NUMBERS = {"udp": 1, "tcp": 2, "tls": 3, "sctp": 4, "ws": 5, "wss": 6}


def _snd(arg: str, label: str, side: str) -> Pv:
    """$snd(name) = $sndto(name): where the request goes; $sndfrom(name): the socket it
    leaves from. name: ip, port, proto (Kamailio's number), sproto, af, buf, len."""
    def endpoint(info: tuple[Any, ...]) -> Any:
        return info[1] if side == "to" else info[2].local
    getters: dict[str, Callable[[tuple[Any, ...]], Any]] = {
        "ip": lambda info: endpoint(info).host,
        "port": lambda info: endpoint(info).port,
        "proto": lambda info: _PROTO_NUMBERS.get(endpoint(info).proto, 0),
        "sproto": lambda info: endpoint(info).proto,
        "af": lambda info: 10 if endpoint(info).ipv6 else 2,
        "buf": lambda info: _decoded(info[0].to_bytes()),
        "len": lambda info: len(info[0].to_bytes()),
    }
    pick = getters.get(arg)
    if pick is None:
        raise PvError(f"unknown pseudo-variable {label}")

    def get(ctx: "RequestContext") -> Any:
        info = ctx.script.extra.get(ONSEND)
        return pick(info) if isinstance(info, tuple) else None
    return Pv(label, get)


# ---- the transaction ($T...) ---------------------------------------------------------

def branch_index(ctx: "RequestContext") -> int:
    """$T_branch_idx: the branch a branch route runs for (extra["branch_idx"], set by
    its runner), else the branch the reply came from (ours is its top Via), else 0."""
    index = ctx.script.extra.get("branch_idx")
    if isinstance(index, int):
        return index
    reply, cell = ctx.script.reply, ctx.cell
    if reply is None or cell is None:
        return 0
    for branch in cell.branches:
        if branch.final is reply:
            return branch.index
    top = reply.top_via.branch
    return next((b.index for b in cell.branches if b.branch_id == top), 0)


def transaction_id(ctx: "RequestContext") -> tuple[int, int] | None:
    """$T(id_index), $T(id_label): the transaction's name (Tm.add_cell gives it, tmx's
    t_suspend/t_continue use it); None without a transaction."""
    cell = ctx.cell
    return None if cell is None else (cell.id_index, cell.id_label)


def _reply(attr: str, null: Any) -> Getter:
    """$rs $rr: the reply a reply or failure route runs for; $null elsewhere."""
    return lambda ctx: null if ctx.script.reply is None else getattr(ctx.script.reply, attr)


def _reply_code(ctx: "RequestContext") -> int:
    """$T(reply_code): the reply a reply/failure route runs for, else the status the
    script last answered with (tm's last_status), else 0 (Kamailio's t->uas.status)."""
    reply = ctx.script.reply
    return reply.status if reply is not None else last_status(ctx) or 0


_T: dict[str, Getter] = {
    "reply_code": _reply_code, "reply_reason": _reply("reason", None),
    "branch_index": branch_index,
    "id_index": lambda ctx: (tid := transaction_id(ctx)) and tid[0],
    "id_label": lambda ctx: (tid := transaction_id(ctx)) and tid[1],
}


# ---- the table of PVs without a name in parentheses -----------------------------------

def _original_uri(ctx: "RequestContext") -> str | None:
    """$ou: the Request-URI as the request arrived, whatever the route changed since
    (read back from the received bytes: nothing is kept per request for it)."""
    line = ctx.inbound.data.lstrip(b"\r\n").split(b"\r\n", 1)[0].split(b" ")
    return line[1].decode("utf-8", "surrogateescape") if len(line) == 3 else None


_SIMPLE: dict[str, tuple[Getter, Setter | None]] = {
    "ru": (lambda ctx: ctx.msg.uri_text, _set_ru),
    "ou": (_original_uri, None),
    "rU": (lambda ctx: _user(_ruri(ctx)), _set_part("user")),
    "rd": (lambda ctx: _host(_ruri(ctx)), _set_part("host")),
    "rp": (lambda ctx: _port(_ruri(ctx)), _set_part("port")),
    "rz": (lambda ctx: ctx.msg.uri.scheme, None),
    "du": (lambda ctx: ctx.dst_uri or None, _set_du),
    "ru_q": (lambda ctx: ctx.script.extra.get("ru_q", -1), _set_ru_q),
    **{f"{h[0]}{code}": (_address(h, part), None) for h in ("from", "to")
       for code, part in (("u", "uri"), ("U", "user"), ("d", "host"), ("n", "display"),
                          ("t", "tag"))},
    "ci": (lambda ctx: message(ctx).call_id, None),
    "cs": (lambda ctx: message(ctx).cseq.number, None),
    "rm": (_method, None),
    "rs": (_reply("status", None), None),
    "rr": (_reply("reason", None), None),
    "si": (lambda ctx: ctx.inbound.source.host, None),
    "sp": (lambda ctx: ctx.inbound.source.port, None),
    "Ri": (lambda ctx: ctx.inbound.listener.local.host, None),
    "Rp": (lambda ctx: ctx.inbound.listener.local.port, None),
    "pr": (lambda ctx: ctx.inbound.source.proto, None),
    "proto": (lambda ctx: ctx.inbound.source.proto, None),
    "ua": (lambda ctx: message(ctx).header("user-agent"), None),
    "ct": (lambda ctx: message(ctx).header("contact"), None),
    "cl": (_content_length, None),
    "rb": (lambda ctx: _decoded(message(ctx).body), None),
    "mb": (lambda ctx: _decoded(message(ctx).to_bytes()), None),
    "ml": (lambda ctx: len(message(ctx).to_bytes()), None),
    "fs": (lambda ctx: _socket_name(ctx.send_socket), lambda ctx, v: set_send_socket(ctx, v)),
    "route_uri": (lambda ctx: _route_uri(ctx), None),
    "mf": _flags("flags", "$mf"),
    "bf": _flags("branch_flags", "$bf"),
    **{name: (_credential(part), None) for name, part in
       (("au", "user"), ("ad", "domain"), ("aU", "whole"), ("ar", "realm"))},
    "TS": (lambda ctx: STARTED, None),
    "Ts": (lambda ctx: ctx.script.extra.setdefault("Ts", int(time.time())), None),
    "T_branch_idx": (branch_index, None),
    "T_reply_code": (_T["reply_code"], None),
    "T_reply_reason": (_T["reply_reason"], None),
}


# ---- containers: $var, $shv, $avp, $xavp ---------------------------------------------

def _scalar(store: Callable[["RequestContext"], dict[str, Any]], key: str, label: str) -> Pv:
    """$var(x), $shv(x): one value; 0 until set and again once unset (Kamailio)."""
    def set_(ctx: "RequestContext", value: str | int | None) -> bool:
        if value is None:
            store(ctx).pop(key, None)
        else:
            store(ctx)[key] = _need(label, value, (str, int))
        return True
    return Pv(label, lambda ctx: store(ctx).get(key, 0), set_)


def _pick(values: list[Any], index: Index) -> Any:
    if index == ALL:
        return ", ".join(map(str, values)) if values else None  # Kamailio joins with ", "
    i = index if isinstance(index, int) else 0
    return values[i] if -len(values) <= i < len(values) else None


def _assign(values: list[Any], index: Index, value: Any) -> bool:
    """Kamailio's assignment to a list: no index adds on top, [*] replaces them all,
    [n] overwrites the n-th (False when there is none); None deletes the same way."""
    if index is None:
        if value is None:
            del values[:1]
        else:
            values.insert(0, value)
    elif not isinstance(index, int):
        values[:] = [] if value is None else [value]
    elif -len(values) <= index < len(values):
        if value is None:
            del values[index]
        else:
            values[index] = value
    else:
        return value is None
    return True


def _avp(key: str, index: Index, label: str) -> Pv:
    key = key[2:] if key.startswith("s:") else key  # $avp(s:x) is $avp(x)

    def set_(ctx: "RequestContext", value: str | int | None) -> bool:
        avps = ctx.script.avps
        values = avps.setdefault(key, [])
        done = _assign(values, index, None if value is None else _need(label, value, (str, int)))
        if not values:
            del avps[key]
        return done
    return Pv(label, lambda ctx: _pick(ctx.script.avps.get(key, []), index), set_)


_XAVP = re.compile(r"(?P<root>[^\[\]=\s]+)(?:\[(?P<ri>[^\]]+)\])?"
                   r"(?:=>(?P<field>[^\[\]=\s]+)(?:\[(?P<fi>[^\]]+)\])?)?")


def _xavp(arg: str, label: str) -> Pv:
    """$xavp(root[i]=>field[j]), assigned as Kamailio's pv_xavp.c does: $xavp(r=>f) = v
    puts a new item {f: [v]} on top of r; $xavp(r[i]=>f) = v adds v to field f of item
    i; an index on the field overwrites; $null deletes the same way (-1 where Kamailio
    silently does nothing: no such item, or an [*] root in an assignment)."""
    m = _XAVP.fullmatch(arg)
    if m is None:
        raise PvError(f"malformed pseudo-variable {label}")
    root, field = m["root"], m["field"]
    ri = _index(m["ri"], label) if m["ri"] else None
    fi = _index(m["fi"], label) if m["fi"] else None

    def get(ctx: "RequestContext") -> Any:
        item = _pick(ctx.script.xavps.get(root, []), 0 if ri == ALL else ri)
        if field is None:
            return f"<<xavp:{id(item):x}>>" if isinstance(item, dict) else item
        return _pick(item.get(field, []), 0 if fi == ALL else fi) if isinstance(item, dict) \
            else None

    def set_(ctx: "RequestContext", value: str | int | None) -> bool:
        if value is not None:
            value = _need(label, value, (str, int))
        items: list[Any] = ctx.script.xavps.setdefault(root, [])  # type: ignore[arg-type]
        try:
            if field is None:
                return _assign(items, ri, value)
            if value is not None and ri is None:
                items.insert(0, {field: [value]})
                return True
            chosen = [i for i in (items if ri == ALL else [_pick(items, ri)]) if isinstance(i, dict)]
            if value is not None and (ri == ALL or not chosen):
                return False
            done = True
            for item in chosen:
                done = _assign(item.setdefault(field, []), fi, value) and done
                if not item[field]:
                    del item[field]
            return done
        finally:
            if not items:
                del ctx.script.xavps[root]
    return Pv(label, get, set_)


# ---- $hdr(name), $T(...), $sel(...) -------------------------------------------------

_SEL = re.compile(r"via\[(?P<n>[1-9][0-9]{0,2})\]"
                  r"(?:\.(?P<attr>branch|host|port|transport|received|rport))?")


def _sel(arg: str, label: str) -> Pv:
    """$sel(via[N]) and $sel(via[N].branch|host|port|transport|received|rport), N from 1."""
    m = _SEL.fullmatch(arg)
    if m is None:
        raise PvError(f"unsupported select {label}: geosip knows only via[N] and "
                      "via[N].branch/host/port/transport/received/rport")
    n, attr = int(m["n"]) - 1, m["attr"]

    def get(ctx: "RequestContext") -> Any:
        vias = message(ctx).via
        if n >= len(vias):
            return None
        return str(vias[n]) if attr is None else getattr(vias[n], attr)
    return Pv(label, get)


def _t(arg: str, label: str) -> Pv:
    if arg not in _T:
        raise PvError(f"unknown pseudo-variable {label}")
    return Pv(label, _T[arg])


# ---- parsing --------------------------------------------------------------------------

_NAME = re.compile(r"\$(?P<open>\()?(?P<cls>[A-Za-z_][A-Za-z0-9_]*)"
                   r"(?:\((?P<arg>.*)\))?(?:\[(?P<idx>[^\]]*)\])?(?(open)\))", re.S)

_CLASSES: dict[str, Callable[[str, Index, str], Pv]] = {
    "var": lambda arg, index, name: _scalar(lambda ctx: ctx.script.vars, arg, name),
    "shv": lambda arg, index, name: _scalar(lambda ctx: SHARED, arg, name),
    "avp": _avp,
    "xavp": lambda arg, index, name: _xavp(arg, name),
    "hdr": lambda arg, index, name: Pv(name, lambda ctx: _pick(message(ctx).header_all(arg),
                                                                index)),
    "hdrc": lambda arg, index, name: Pv(name, lambda ctx: len(message(ctx).header_all(arg))),
    "T": lambda arg, index, name: _t(arg, name),
    "sel": lambda arg, index, name: _sel(arg, name),
    "snd": lambda arg, index, name: _snd(arg, name, "to"),
    "sndto": lambda arg, index, name: _snd(arg, name, "to"),
    "sndfrom": lambda arg, index, name: _snd(arg, name, "from"),
}
_INDEXED = frozenset(("avp", "hdr"))


def _index(text: str, label: str) -> int | str:
    if text == ALL:
        return ALL
    try:
        return int(text)
    except ValueError:
        raise PvError(f"bad index in {label}: use a number or *") from None


def register(cls: str, factory: Callable[[str, Index, str], Pv]) -> None:
    """A module's PV class: `$cls(arg)` is `factory(arg, index, name)`, which raises
    PvError for a malformed arg."""
    _CLASSES[cls] = factory
    parse.cache_clear()


def _transformed(name: str) -> Pv | None:
    """$(rU{s.len}) or ${rU{s.len}}: the PV inside, read through its transformations."""
    if not (name.startswith("$(") and name.endswith(")")
            or name.startswith("${") and name.endswith("}")) or "{" not in name[2:-1]:
        return None
    try:
        inner, texts = transforms.split(name[2:-1])
        if not texts:
            return None
        run = transforms.compile(texts, name)
    except transforms.TransformError as exc:
        raise PvError(str(exc)) from None
    base = parse(f"$({inner})" if "[" in inner else f"${inner}")
    return Pv(name, lambda ctx: run(base.get(ctx)))


@functools.lru_cache(maxsize=CACHE_SIZE)
def parse(name: str) -> Pv:
    """The accessor for a PV name (cached). Raises PvError naming an unknown or
    malformed name."""
    transformed = _transformed(name)
    if transformed is not None:
        return transformed
    m = _NAME.fullmatch(name)
    if m is None:
        raise PvError(f"unknown pseudo-variable {name}")
    cls, arg, idx = m["cls"], m["arg"], m["idx"]
    if idx is not None and not m["open"]:
        raise PvError(f"malformed pseudo-variable {name}: an index needs $(name(arg)[index])")
    if idx is not None and cls not in _INDEXED:
        raise PvError(f"pseudo-variable {name}: ${cls} takes no index")
    index = _index(idx, name) if idx is not None else None
    if arg is None:
        if cls not in _SIMPLE:
            raise PvError(f"unknown pseudo-variable {name}")
        return Pv(name, *_SIMPLE[cls])
    if cls not in _CLASSES:
        raise PvError(f"unknown pseudo-variable {name}")
    if not arg:
        raise PvError(f"malformed pseudo-variable {name}: empty name")
    return _CLASSES[cls](arg, index, name)


__all__ = ["ALL", "CACHE_SIZE", "CONSUMED", "ONSEND", "Pv", "PvError", "ROUTE_TYPE", "SHARED", "STARTED", "Value",
           "branch_index", "lua_text", "message", "parse", "register", "set_send_socket",
           "transaction_id"]
