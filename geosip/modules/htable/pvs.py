"""htable's pseudo-variables (Kamailio exports them from htable): registered with
geosip.script.pv.register.

$sht(t=>key): the item (get: value, initval or $null; set: a string or integer,
$null removes it). $shtex(t=>key): seconds until it expires (0 never; set to change).
$shtinc(t=>key), $shtdec(t=>key): add/subtract 1 and read the new value.
$shtcn(t=>regexp), $shtcv(t=>regexp): how many names/string values match.
$shtrecord(key), $shtrecord(value): the expired item, in htable:expired:<t> events.
$shtitkey(it), $shtitval(it): the item under iterator `it`.
The key may hold pseudo-variables, expanded per message: $sht(ipban=>$si).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from geosip.script import pv
from geosip.script.pv import Pv, PvError
from geosip.script.pvformat import parse_format, render

from . import functions, state
from .table import HTable, matcher

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

_NAME = re.compile(r"(?P<table>[^=\s]+)=>(?P<key>.*)", re.S)


def _target(arg: str, label: str) -> tuple[str, Callable[["RequestContext"], str]]:
    m = _NAME.fullmatch(arg)
    if m is None:
        raise PvError(f"malformed pseudo-variable {label}: use $sht(table=>key)")
    key = m["key"]
    if "$" in key:
        parts = parse_format(key)
        return m["table"], lambda ctx: render(parts, ctx)
    return m["table"], lambda ctx: key


def _cell(kind: str) -> Callable[[str, Any, str], Pv]:
    def make(arg: str, index: Any, label: str) -> Pv:
        name, key = _target(arg, label)

        def ht() -> HTable:
            return state.table(name)  # LookupError: an undefined table is a script bug

        if kind == "sht":
            def set_(ctx: "RequestContext", value: str | int | None) -> bool:
                if value is None:
                    ht().remove(key(ctx))
                elif isinstance(value, bool) or not isinstance(value, str | int):
                    raise PvError(f"{label} takes a string or an integer")
                else:
                    ht().set(key(ctx), value)
                return True
            return Pv(label, lambda ctx: ht().get(key(ctx)), set_)
        if kind == "shtex":
            def set_ex(ctx: "RequestContext", value: str | int | None) -> bool:
                return ht().set_expires(key(ctx), int(value or 0))
            return Pv(label, lambda ctx: ht().expires_in(key(ctx)), set_ex)
        if kind in ("shtinc", "shtdec"):
            delta = 1 if kind == "shtinc" else -1
            return Pv(label, lambda ctx: ht().add(key(ctx), delta))
        on_value = kind == "shtcv"

        def count(ctx: "RequestContext") -> int:
            test = matcher("re", key(ctx))
            return sum(1 for k, item in ht().live()
                       if (test(item.value) if on_value and isinstance(item.value, str)
                           else not on_value and test(k)))
        return Pv(label, count)
    return make


def _record(arg: str, index: Any, label: str) -> Pv:
    if arg not in ("key", "value"):
        raise PvError(f"unknown pseudo-variable {label}: $shtrecord(key) or (value)")
    pick = 0 if arg == "key" else 1

    def get(ctx: "RequestContext") -> Any:
        record = ctx.script.extra.get(state.RECORD)
        return record[pick] if isinstance(record, tuple) else None
    return Pv(label, get)


def _iterator(pick: int) -> Callable[[str, Any, str], Pv]:
    def make(arg: str, index: Any, label: str) -> Pv:
        def get(ctx: "RequestContext") -> Any:
            found = functions.current(ctx, arg)
            return found[pick] if found else None
        return Pv(label, get)
    return make


def register() -> None:
    for kind in ("sht", "shtex", "shtinc", "shtdec", "shtcn", "shtcv"):
        pv.register(kind, _cell(kind))
    pv.register("shtrecord", _record)
    pv.register("shtitkey", _iterator(0))
    pv.register("shtitval", _iterator(1))
