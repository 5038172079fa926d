"""usrloc's exports (STYLE.md item 4): parameters, statistics, RPC commands (the plain
functions of rpc.py, served by geosip/rpc), init/start/destroy. It has no KSR
functions of its own (as in Kamailio, the registrar uses it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from geosip.script.exports import ModuleExports, Param, Stat
from geosip.script.exports import rpc as command

from . import rpc, tables, ulc  # noqa: F401  (ulc: adds $ulc to the PVs)

if TYPE_CHECKING:
    from geosip.core.core import Core

PARAMS = (
    Param("db_mode", 0, "0 memory only; 1 write-through (every change written to the "
          "location table at once, memory serves lookups); 2 write-back (changes "
          "written by the timer); 3 db-only (every lookup and save goes to the "
          "database). 1-3 load the table at start"),
    Param("timer_interval", 60, "seconds between timer runs: expired contacts removed "
          "(and their event run), db_mode 2 changes written"),
    Param("use_domain", 0, "1: the AOR is user@domain (multi-domain), 0: the user only"),
    Param("event_callback", "", "Lua function run as fname(\"usrloc:contact-expired\") "
          "for each contact the timer removes; $ulc(exp=>aor), $ulc(exp=>addr)... read it"),
    Param("preload", "", "comma-separated tables to load at start besides \"location\" "
          "(db_mode 1-3)"),
)


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the modparams. ValueError for a db_mode outside 0-3, a timer_interval
    below 1 ms or an event_callback that is not a name."""
    settings = {p.name: p.default for p in PARAMS} | dict(params or {})
    if settings["db_mode"] not in (0, 1, 2, 3):
        raise ValueError(f"usrloc.db_mode must be 0, 1, 2 or 3, not {settings['db_mode']}")
    if float(settings["timer_interval"]) < 0.001:
        raise ValueError(f"usrloc.timer_interval must be positive, not "
                         f"{settings['timer_interval']}")
    callback = str(settings["event_callback"] or "")
    if callback and not callback.isidentifier():
        raise ValueError(f"usrloc.event_callback must name a Lua function, not {callback!r}")
    tables.reset()
    tables.SETTINGS.update(settings)


def start(core: "Core") -> None:
    tables.start(core)


def destroy() -> None:
    """Write back what db_mode 2 holds, then forget everything."""
    tables.flush()
    tables.reset()


EXPORTS = ModuleExports(
    name="usrloc",
    params=PARAMS,
    stats=tuple(Stat(name, read) for name, read in tables.STATS.items()),
    rpc=(command("ul.dump", context=False)(rpc.ul_dump),
         command("ul.lookup", "table AOR", context=False)(rpc.ul_lookup),
         command("ul.rm", "table AOR [contact]", context=False)(rpc.ul_rm),
         command("ul.add", "table AOR contact expires [q [flags [methods]]]",
                 context=False)(rpc.ul_add),
         command("ul.flush", context=False)(rpc.ul_flush)),
    init=init,
    start=start,
    destroy=destroy,
    doc="User location: the contacts registered for each AOR (memory, or the location "
        "table in db modes 1-3).",
)
