"""What a module offers the rest of geosip, declared once (STYLE.md item 4).

A module's mod.py ends with `EXPORTS = ModuleExports(...)`. The script engine builds
`KSR.<module>.<name>` from `ksr`, the control interface (geosip/rpc) its commands
from `rpc` (RpcCommand) and its statistics from `stats` (Stat, or a counter's name), and `app_lua.api_list` and the API docs list the same table: nothing is
listed twice. Core functions (KSR.info, KSR.pv, KSR.hdr, KSR.x...) are declared the
same way with module names "" (KSR itself), "pv", "hdr", "x".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True, slots=True)
class KsrFunction:
    """One KSR function. `fn(ctx, *args)` implements it; `args` are the Lua argument
    types ("s" string, "i" integer, "x" any) checked before the call; `blocking`
    functions may wait (DNS, SQL, sleep) and so run outside Lua (engine.py).
    `returns` says what the return value means, in Kamailio's terms. `boolean`
    functions (Kamailio's SR_KEMIP_BOOL: KSR.is_INVITE, KSR.setflag...) give Lua a
    boolean, as Kamailio's app_lua does, so `if KSR.is_CANCEL() then` and `not
    KSR.is_ACK()` work; the others give integers (True -> 1, False -> -1)."""

    name: str
    fn: Callable[..., Any]
    args: str = ""
    blocking: bool = False
    returns: str = "1 on success, -1 on failure"
    doc: str = ""
    boolean: bool = False


@dataclass(frozen=True, slots=True)
class Param:
    """A module parameter (Kamailio's modparam): name, default, and whether cfg.set may
    change it at run time."""

    name: str
    default: Any
    doc: str = ""
    runtime: bool = False


@dataclass(frozen=True, slots=True)
class RpcCommand:
    """One JSON-RPC command (Kamailio's RPC export), e.g. "ul.dump". `fn(rpc_ctx,
    *params)` implements it (geosip/rpc/context.py: the core, the router, the loaded
    modules); with `context=False` it is `fn(*params)`. It returns a JSON-ready value
    (None: an empty result) and raises geosip.rpc.errors.RpcError(code, message) for
    Kamailio's application errors (LookupError counts as 404, ValueError as 400).
    `params_doc` names the parameters ("table AOR [contact]") for system.methodHelp."""

    name: str
    fn: Callable[..., Any]
    params_doc: str = ""
    doc: str = ""
    context: bool = True


@dataclass(frozen=True, slots=True)
class Stat:
    """A statistic (Kamailio's group:name). Without `read` it is a counter the code
    increments (core.stats.inc); with `read` a gauge computed when asked
    (usrloc:registered_users). Kamailio's stats.reset_statistics zeroes counters only."""

    name: str
    read: Callable[[], int | float] | None = None
    doc: str = ""


@dataclass(frozen=True, slots=True)
class ModuleExports:
    name: str
    ksr: tuple[KsrFunction, ...] = ()
    params: tuple[Param, ...] = ()
    rpc: tuple[RpcCommand, ...] = ()
    stats: tuple[Stat | str, ...] = ()  # a plain name is a counter
    # init(params): apply the module's parameters (a mapping from the script's geosip
    # table, None for all defaults); raises ValueError for a value it cannot use.
    init: Callable[..., Any] | None = None
    # start(core): once the core, the transports and the database are up (geosip run),
    # in the main greenlet: spawn the module's timers and workers here (usrloc's expiry
    # sweep, dispatcher's probes). They may send requests (core.tm.send_local) and run
    # event callbacks (core.run_event). destroy(): at shutdown, and between tests.
    start: Callable[..., Any] | None = None
    destroy: Callable[..., Any] | None = None
    doc: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def ksr(name: str, args: str = "", *, blocking: bool = False,
        returns: str = "1 on success, -1 on failure",
        boolean: bool = False) -> Callable[[Callable[..., Any]], KsrFunction]:
    """Decorator: turn `def f(ctx, ...)` into a KsrFunction named `name` (its docstring
    is the function's doc)."""
    def make(fn: Callable[..., Any]) -> KsrFunction:
        return KsrFunction(name, fn, args, blocking, returns, (fn.__doc__ or "").strip(),
                           boolean)
    return make


def rpc(name: str, params_doc: str = "", *,
        context: bool = True) -> Callable[[Callable[..., Any]], RpcCommand]:
    """Decorator: turn `def f(rpc_ctx, ...)` into an RpcCommand named `name` (its
    docstring is the command's help, system.methodHelp)."""
    def make(fn: Callable[..., Any]) -> RpcCommand:
        return RpcCommand(name, fn, params_doc, (fn.__doc__ or "").strip(), context)
    return make
