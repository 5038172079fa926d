"""usrloc's exports (STYLE.md item 4): parameters, statistics, RPC commands (the plain
functions of rpc.py, served by geosip/rpc) and init/destroy. It has no KSR functions of
its own (as in Kamailio, the registrar uses it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geosip.script.exports import ModuleExports, Param, Stat
from geosip.script.exports import rpc as command

from . import rpc, tables

PARAMS = (
    Param("db_mode", 0, "0 memory only (the only mode so far; 1-3 come with issue 5's "
          "database layer)"),
    Param("timer_interval", 60, "seconds between sweeps removing expired contacts"),
    Param("use_domain", 0, "1: the AOR is user@domain (multi-domain), 0: the user only"),
)


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the modparams. ValueError for a db_mode other than 0 (the database
    modes are issue 5, item 3) or a timer_interval below 1 ms."""
    settings = {p.name: p.default for p in PARAMS} | dict(params or {})
    if settings["db_mode"] != 0:
        raise ValueError(f"usrloc.db_mode {settings['db_mode']} is not supported yet: only "
                         "0 (memory); db modes 1-3 are issue 5, item 3")
    if float(settings["timer_interval"]) < 0.001:
        raise ValueError(f"usrloc.timer_interval must be positive, not "
                         f"{settings['timer_interval']}")
    tables.reset()
    tables.SETTINGS.update(settings)


def destroy() -> None:
    tables.reset()


EXPORTS = ModuleExports(
    name="usrloc",
    params=PARAMS,
    stats=tuple(Stat(name, read) for name, read in tables.STATS.items()),
    rpc=(command("ul.dump", context=False)(rpc.ul_dump),
         command("ul.lookup", "table AOR", context=False)(rpc.ul_lookup),
         command("ul.rm", "table AOR [contact]", context=False)(rpc.ul_rm),
         command("ul.add", "table AOR contact expires [q [flags [methods]]]",
                 context=False)(rpc.ul_add)),
    init=init,
    destroy=destroy,
    doc="User location: the contacts registered for each AOR (memory store).",
)
