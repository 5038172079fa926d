"""sqlops' exports (STYLE.md item 4): KSR.sqlops (functions.py), $dbr and $sqlrows
(pvs.py), the named connections (state.py). See README.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geosip.script.exports import ModuleExports, Param

from . import functions, pvs, state

PARAMS = (
    Param("sqlcon", {}, 'connections: "name=>db_url" (a list for several), or a table '
          '{ name = "db_url" }; sqlite:///PATH, postgres://USER:PW@HOST:PORT/DB, or "geosip" (geosip '
          'run\'s own database)'),
    Param("sqlite_threads", 8, "geosip's: threads running SQLite queries (each waits "
          "there on a locked database instead of stalling every greenlet)"),
)


def init(params: Mapping[str, Any] | None = None) -> None:
    """Open the connections; ValueError for a malformed sqlcon or URL."""
    settings = {p.name: p.default for p in PARAMS} | dict(params or {})
    threads = settings["sqlite_threads"]
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"sqlops.sqlite_threads must be a positive integer, not {threads!r}")
    state.configure(settings["sqlcon"], threads)


def destroy() -> None:
    state.reset()


pvs.register()

EXPORTS = ModuleExports(
    name="sqlops",
    ksr=functions.FUNCTIONS,
    params=PARAMS,
    init=init,
    destroy=destroy,
    doc="Raw SQL from the script over named connections (SQLite, PostgreSQL).",
)
