"""What RPC commands work on: the running core, its router (the Lua engine, if any),
the loaded modules and their current parameters. `geosip run` builds one (server.py);
unit tests build one around a Core of their own."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from geosip.script.exports import ModuleExports, Stat


@dataclass
class RpcContext:
    core: Any                                   # geosip.core.core.Core
    router: Any = None                          # LuaRouter (has .engine) or a Python one
    modules: Sequence[ModuleExports] = ()       # loaded modules (the engine's exports)
    # modparams in force: {module: {param: value}} (the script's, then cfg.set's)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    reloads: int = 0                            # app_lua.reload's version counter
    dispatcher: Any = None                      # the Dispatcher serving (system.*)
    children: Any = None                        # cli/children.py Supervisor, if any
    gateways: Any = None                        # commands/gateway.py GatewayReports, if any

    @property
    def engine(self) -> Any:
        return getattr(self.router, "engine", None)

    @property
    def stats(self) -> Any:
        return self.core.stats

    def module(self, name: str) -> ModuleExports | None:
        return next((m for m in self.modules if m.name == name), None)


def declare_stats(stats: Any, modules: Sequence[ModuleExports]) -> None:
    """Each module's EXPORTS.stats into the registry: names are counters, Stat with
    `read` gauges."""
    for module in modules:
        for stat in module.stats:
            if isinstance(stat, Stat) and stat.read is not None:
                stats.gauge(stat.name, stat.read)
            else:
                stats.declare([stat.name if isinstance(stat, Stat) else stat])


def core_gauges(core: Any) -> dict[str, Any]:
    """The core's gauges: transactions in use (server and client, tm.live()), active
    (server transactions not yet answered), and the process's memory (shmem:*)."""
    from .memory import GAUGES

    tm = core.tm
    return {"tm:inuse_transactions": tm.live,
            "tm:active_transactions": lambda: sum(
                1 for cell in list(tm.servers.values()) if not cell.final_sent),
            **GAUGES}


def module_params(modules: Sequence[ModuleExports],
                  configured: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Every loaded module's parameters: the configured value, else the default."""
    return {m.name: {p.name: (configured or {}).get(m.name, {}).get(p.name, p.default)
                     for p in m.params} for m in modules}


def build(core: Any, router: Any, modules: Sequence[ModuleExports],
          configured: Mapping[str, Mapping[str, Any]] | None = None) -> RpcContext:
    """The context of `geosip run` (or a test): the modules' statistics and the core's
    gauges put into core.stats, and a Dispatcher over the core commands and the
    modules' EXPORTS.rpc as context.dispatcher. ValueError when two declare one name."""
    from .commands import all_commands
    from .dispatch import Dispatcher

    declare_stats(core.stats, modules)
    for name, read in core_gauges(core).items():
        core.stats.gauge(name, read)
    context = RpcContext(core=core, router=router, modules=modules,
                         params=module_params(modules, configured))
    context.dispatcher = Dispatcher(all_commands(modules), context)
    return context
