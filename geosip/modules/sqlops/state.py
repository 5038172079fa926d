"""sqlops' state: the named connections (module-level, set by init) and the results,
which live with the route run that made them.

Kamailio keeps results per process, and a route runs to its end in one process. In
geosip many route runs interleave in one process (each yields while its query runs),
so a result named "ra" belongs to the request it was made for: ctx.script.extra[KEY].
Two calls of the same request see the same results; two requests never do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gevent.threadpool import ThreadPool

from .connections import Connection, Result, open_connection, parse_sqlcon

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

KEY = "sqlops"                 # ctx.script.extra[KEY]: {result name: Result}
AFFECTED = "sqlops_affected"   # ctx.script.extra[AFFECTED]: {connection: rows changed}

CONNECTIONS: dict[str, Connection] = {}
_pool: list[ThreadPool] = []


def configure(sqlcon: Any, threads: int) -> None:
    """Open the connections the modparam names (PostgreSQL pools connect lazily).
    ValueError for a malformed entry."""
    reset()
    _pool.append(ThreadPool(maxsize=threads))
    for name, url in parse_sqlcon(sqlcon).items():
        CONNECTIONS[name] = open_connection(name, url, _pool[0])


def connection(name: str) -> Connection:
    """The named connection; LookupError (the call fails) for an unknown name."""
    found = CONNECTIONS.get(name)
    if found is None:
        raise LookupError(f"sqlops: no connection named {name!r} (modparam sqlcon)")
    return found


def results(ctx: "RequestContext") -> dict[str, Result]:
    found = ctx.script.extra.get(KEY)
    if found is None:
        found = ctx.script.extra[KEY] = {}
    return found  # type: ignore[return-value]


def affected(ctx: "RequestContext") -> dict[str, int]:
    found = ctx.script.extra.get(AFFECTED)
    if found is None:
        found = ctx.script.extra[AFFECTED] = {}
    return found  # type: ignore[return-value]


def reset() -> None:
    for conn in CONNECTIONS.values():
        conn.close()
    CONNECTIONS.clear()
    while _pool:
        _pool.pop().kill()
