"""KSR.sqlops: Kamailio's sqlops KEMI functions, and geosip's sql_pquery, sql_rows and
escape. Every function that queries is blocking=True: the route's coroutine yields and
its greenlet waits for the database, so a slow query holds up no other call.

Return codes are those of Kamailio 5.6's KEMI functions, which are not those of its
native cfg functions (checked on Kamailio 5.6.3 by kamailio_ref):
- sql_query: 0 success, whatever came back (rows, none, an INSERT or UPDATE, no
  result name), -1 error. KEMI calls sqlops_do_query (sql_api.c), which turns
  sql_do_query's 1/2/3 into 0; only the native sql_query() passes 1/2/3 on.
- sql_xquery: 1 success (rows or none), -1 error (sqlops_do_xquery).
- sql_pvquery: 1 rows assigned, 2 no rows, -1 error (sql_do_pvquery as it is).
An unknown connection name is -1 and an error in the log (sql_get_connection finds
nothing; KEMI has no fixup that would refuse the script at start).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import gevent
import lupa.lua54 as lua54

from geosip.script import pv, transforms
from geosip.script.exports import ksr

from . import state
from .connections import Connection, QueryError, Result

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

log = logging.getLogger("geosip.sqlops")

QUERY_RETURNS = ("0 success: rows (kept in res), none (INSERT/UPDATE, an empty SELECT) "
                 "or no result name; -1 database error or unknown connection")


def _connection(con: str) -> Connection | None:
    """The connection named `con`, None (logged) when there is none."""
    try:
        return state.connection(con)
    except LookupError:
        log.error("sqlops: invalid connection [%s]", con)
        return None


def _query(ctx: "RequestContext", con: str, query: str,
           params: tuple[Any, ...] = ()) -> Result | None:
    connection = _connection(con)
    if connection is None:
        return None
    try:
        result = connection.query(query, params)
    except QueryError as exc:
        log.error("sqlops: query failed on %s: %s [%.64s]", con, exc, query)
        return None
    state.affected(ctx)[con] = result.affected
    return result


def _store(ctx: "RequestContext", result: Result | None, res: str) -> int:
    """Keep `result` as `res`; sql_query's KEMI code (0, or -1 for a failed query)."""
    results = state.results(ctx)
    if result is None:
        results.pop(res, None)  # Kamailio resets the result before the query
        return -1
    if not result.rows or not result.columns:
        results[res] = Result((), (), result.affected)
    elif res:
        results[res] = result
    return 0


@ksr("sql_query", "sss", blocking=True, returns=QUERY_RETURNS)
def sql_query(ctx: "RequestContext", con: str, query: str, res: str) -> int:
    """Run `query` on connection `con`; its rows go to result `res`, read with
    $dbr(res=>rows), $dbr(res=>[r,c]), KSR.sqlops.sql_rows(res)."""
    return _store(ctx, _query(ctx, con, query), res)


@ksr("sql_pquery", "ssxs", blocking=True, returns=QUERY_RETURNS)
def sql_pquery(ctx: "RequestContext", con: str, query: str, params: Any, res: str) -> int:
    """geosip's parameterised sql_query: `?` in `query` stands for the next value of
    the Lua array `params` (strings, numbers; nil is NULL: give a trailing nil with
    table.pack("x", nil) or {n = 2, "x"}), sent apart from the SQL
    text so no value can change the statement."""
    return _store(ctx, _query(ctx, con, query, _values(params)), res)


@ksr("sql_xquery", "sss", blocking=True,
     returns="1 success (rows added to $xavp(xavp), or none), -1 database error or "
     "unknown connection")
def sql_xquery(ctx: "RequestContext", con: str, query: str, xavp: str) -> int:
    """Run `query`; each row becomes an item of $xavp(xavp) with a field per column,
    the first row at index 0: $xavp(xavp=>column), $xavp(xavp[1]=>column)."""
    result = _query(ctx, con, query)
    if result is None:
        return -1
    if not result.rows:
        return 1  # Kamailio's KEMI: success, nothing added (sqlops_do_xquery)
    items = [{col: [value] for col, value in zip(result.columns, row)}
             for row in result.rows]
    xavps = ctx.script.xavps
    xavps[xavp] = items + xavps.get(xavp, [])  # type: ignore[operator]
    return 1


@ksr("sql_pvquery", "sss", blocking=True,
     returns="1 values assigned, 2 no rows, -1 database error, unknown connection or "
     "too few variables")
