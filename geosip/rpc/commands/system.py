"""system.listMethods and system.methodHelp (Kamailio's core RPC introspection)."""

from __future__ import annotations

from typing import Any

from geosip.script.exports import rpc

from ..errors import NOT_FOUND, RpcError


@rpc("system.listMethods")
def list_methods(ctx: Any) -> list[str]:
    """Every command this server answers, sorted."""
    return sorted(ctx.dispatcher.commands)


@rpc("system.methodHelp", "method")
def method_help(ctx: Any, method: str) -> str:
    """What `method` does and its parameters (404 for an unknown method)."""
    command = ctx.dispatcher.commands.get(method)
    if command is None:
        raise RpcError(NOT_FOUND, f"command {method} not found")
    usage = f"Usage: {method} {command.params_doc}".rstrip()
    doc = " ".join(command.doc.split())
    return f"{doc}\n{usage}" if doc else usage


COMMANDS = (list_methods, method_help)
