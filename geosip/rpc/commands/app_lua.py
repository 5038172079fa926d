"""app_lua.reload and app_lua.api_list (Kamailio's app_lua RPC commands).

reload does what SIGHUP does (engine.reload: a fresh runtime, swapped in only when the
script loads and defines its routes; running routes finish on the old one) and answers
{old, new} version numbers like Kamailio's; a refused script is error 500 with the
reason, the old script keeping on serving. api_list answers {msize, methods: [{func:
{ret, module, name, params}}]}, the KSR functions the loaded script can call: the same
list as scripts/API.md (geosip/script/apidoc.py) for the loaded modules.
"""

from __future__ import annotations

import logging
from typing import Any

from geosip.script.apidoc import ENGINE_FUNCTIONS, TYPES
from geosip.script.exports import KsrFunction, rpc

from ..errors import FAILED, RpcError

log = logging.getLogger("geosip.rpc")


def _engine(ctx: Any) -> Any:
    engine = ctx.engine
    if engine is None:
        raise RpcError(FAILED, "no Lua script loaded: geosip routes with a Python router")
    return engine


@rpc("app_lua.reload")
def reload(ctx: Any) -> dict[str, int]:
    """Load the script file again and swap it in; {old, new} script versions."""
    from geosip.script.engine import ScriptError

    engine = _engine(ctx)
    try:
        engine.reload()
    except ScriptError as exc:
        log.error("script reload refused, the old script keeps serving: %s", exc)
        raise RpcError(FAILED, f"Reload Failed: {exc}") from None
    ctx.reloads += 1
    return {"old": ctx.reloads, "new": ctx.reloads + 1}


def _entry(module: str, function: KsrFunction) -> dict[str, Any]:
    params = ", ".join("[any]" if k == "?" else TYPES.get(k, k) for k in function.args)
    return {"func": {"ret": "bool" if function.boolean else "int", "module": module,
                     "name": function.name, "params": params or "none"}}


@rpc("app_lua.api_list")
def api_list(ctx: Any) -> dict[str, Any]:
    """The KSR functions of the loaded script: {msize, methods: [{func: {ret, module,
    name, params}}]}."""
    engine = _engine(ctx)
    seen = {(m, f.name) for m, f in engine.script.api}
    functions = list(engine.script.api) + [
        (m, f) for m, extra in ENGINE_FUNCTIONS.items() for f in extra if (m, f.name) not in seen]
    methods = [_entry(m, f) for m, f in functions]
    return {"msize": len(methods), "methods": methods}


COMMANDS = (reload, api_list)