def sql_pvquery(ctx: "RequestContext", con: str, query: str, pvs: str) -> int:
    """Run `query` and assign column i to the i-th variable of `pvs` ("$var(a),$avp(b)"),
    row by row from the last to the first: $avp values stack with the first row on
    top, other variables end with the first row's values (Kamailio's sql_pvquery)."""
    targets = [pv.parse(name.strip()) for name in _split_names(pvs)]
    result = _query(ctx, con, query)
    if result is None:
        return -1
    if not result.rows:
        return 2
    if len(result.columns) > len(targets):
        log.error("sqlops: sql_pvquery: no variable for column %d", len(targets) + 1)
        return -1
    for row in reversed(result.rows):
        for target, value in zip(targets, row):
            target.set(ctx, value)
    return 1


@ksr("sql_query_async", "ss", returns="1 queued, -1 unknown connection")
def sql_query_async(ctx: "RequestContext", con: str, query: str) -> int:
    """Run `query` later, in a greenlet of its own, and forget its result (an INSERT
    for accounting...). Errors are logged. 1 is Kamailio's code for a query handed to
    a driver that runs queries asynchronously (sql_do_query_async); Kamailio's
    db_sqlite has none and answers -1 without running it, geosip runs it on SQLite too."""
    connection = _connection(con)
    if connection is None:
        return -1

    def run() -> None:
        try:
            connection.query(query)
        except QueryError as exc:
            log.error("sqlops: async query failed on %s: %s [%.64s]", con, exc, query)
    gevent.spawn(run)  # spawning does not switch: fine with Lua on the stack
    return 1


@ksr("sql_result_free", "s", returns="1")
def sql_result_free(ctx: "RequestContext", res: str) -> int:
    """Forget result `res` ($dbr(res=>rows) is 0 again)."""
    state.results(ctx).pop(res, None)
    return 1


@ksr("sql_num_rows", "s", returns="the number of rows in `res` (0 when never filled)")
def sql_num_rows(ctx: "RequestContext", res: str) -> int:
    """Rows of result `res`."""
    found = state.results(ctx).get(res)
    return len(found.rows) if found else 0


@ksr("sql_num_columns", "s", returns="the number of columns in `res` (0 when never filled)")
def sql_num_columns(ctx: "RequestContext", res: str) -> int:
    """Columns of result `res`."""
    found = state.results(ctx).get(res)
    return len(found.columns) if found else 0


@ksr("sql_is_null", "sii", returns="1 the cell is NULL, 0 it is not, -1 out of range")
def sql_is_null(ctx: "RequestContext", res: str, row: int, col: int) -> int:
    """Whether the cell [row, col] (from 0) of result `res` is NULL."""
    found = state.results(ctx).get(res)
    row, col = int(row), int(col)
    if found is None or not (0 <= row < len(found.rows) and 0 <= col < len(found.columns)):
        return -1
    return 1 if found.rows[row][col] is None else 0


@ksr("sql_rows", "s", returns="a Lua array of rows, each a table keyed by column name "
     "(NULL cells absent); empty when `res` was never filled")
def sql_rows(ctx: "RequestContext", res: str) -> Any:
    """geosip's: result `res` as Lua values, `for _, row in ipairs(rows) do
    row.extension ... end`."""
    found = state.results(ctx).get(res)
    rows = [dict(zip(found.columns, row)) for row in found.rows] if found else []
    lua = ctx.core.router.engine.script.box.lua  # non-blocking: the running script's
    return lua.table_from(rows, recursive=True)


@ksr("escape", "s", returns="the text with each ' doubled")
def escape(ctx: "RequestContext", text: str) -> str:
    """geosip's: `text` made safe inside an SQL string literal '...' for SQLite and
    PostgreSQL (the SQL standard doubles a quote). Kamailio's {s.escape.common} puts
    a backslash before it instead, which only MySQL reads that way."""
    return transforms.sql_string(text)[1:-1]


def _values(params: Any) -> tuple[Any, ...]:
    """A Lua array (or nil) as query parameters."""
    if params is None:
        return ()
    if lua54.lua_type(params) != "table":
        raise TypeError("sql_pquery(): params must be a Lua array, e.g. {rU, 5}")
    # params.n (table.pack) else the highest index, not #: a nil (NULL) is a hole
    count = params["n"]
    if not isinstance(count, int):
        count = max((k for k in params.keys() if isinstance(k, int)), default=0)
    values = tuple(params[i] for i in range(1, count + 1))
    for value in values:
        if lua54.lua_type(value) is not None:
            raise TypeError("sql_pquery(): params must be strings, numbers or nil")
    return tuple(int(v) if isinstance(v, bool) else v for v in values)


def _split_names(text: str) -> list[str]:
    """"$var(a),$avp(b)" -> the names (commas inside parentheses stay)."""
    names, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            names.append(text[start:i])
            start = i + 1
    names.append(text[start:])
    return [n for n in names if n.strip()]


FUNCTIONS = (sql_query, sql_xquery, sql_pvquery, sql_query_async, sql_result_free,
             sql_num_rows, sql_num_columns, sql_is_null, sql_pquery, sql_rows, escape)
