"""msilo's exports (STYLE.md item 4): offline message storage like Kamailio's msilo
(README.md): KSR.msilo (functions.py), its parameters (config.py), delivery and
timers (deliver.py), RPC (rpc.py) and statistics. Needs tm, and usrloc + registrar
for deliveries on registration; the table is `silo` of geosip's database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from geosip.script.exports import ModuleExports
from geosip.script.exports import rpc as command

from . import config, deliver, functions, rpc

if TYPE_CHECKING:
    from geosip.core.core import Core


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the modparams (ValueError for an unusable one, config.apply)."""
    deliver.stop()
    config.apply(params)


def start(core: "Core") -> None:
    """Keep the core (deliveries, counters, events) and start the timers: in one
    worker only, as every worker reads the same silo rows (a message would go out
    once per worker)."""
    config.CORE[:] = [core]
    if not core.worker:
        deliver.start()


def destroy() -> None:
    deliver.stop()
    config.CORE.clear()


init()  # defaults until the configuration's geosip.modules.msilo applies

EXPORTS = ModuleExports(
    name="msilo",
    ksr=functions.FUNCTIONS,
    params=config.PARAMS,
    rpc=(command("msilo.dump", "[AOR]", context=False)(rpc.msilo_dump),
         command("msilo.count", "[AOR]", context=False)(rpc.msilo_count)),
    stats=config.COUNTERS,
    init=init,
    start=start,
    destroy=destroy,
    doc="Offline message storage: MESSAGEs for users who are not registered are kept "
        "in the silo table and delivered when they register.",
)
