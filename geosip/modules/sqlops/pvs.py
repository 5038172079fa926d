"""sqlops' pseudo-variables (Kamailio's sqlops exports them): $dbr(res=>key) reads a
query result (state.results: the results of this request), $sqlrows(con) the rows the
last query on `con` changed. Read-only; registered with geosip.script.pv.register.

$dbr(res=>rows), $dbr(res=>cols): counts (0 for a result never filled);
$dbr(res=>[r,c]): the cell of row r, column c from 0 ($null for NULL or out of range);
$dbr(res=>colname[c]): the name of column c.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from geosip.script import pv
from geosip.script.pv import Pv, PvError

from . import state
from .connections import Result

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

_KEY = re.compile(r"(?P<res>[^=\s]+)=>(?:(?P<what>rows|cols)"
                  r"|\[\s*(?P<r>-?\d+)\s*,\s*(?P<c>-?\d+)\s*\]"
                  r"|colname\[\s*(?P<n>-?\d+)\s*\])")


def _pick(items: tuple[Any, ...], i: int) -> Any:
    return items[i] if 0 <= i < len(items) else None


def _dbr(arg: str, index: Any, label: str) -> Pv:
    m = _KEY.fullmatch(arg.strip())
    if m is None:
        raise PvError(f"malformed pseudo-variable {label}: use $dbr(res=>rows), "
                      "$dbr(res=>cols), $dbr(res=>[row,column]) or $dbr(res=>colname[i])")
    name = m["res"]
    read: Callable[[Result], Any]
    if m["what"] == "rows":
        read = lambda res: len(res.rows)  # noqa: E731
    elif m["what"] == "cols":
        read = lambda res: len(res.columns)  # noqa: E731
    elif m["r"] is not None:
        r, c = int(m["r"]), int(m["c"])
        read = lambda res: _pick(_pick(res.rows, r) or (), c)  # noqa: E731
    else:
        n = int(m["n"])
        read = lambda res: _pick(res.columns, n)  # noqa: E731

    def get(ctx: "RequestContext") -> Any:
        found = state.results(ctx).get(name)
        if found is None:
            return 0 if m["what"] else None
        return read(found)
    return Pv(label, get)


def _sqlrows(arg: str, index: Any, label: str) -> Pv:
    return Pv(label, lambda ctx: state.affected(ctx).get(arg, 0))


def register() -> None:
    pv.register("dbr", _dbr)
    pv.register("sqlrows", _sqlrows)
