"""KSR.pv: read and write pseudo-variables by name (Kamailio's core KEMI "pv" exports,
src/core/kemi.c). The names, their values and the cache are geosip/script/pv.py.

Null handling as in Kamailio: get() gives nil for $null, gete() "", getw() "<null>",
getvs()/getvn() the default given, geti() 0. Where Kamailio logs an unknown name and
returns $null, geosip ends the route with "unknown pseudo-variable $foo": a typo in a
PV name is a script bug, and a 500 with the name in the log finds it at once.
"""

from __future__ import annotations

from geosip.core.context import RequestContext

from ..exports import ModuleExports, ksr
from ..pv import PvError, Value, parse

NULL_PRINT = "<null>"  # Kamailio's pv_get_null_str()


@ksr("get", "s", returns="the value (string or integer), nil for $null")
def get(ctx: RequestContext, name: str) -> Value:
    """Value of the pseudo-variable `name`."""
    return parse(name).get(ctx)


@ksr("gete", "s", returns="the value, \"\" for $null")
def gete(ctx: RequestContext, name: str) -> Value:
    """Value of `name`, or the empty string when it is $null."""
    value = parse(name).get(ctx)
    return "" if value is None else value


@ksr("getw", "s", returns="the value, \"<null>\" for $null")
def getw(ctx: RequestContext, name: str) -> Value:
    """Value of `name`, or "<null>" when it is $null (for logging)."""
    value = parse(name).get(ctx)
    return NULL_PRINT if value is None else value


@ksr("getvs", "ss", returns="the value, `default` for $null")
def getvs(ctx: RequestContext, name: str, default: str) -> Value:
    """Value of `name`, or the string `default` when it is $null."""
    value = parse(name).get(ctx)
    return default if value is None else value


@ksr("getvn", "si", returns="the value, `default` for $null")
def getvn(ctx: RequestContext, name: str, default: int) -> Value:
    """Value of `name`, or the number `default` when it is $null."""
    value = parse(name).get(ctx)
    return _integer("getvn", default) if value is None else value


@ksr("geti", "s", returns="the value as an integer; 0 for $null or a non-numeric string")
def geti(ctx: RequestContext, name: str) -> int:
    """Value of `name` as an integer (Kamailio's str2sint of a string value)."""
    value = parse(name).get(ctx)
    if isinstance(value, int):
        return value
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = (value or "").strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isdigit() or not digits.isascii() or len(digits) > 19:
        return 0
    return int(text)


@ksr("sets", "ss", returns="1 when set, -1 when the PV refuses the value")
def sets(ctx: RequestContext, name: str, value: str) -> bool:
    """Assign the string `value` to `name`."""
    return parse(name).set(ctx, value)


@ksr("seti", "si", returns="1 when set, -1 when the PV refuses the value")
def seti(ctx: RequestContext, name: str, value: int) -> bool:
    """Assign the integer `value` to `name`."""
    return parse(name).set(ctx, _integer("seti", value))


@ksr("unset", "s", returns="1 when unset, -1 when the PV cannot be unset ($ru)")
def unset(ctx: RequestContext, name: str) -> bool:
    """Set `name` to $null (delete an $avp/$xavp value, reset $var/$shv to 0, clear $du)."""
    return parse(name).set(ctx, None)


@ksr("is_null", "s", returns="1 when the value is $null, -1 otherwise")
def is_null(ctx: RequestContext, name: str) -> bool:
    """Whether `name` is $null."""
    return parse(name).get(ctx) is None


def _integer(fname: str, value: int | float) -> int:
    """Lua numbers arrive as int or float; an integral float is accepted (2^31 is a
    float in Lua 5.4), true/false and 1.5 are bad types."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise PvError(f"{fname}(): expected an integer, got {value!r}")
    return int(value)


EXPORTS = ModuleExports(
    name="pv",
    ksr=(get, gete, getw, getvs, getvn, geti, sets, seti, unset, is_null),
    doc="Pseudo-variables by name (KSR.pv): $ru, $hdr(name), $var(x), $avp(x)...",
)
