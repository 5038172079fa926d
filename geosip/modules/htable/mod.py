"""htable's exports (STYLE.md item 4): KSR.htable (functions.py), $sht and friends
(pvs.py), htable.* RPC commands (rpc.py); the tables, timer and persistence are
state.py. See README.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geosip.script.exports import ModuleExports, Param, Stat
from geosip.script.exports import rpc as command

from . import functions, pvs, rpc, state

PARAMS = (
    Param("htable", {}, 'tables: "name=>size=8;autoexpire=60;dbtable=htable;initval=0;'
          'dbmode=1" (a list for several), or { name = { autoexpire = 60, ... } }'),
    Param("timer_interval", 20, "seconds between sweeps removing expired items"),
    Param("event_callback", "", "Lua function run as fname(\"htable:expired:<table>\") "
          "for each expired item ($shtrecord(key), $shtrecord(value))"),
    Param("db_expires", 0, "1: load and save each item's expiry time with it"),
)


def init(params: Mapping[str, Any] | None = None) -> None:
    """Define the tables; ValueError for a malformed definition or parameter."""
    settings = {p.name: p.default for p in PARAMS} | dict(params or {})
    if float(settings["timer_interval"]) <= 0:
        raise ValueError("htable.timer_interval must be positive")
    if settings["db_expires"] not in (0, 1):
        raise ValueError("htable.db_expires must be 0 or 1")
    state.configure(settings.pop("htable"), settings)


def start(core: Any) -> None:
    state.start(core)


def destroy() -> None:
    state.stop()


pvs.register()

EXPORTS = ModuleExports(
    name="htable",
    ksr=functions.FUNCTIONS,
    params=PARAMS,
    rpc=(command("htable.dump", "htable", context=False)(rpc.dump),
         command("htable.get", "htable key", context=False)(rpc.get),
         command("htable.sets", "htable key value", context=False)(rpc.sets),
         command("htable.seti", "htable key value", context=False)(rpc.seti),
         command("htable.delete", "htable key", context=False)(rpc.delete),
         command("htable.reload", "htable", context=False)(rpc.reload),
         command("htable.listTables", context=False)(rpc.list_tables),
         command("htable.stats", context=False)(rpc.stats)),
    stats=(Stat("htable:items", lambda: sum(len(t.items) for t in state.TABLES.values()),
                "items in every table (expired ones until the timer removes them)"),),
    init=init,
    start=start,
    destroy=destroy,
    doc="Named in-memory hash tables, with expiry, events and persistence.",
)
