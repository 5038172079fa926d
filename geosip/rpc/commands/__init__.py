"""Core RPC commands, one file per Kamailio group (system, core, stats, cfg, app_lua,
tm; gateway is geosip's own); each file's COMMANDS tuple is what `all_commands()`
serves, with the loaded modules' EXPORTS.rpc after them."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from geosip.script.exports import ModuleExports, RpcCommand

GROUPS = ("system", "core", "stats", "cfg", "app_lua", "tm", "gateway")


def core_commands() -> list[RpcCommand]:
    return [c for g in GROUPS
            for c in importlib.import_module(f"geosip.rpc.commands.{g}").COMMANDS]


def all_commands(modules: Sequence[ModuleExports] = ()) -> list[RpcCommand]:
    return core_commands() + [c for m in modules for c in m.rpc]
