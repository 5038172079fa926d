"""Pseudo-variables: Kamailio's $ru, $fu, $hdr(name), $var(x), $avp(x), $xavp(a=>b)...
as accessors over a RequestContext, for KSR.pv and KSR.kx (ksr/pv.py, ksr/kx.py).

Contract.
- `parse(name)` turns a PV name into a `Pv` once; results live in an LRU cache of
  CACHE_SIZE names, so a script pays the parsing once per name and a script that
  builds names in a loop cannot grow memory. Raises PvError for an unknown or
  malformed name ("unknown pseudo-variable $foo").
- `Pv.get(ctx)` returns str, int, or None for Kamailio's $null (bytes for text that is
  not UTF-8). A malformed header reads as $null, as in Kamailio (which logs an error).
- `Pv.set(ctx, value)` takes str, int, or None to unset. It returns False where Kamailio
  returns -1 for a value the PV refuses (a malformed URI, unsetting $ru), and raises
  PvError for a script bug: a read-only PV, or a value of the wrong type.
No accessor blocks or switches greenlets (they run with Lua on the stack).

Which message a PV reads (Kamailio: the message the route runs for). Request routes:
ctx.msg. Reply routes: ctx.script.reply. Failure routes read the request when the
router marks them (ctx.script.extra[ROUTE_TYPE] == "failure"), else the winning reply.
$rs, $rr and $T(reply_code) read ctx.script.reply in reply and failure routes; the
R-URI PVs ($ru $rU $rd $rp $rz) and $du always act on the request, so a failure route
can change them and relay again.

Storage: $var in ctx.script.vars (per message; reads 0 until set, like Kamailio);
$avp in ctx.script.avps (name -> values, latest first); $xavp in ctx.script.xavps
(name -> items, latest first; an item is {field: [values, latest first]}, or a plain
value for `$xavp(x) = v`); $shv in SHARED, one dict per process.
Not supported: transformations ({s.len}...), PV indexes such as [$var(i)], and $sel
beyond via[N] and its branch/host/port/transport/received/rport.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Callable

from geosip.sip import LocalProtocolError, ParseError, Response, SipUri, TelUri, parse_uri
from geosip.sip.digest import parse_credentials
from geosip.sip.message import Message

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

log = logging.getLogger("geosip.script")

Value = str | int | bytes | None
Getter = Callable[["RequestContext"], Any]
Setter = Callable[["RequestContext", "str | int | None"], bool]

CACHE_SIZE = 1024
ROUTE_TYPE = "route_type"        # ctx.script.extra key: "failure" in a failure route
STARTED = int(time.time())       # $TS: when this process started
SHARED: dict[str, str | int] = {}  # $shv: process-wide (not shared between workers)
_ALL = "*"


class PvError(ValueError):
    """An unknown or malformed PV name, a read-only PV, or a value of the wrong type."""


class Pv:
    """A parsed pseudo-variable: its name, getter and (for writable ones) setter."""

    __slots__ = ("name", "_get", "_set")

    def __init__(self, name: str, get: Getter, set_: Setter | None = None) -> None:
        self.name, self._get, self._set = name, get, set_

    def get(self, ctx: "RequestContext") -> Value:
        try:
            value = self._get(ctx)
        except ParseError:
            return None
        return _text(value) if isinstance(value, str) else value

    def set(self, ctx: "RequestContext", value: str | int | None) -> bool:
        """Assign (None unsets); raises PvError when read-only or for a wrong type."""
        if self._set is None:
            raise PvError(f"pseudo-variable {self.name} is read-only")
        try:
            return self._set(ctx, value)
        except (ParseError, LocalProtocolError) as exc:
            log.error("cannot set %s: %s", self.name, exc)
            return False


def _text(value: str) -> str | bytes:
    """lupa encodes str as UTF-8; text kept with surrogate escapes goes as raw bytes."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")


def message(ctx: "RequestContext") -> Message:
    """The message a route runs for (see the module docstring)."""
    reply = ctx.script.reply
    if reply is not None and ctx.script.extra.get(ROUTE_TYPE) != "failure":
        return reply
    return ctx.msg


# ---- value checks (the setters' types) ---------------------------------------------

def _str(name: str, value: str | int | None) -> str:
    if not isinstance(value, str):
        raise PvError(f"{name} needs a string value, got {_kind(value)}")
    return value


