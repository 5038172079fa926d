"""The script engine: loads a Kamailio KEMI Lua script, builds its KSR table from the
modules' exports, and runs routes as Lua coroutines driven by the calling greenlet.

Concurrency contract (DESIGN.md, the Lua concurrency rule). One Lua runtime serves
every greenlet, so no greenlet switch may happen while Lua is on the C stack:
- A non-blocking KSR function is called from Lua directly and must not switch.
- A blocking one (`KsrFunction.blocking`: DNS, SQL, sleep, relay) is wrapped in Lua
  so that calling it yields the route's coroutine; this greenlet then runs it outside
  Lua (it may wait), and resumes the coroutine with its result. The script reads
  linearly; other calls go on meanwhile.
- `current` names the context of the route on the Lua stack. Only one route runs Lua
  at any moment, so a plain attribute is enough; it is set again before every resume.
- With `guard=True` (tests, and `geosip run --debug-lua`) a greenlet trace function
  counts every switch that happens while Lua is on the stack (`violations`).

Errors: a syntax error refuses the script at load (ScriptError with file and line);
a runtime error, an exceeded instruction budget, CPU deadline or memory limit ends
the route run with ScriptError (the router logs it and answers 500). KSR.x.exit()
ends the run normally.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import greenlet
import lupa.lua54 as lua54

from .exports import KsrFunction, ModuleExports
from .sandbox import CALL, EXIT, FAIL, OK, Limits, Sandbox

log = logging.getLogger("geosip.script")

REQUIRED = ("ksr_request_route",)
_BLOCKING_WRAPPER = "return function(yield_call, fn) return function(...) " \
                    "return yield_call(fn, ...) end end"


_THEN_EXIT = "return function(fn, exit) return function(...) fn(...) exit() end end"


class ScriptError(Exception):
    """The script could not be loaded, or a route run failed (message has file:line)."""


class Script:
    """One loaded script: its runtime, environment and KSR table."""

    __slots__ = ("box", "env", "ksr", "path", "api")

    def __init__(self, box: Sandbox, env: Any, ksr: Any, path: str,
                 api: list[tuple[str, KsrFunction]]) -> None:
        self.box = box
        self.env = env
        self.ksr = ksr
        self.path = path
        self.api = api

    def function(self, name: str) -> Any:
        fn = self.env[name]
        return fn if lua54.lua_type(fn) == "function" else None


class Engine:
    def __init__(self, path: str | Path, modules: Sequence[ModuleExports],
                 limits: Limits = Limits(), guard: bool = False) -> None:
        self.path = str(path)
        self.modules = list(modules)
        self.limits = limits
        self.current: Any = None      # the RequestContext of the route running Lua
        self.in_lua = False
        self.violations = 0
        self.script = self.load()
        if guard:
            greenlet.settrace(self._trace)

    # ---- loading ---------------------------------------------------------------------

    def load(self) -> Script:
        """Load the script file into a fresh runtime and check it; raises ScriptError."""
        try:
            code = Path(self.path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScriptError(f"cannot read script {self.path}: {exc}") from exc
        box = Sandbox(self.limits)
        ksr, api = self._build_ksr(box)
        try:
            env = box.load(code, self.path, box.table({"KSR": ksr}))
        except lua54.LuaError as exc:
            raise ScriptError(_lua_message(exc)) from None
        script = Script(box, env, ksr, self.path, api)
        for name in REQUIRED:
            if script.function(name) is None:
                raise ScriptError(f"{self.path}: the script defines no function {name}()")
        return script

    def reload(self) -> None:
        """Load the file again into a fresh runtime and swap it in; the old script keeps
        serving if the new one is refused (raises ScriptError then)."""
        script = self.load()
        self.script = script
        log.info("script %s reloaded", self.path)

    def _build_ksr(self, box: Sandbox) -> tuple[Any, list[tuple[str, KsrFunction]]]:
        ksr = box.table()
        api: list[tuple[str, KsrFunction]] = []
        wrap_blocking = box.eval(_BLOCKING_WRAPPER)
        for module in self.modules:
            if module.name:
                target = ksr[module.name]
                if target is None:
                    target = ksr[module.name] = box.table()
            else:
                target = ksr
            for function in module.ksr:
                bound = self._bind(function)
                if function.blocking:
                    bound = wrap_blocking(box.box.yield_call, bound)
                target[function.name] = bound
                api.append((module.name, function))
        x = ksr["x"]
        if x is None:
            x = ksr["x"] = box.table()
        x["exit"] = box.box.exit  # Lua-side: raises the exit marker
        if x["drop"] is not None:  # KSR.x.drop(): mark dropped, then end like exit
            x["drop"] = box.eval(_THEN_EXIT)(x["drop"], box.box.exit)
        return ksr, api

    def _bind(self, function: KsrFunction) -> Any:
        engine = self
        fn = function.fn
        name = function.name
        kinds = function.args
        boolean = function.boolean

        def call(*args: Any) -> Any:
            if kinds and len(args) < len(kinds.rstrip("?")):
                raise TypeError(f"{name}() needs {len(kinds)} argument(s), got {len(args)}")
            for kind, arg in zip(kinds, args):
                if kind == "s" and not isinstance(arg, str):
                    raise TypeError(f"{name}(): expected a string, got {lua54.lua_type(arg) or type(arg).__name__}")
                if kind == "i" and not isinstance(arg, int | float):
                    raise TypeError(f"{name}(): expected a number, got {lua54.lua_type(arg) or type(arg).__name__}")
            result = fn(engine.current, *args)
            if boolean:  # a Lua boolean, as Kamailio's SR_KEMIP_BOOL functions return
                return result is True or (type(result) is int and result > 0)
            if result is True:
                return 1
            if result is False:
                return -1
            return result

        return call

    # ---- running ---------------------------------------------------------------------

    def run(self, fname: str, ctx: Any, *args: Any) -> bool:
        """Run route `fname(*args)` for `ctx` in the calling greenlet. Returns False when
        the script has no such function; raises ScriptError when the run fails."""
        script = self.script          # a reload swaps scripts between runs, never within one
        if self.in_lua:
            # Called from a KSR function that runs in Lua (not a blocking one): the
            # route would nest in the caller's coroutine, where it could not wait, and
            # lupa does not read the script's globals correctly from there.
            raise ScriptError(f"{self.path}: {fname}() cannot run from inside a KSR "
                              "call that runs in Lua (declare that call blocking)")
        function = script.function(fname)
        if function is None:
            return False
        box = script.box.box
        limits = self.limits
        kib = limits.memory // 1024
        # A route run from a blocking KSR call (onsend_route from t_relay) runs outside
        # the calling route's Lua; the caller's state comes back when it ends.
        outer = self.current, self.in_lua
        try:
            self.current, self.in_lua = ctx, True
            co, status, ok, *values = box.run(limits.instructions, limits.seconds, kib,
                                              function, *args)
            while True:
                self.in_lua = False
                if not ok:
                    message = values[0] if values else "error"
                    if message == EXIT:
                        return True
                    raise ScriptError(_lua_message(message))
                if status == "dead":
                    return True
                if not values or values[0] != CALL:
                    raise ScriptError(f"{script.path}: the route yielded outside a KSR call")
                try:
                    outcome = (OK, values[1](*values[2:]))  # a blocking KSR call, outside Lua
                except (TypeError, ValueError, LookupError) as exc:  # bad arguments or data:
                    outcome = (FAIL, str(exc))                     # an error at the call site
                self.current, self.in_lua = ctx, True
                status, ok, *values = box.resume_call(co, *outcome)
        except lua54.LuaError as exc:   # raised by lupa itself (e.g. its hard limit)
            raise ScriptError(_lua_message(exc)) from None
        finally:
            self.current, self.in_lua = outer

    def _trace(self, event: str, args: Any) -> None:
        if self.in_lua and event in ("switch", "throw"):
            self.violations += 1
            log.critical("greenlet switch while Lua is on the stack (%s)", event)


def _lua_message(error: object) -> str:
    text = str(error)
    return text.split("\nstack traceback:")[0]


__all__ = ["EXIT", "Engine", "Script", "ScriptError"]