def _int(name: str, value: str | int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PvError(f"{name} needs an integer value, got {_kind(value)}")
    return value


def _kind(value: object) -> str:
    return "nil" if value is None else "an integer" if isinstance(value, int) else "a string"


# ---- the Request-URI, From and To ---------------------------------------------------

def _ruri(ctx: "RequestContext") -> SipUri | TelUri | None:
    uri = ctx.msg.uri
    return uri if isinstance(uri, (SipUri, TelUri)) else None


def _user(uri: Any) -> str | None:
    return uri.user if isinstance(uri, SipUri) else uri.number if isinstance(uri, TelUri) else None


def _host(uri: Any) -> str | None:
    return uri.host if isinstance(uri, SipUri) else None


def _port(uri: Any) -> int | None:
    if not isinstance(uri, SipUri):
        return None
    if uri.port is not None:
        return uri.port
    return 5061 if uri.secure or uri.transport == "tls" else 5060


def _set_uri(ctx: "RequestContext", text: str) -> bool:
    ctx.msg.uri = parse_uri(text)  # ParseError -> False (Pv.set)
    return True


def _set_ru(ctx: "RequestContext", value: str | int | None) -> bool:
    if value is None:
        log.error("cannot unset $ru")  # Kamailio: "cannot unset R-URI"
        return False
    return _set_uri(ctx, _str("$ru", value))


def _uri_setter(name: str, change: Callable[[Any, Any], Any], check: Callable[..., Any]) -> Setter:
    """$rU/$rd/$rp: change one part of the R-URI and write it back (canonically)."""
    def set_(ctx: "RequestContext", value: str | int | None) -> bool:
        uri = _ruri(ctx)
        if uri is None:
            return False
        new = change(uri, check(name, value) if value is not None else None)
        return new is not None and _set_uri(ctx, str(new))
    return set_


def _change_user(uri: Any, user: str | None) -> Any:
    if isinstance(uri, TelUri):
        return uri.replace(number=user) if user else None
    return uri.replace(user=user or None)


def _change_host(uri: Any, host: str | None) -> Any:
    return uri.replace(host=host) if host and isinstance(uri, SipUri) else None


def _port_value(name: str, value: str | int | None) -> int | None:
    if isinstance(value, str):
        if not value:
            return None
        if not value.isdigit():
            raise ParseError(f"invalid port {value[:20]!r}")
        value = int(value[:6])
    port = _int(name, value)
    if not 0 < port < 65536:
        raise ParseError(f"port {port} out of range")
    return port


def _change_port(uri: Any, port: int | None) -> Any:
    return uri.replace(port=port) if isinstance(uri, SipUri) else None


def _set_du(ctx: "RequestContext", value: str | int | None) -> bool:
    if value is None or value == "":
        ctx.dst_uri = None  # $du = $null: resetdsturi()
        return True
    parse_uri(_str("$du", value))
    ctx.dst_uri = value
    return True


def _from(ctx: "RequestContext") -> Any:
    return message(ctx).from_


def _to(ctx: "RequestContext") -> Any:
    return message(ctx).to


def _credential(ctx: "RequestContext", part: str) -> str | None:
    """$au/$ad/$aU/$ar: from Proxy-Authorization, else Authorization (Kamailio)."""
    msg = message(ctx)
    value = msg.header("proxy-authorization") or msg.header("authorization")
    if value is None:
        return None
    cred = parse_credentials(value)
    if part == "realm":
        return cred.realm or None
    user, at, domain = cred.username.partition("@")
    return {"user": user, "domain": domain if at else None, "whole": cred.username}[part] or None


# ---- transaction ($T...) ------------------------------------------------------------

def branch_index(ctx: "RequestContext") -> int:
    """$T_branch_idx: the branch a reply came from (ours is its top Via), the one a
    branch route runs for (extra["branch_idx"], set by its runner), else 0."""
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
    """$T(id_index), $T(id_label): what t_suspend() stored in extra["t_id"], else a
    stable pair derived from the transaction key (index < 65536, as Kamailio's hash
    slots). None without a transaction."""
    tid = ctx.script.extra.get("t_id")
    if isinstance(tid, tuple):
        return tid
    cell = ctx.cell
    if cell is None:
        return None
    digest = hashlib.md5("|".join(cell.key).encode("utf-8", "surrogateescape"),
                         usedforsecurity=False).digest()
    return int.from_bytes(digest[:2], "big"), int.from_bytes(digest[2:6], "big") & 0x7FFFFFFF


def _reply_code(ctx: "RequestContext") -> int:
    reply = ctx.script.reply
    return reply.status if reply is not None else 0


def _reply_reason(ctx: "RequestContext") -> str | None:
    reply = ctx.script.reply
    return reply.reason if reply is not None else None


_T = {
    "reply_code": _reply_code, "reply_reason": _reply_reason, "branch_index": branch_index,
    "id_index": lambda ctx: (tid := transaction_id(ctx)) and tid[0],
    "id_label": lambda ctx: (tid := transaction_id(ctx)) and tid[1],
}


# ---- simple PVs ---------------------------------------------------------------------

def _set_flags(attr: str, label: str) -> Setter:
    def set_(ctx: "RequestContext", value: str | int | None) -> bool:
        setattr(ctx.script, attr, 0 if value is None else _int(label, value))
        return True
    return set_


def _set_ru_q(ctx: "RequestContext", value: str | int | None) -> bool:
    ctx.script.extra["ru_q"] = -1 if value is None else _int("$ru_q", value)
    return True


def _status(ctx: "RequestContext") -> Response | None:
    return ctx.script.reply


def _now(ctx: "RequestContext") -> int:
    return ctx.script.extra.setdefault("Ts", int(time.time()))  # type: ignore[return-value]


def _body(ctx: "RequestContext") -> str | bytes:
    body = message(ctx).body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


def _content_length(ctx: "RequestContext") -> int | None:
    msg = message(ctx)
    return len(msg.body) if msg.has("content-length") else None


def _method(ctx: "RequestContext") -> str:
    msg = message(ctx)
    return msg.cseq.method if isinstance(msg, Response) else msg.method


def _wire(ctx: "RequestContext") -> bytes:
    return message(ctx).to_bytes()


def _mb(ctx: "RequestContext") -> str | bytes:
    data = _wire(ctx)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


_SIMPLE: dict[str, tuple[Getter, Setter | None]] = {
    "ru": (lambda ctx: ctx.msg.uri_text, _set_ru),
    "rU": (lambda ctx: _user(_ruri(ctx)), _uri_setter("$rU", _change_user, _str)),
    "rd": (lambda ctx: _host(_ruri(ctx)), _uri_setter("$rd", _change_host, _str)),
    "rp": (lambda ctx: _port(_ruri(ctx)), _uri_setter("$rp", _change_port, _port_value)),
    "rz": (lambda ctx: ctx.msg.uri.scheme, None),
    "du": (lambda ctx: ctx.dst_uri or None, _set_du),
    "fu": (lambda ctx: str(_from(ctx).uri), None),
    "fU": (lambda ctx: _user(_from(ctx).uri), None),
    "fd": (lambda ctx: _host(_from(ctx).uri), None),
    "fn": (lambda ctx: _from(ctx).display, None),
    "ft": (lambda ctx: _from(ctx).tag, None),
    "tu": (lambda ctx: str(_to(ctx).uri), None),
    "tU": (lambda ctx: _user(_to(ctx).uri), None),
    "td": (lambda ctx: _host(_to(ctx).uri), None),
    "tn": (lambda ctx: _to(ctx).display, None),
    "tt": (lambda ctx: _to(ctx).tag, None),
    "ci": (lambda ctx: message(ctx).call_id, None),
    "cs": (lambda ctx: message(ctx).cseq.number, None),
    "rm": (_method, None),
    "rs": (lambda ctx: (r := _status(ctx)) and r.status, None),
    "rr": (lambda ctx: (r := _status(ctx)) and r.reason, None),
    "si": (lambda ctx: ctx.inbound.source.host, None),
    "sp": (lambda ctx: ctx.inbound.source.port, None),
    "Ri": (lambda ctx: ctx.inbound.listener.local.host, None),
    "Rp": (lambda ctx: ctx.inbound.listener.local.port, None),
    "pr": (lambda ctx: ctx.inbound.source.proto, None),
    "proto": (lambda ctx: ctx.inbound.source.proto, None),
    "ua": (lambda ctx: message(ctx).header("user-agent"), None),
    "ct": (lambda ctx: message(ctx).header("contact"), None),
    "cl": (_content_length, None),
    "rb": (_body, None),
    "mb": (_mb, None),
    "ml": (lambda ctx: len(_wire(ctx)), None),
    "fs": (lambda ctx: ctx.script.extra.get("send_socket"), None),
    "ru_q": (lambda ctx: ctx.script.extra.get("ru_q", -1), _set_ru_q),
    "mf": (lambda ctx: ctx.script.flags, _set_flags("flags", "$mf")),
    "bf": (lambda ctx: ctx.script.branch_flags, _set_flags("branch_flags", "$bf")),
    "au": (lambda ctx: _credential(ctx, "user"), None),
    "ad": (lambda ctx: _credential(ctx, "domain"), None),
    "aU": (lambda ctx: _credential(ctx, "whole"), None),
    "ar": (lambda ctx: _credential(ctx, "realm"), None),
    "TS": (lambda ctx: STARTED, None),
    "Ts": (_now, None),
    "T_branch_idx": (branch_index, None),
    "T_reply_code": (_reply_code, None),
    "T_reply_reason": (_reply_reason, None),
}


# ---- containers: $var, $shv, $avp, $xavp ---------------------------------------------

def _scalar(store: Callable[["RequestContext"], dict[str, Any]], name: str, label: str) -> Pv:
    """$var(x) and $shv(x): one value, 0 until set (and again once unset)."""
    def get(ctx: "RequestContext") -> Any:
        return store(ctx).get(name, 0)

    def set_(ctx: "RequestContext", value: str | int | None) -> bool:
        if value is None:
            store(ctx).pop(name, None)
        else:
            store(ctx)[name] = _value(label, value)
        return True
    return Pv(label, get, set_)


def _value(label: str, value: str | int) -> str | int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise PvError(f"{label} needs a string or integer value, got {type(value).__name__}")
    return value


def _pick(values: list[Any], index: int | str | None) -> Any:
    i = 0 if index is None else index
    if i == _ALL:
        return ", ".join(str(v) for v in values) if values else None  # Kamailio's ", "
    return values[i] if -len(values) <= i < len(values) else None  # type: ignore[operator]


def _assign(values: list[Any], index: int | str | None, value: Any) -> bool:
    """Kamailio's assignment to a list PV: no index adds on top; [*] replaces all;
    [n] overwrites the n-th (False when there is none); None deletes likewise."""
    if index is None:
        if value is None:
            del values[:1]
        else:
            values.insert(0, value)
    elif index == _ALL:
        values[:] = [] if value is None else [value]
    elif -len(values) <= index < len(values):  # type: ignore[operator]
        if value is None:
            del values[index]  # type: ignore[arg-type]
        else:
            values[index] = value  # type: ignore[index]
    else:
        return value is None
    return True


def _avp(name: str, index: int | str | None, label: str) -> Pv:
    if name.startswith("s:"):
        name = name[2:]  # $avp(s:x) is $avp(x); i:N names stay distinct

    def get(ctx: "RequestContext") -> Any:
        return _pick(ctx.script.avps.get(name, []), index)

    def set_(ctx: "RequestContext", value: str | int | None) -> bool:
        avps = ctx.script.avps
        values = avps.setdefault(name, [])
        done = _assign(values, index, None if value is None else _value(label, value))
        if not values:
            del avps[name]
        return done
    return Pv(label, get, set_)


_XAVP = re.compile(r"(?P<root>[^\[\]=\s]+)(?:\[(?P<ri>[^\]]+)\])?"
                   r"(?:=>(?P<field>[^\[\]=\s]+)(?:\[(?P<fi>[^\]]+)\])?)?")


def _xavp(arg: str, label: str) -> Pv:
    """$xavp(root[i]=>field[j]) with Kamailio's assignment rules (pv_xavp.c):
    $xavp(r=>f) = v starts a new root item {f: [v]} on top; $xavp(r[i]=>f) = v adds v to
    field f of item i; [j] on the field overwrites; $null deletes the same way."""
    m = _XAVP.fullmatch(arg)
    if m is None:
        raise PvError(f"malformed pseudo-variable {label}")
    root, field = m["root"], m["field"]
    ri = _index(m["ri"], label) if m["ri"] else None
    fi = _index(m["fi"], label) if m["fi"] else None

    def get(ctx: "RequestContext") -> Any:
        item = _pick(ctx.script.xavps.get(root, []), ri if ri != _ALL else 0)
        if field is None:
            return f"<<xavp:{id(item):x}>>" if isinstance(item, dict) else item
        return _pick(item.get(field, []), fi if fi != _ALL else 0) if isinstance(item, dict) else None

    def set_(ctx: "RequestContext", value: str | int | None) -> bool:
        xavps = ctx.script.xavps
        items: list[Any] = xavps.setdefault(root, [])  # type: ignore[arg-type]
        try:
            if value is not None:
                value = _value(label, value)
            if field is None:
                return _assign(items, ri, value)
            if value is not None and ri is None:
                items.insert(0, {field: [value]})
                return True
            if value is not None and ri == _ALL:
                return False  # Kamailio ignores it too: no item to add to
            chosen = [i for i in items if isinstance(i, dict)] if ri == _ALL else \
                [i for i in [_pick(items, ri)] if isinstance(i, dict)]
            done = bool(chosen) or value is None
            for item in chosen:
                values = item.setdefault(field, [])
                done = _assign(values, fi, value) and done
                if not values:
                    del item[field]
            return done
        finally:
            if not items:
                del xavps[root]
    return Pv(label, get, set_)


# ---- headers, $T(...), $sel(...) ----------------------------------------------------

def _hdr(name: str, index: int | str | None, label: str) -> Pv:
    return Pv(label, lambda ctx: _pick(message(ctx).header_all(name), index))


def _t(arg: str, label: str) -> Pv:
    get = _T.get(arg)
    if get is None:
        raise PvError(f"unknown pseudo-variable {label}")
    return Pv(label, get)


_SEL = re.compile(r"via\[(?P<n>[1-9][0-9]{0,2})\](?:\.(?P<attr>branch|host|port|transport|"
                  r"received|rport))?")


def _sel(arg: str, label: str) -> Pv:
    """$sel(via[N]) and $sel(via[N].branch|host|port|transport|received|rport); N from 1."""
    m = _SEL.fullmatch(arg)
    if m is None:
        raise PvError(f"unsupported select {label}: geosip knows only via[N] and "
                      f"via[N].branch/host/port/transport/received/rport")
    n, attr = int(m["n"]) - 1, m["attr"]

    def get(ctx: "RequestContext") -> Any:
        vias = message(ctx).via
        if n >= len(vias):
            return None
        return str(vias[n]) if attr is None else getattr(vias[n], attr)
    return Pv(label, get)


# ---- parsing --------------------------------------------------------------------------

_NAME = re.compile(r"\$(?P<open>\()?(?P<cls>[A-Za-z_][A-Za-z0-9_]*)"
                   r"(?:\((?P<arg>.*)\))?(?:\[(?P<idx>[^\]]*)\])?(?(open)\))", re.S)
_INDEXED = frozenset(("avp", "hdr"))


def _index(text: str, label: str) -> int | str:
    if text == _ALL:
        return _ALL
    try:
        return int(text)
    except ValueError:
        raise PvError(f"bad index in {label}: use a number or *") from None


@functools.lru_cache(maxsize=CACHE_SIZE)
def parse(name: str) -> Pv:
    """The accessor for a PV name (cached); raises PvError naming it when it is unknown
    or malformed."""
    m = _NAME.fullmatch(name)
    if m is None:
        if "{" in name:
            raise PvError(f"transformations are not supported: {name}")
        raise PvError(f"unknown pseudo-variable {name}")
    cls, arg, idx = m["cls"], m["arg"], m["idx"]
    if idx is not None and not m["open"]:
        raise PvError(f"malformed pseudo-variable {name}: an index needs $(name(arg)[index])")
    if idx is not None and cls not in _INDEXED:
        raise PvError(f"pseudo-variable {name}: ${cls} takes no index")
    index = _index(idx, name) if idx is not None else None
    if arg is None:
        simple = _SIMPLE.get(cls)
        if simple is None:
            raise PvError(f"unknown pseudo-variable {name}")
        return Pv(name, *simple)
    if not arg:
        raise PvError(f"malformed pseudo-variable {name}: empty name")
    if cls == "var":
        return _scalar(lambda ctx: ctx.script.vars, arg, name)
    if cls == "shv":
        return _scalar(lambda ctx: SHARED, arg, name)
    if cls == "avp":
        return _avp(arg, index, name)
    if cls == "xavp":
        return _xavp(arg, name)
    if cls == "hdr":
        return _hdr(arg, index, name)
    if cls == "hdrc":
        return Pv(name, lambda ctx: len(message(ctx).header_all(arg)))
    if cls == "T":
        return _t(arg, name)
    if cls == "sel":
        return _sel(arg, name)
    raise PvError(f"unknown pseudo-variable {name}")


__all__ = ["CACHE_SIZE", "Pv", "PvError", "ROUTE_TYPE", "SHARED", "branch_index", "message",
           "parse", "transaction_id"]
