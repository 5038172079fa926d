"""The KSR API reference, generated from the modules' export tables (STYLE.md item 4:
nothing is listed twice). `api_markdown(exports)` renders every KSR function as
`KSR.<module>.<name>(args)`, what it returns and its doc, plus each module's parameters
(the `geosip.modules` table of a script).

    python -m geosip.script.apidoc > scripts/API.md

writes the reference of the core and of every module under geosip/modules/;
tests/unit/script/test_apidoc.py fails when scripts/API.md is not what this prints.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
import sys
from collections.abc import Iterable

from .exports import KsrFunction, ModuleExports, Param

TYPES = {"s": "str", "i": "int", "x": "any"}

HEADER = """\
# The KSR API of geosip

Generated from the modules' export tables by `python -m geosip.script.apidoc >
scripts/API.md`; do not edit by hand (a test compares the two). Names, arguments and
return codes are Kamailio's KEMI ones: a number > 0 means true or success, < 0 false or
failure, 0 stop. A module's functions exist only when the module is loaded (the
script's `geosip.modules`, or geosip's default set); the core ones always do.
Functions marked *waits* may block (DNS, SQL, timers): the route's coroutine yields
while they run, and other calls go on meanwhile. Functions that return a Lua boolean
(as Kamailio's do for KSR.is_INVITE, KSR.isflagset...) say so; test them with
`if KSR.is_INVITE() then`, the others with `> 0` / `< 0`.
"""

# Implemented by the engine in Lua, not by an export table (engine.py).
ENGINE_FUNCTIONS = {
    "x": (KsrFunction("exit", lambda ctx: None, "", False,
                      "does not return: the route ends",
                      "End the route run here, like Kamailio's exit (implemented in Lua "
                      "by the engine, so no pcall can catch it)."),),
}


def signature(function: KsrFunction) -> str:
    """`(name: type, ...)` from the Python parameters after ctx when they match the
    declared argument kinds, else the kinds alone; a trailing `?` is an optional
    argument."""
    kinds = function.args
    names: list[str] = []
    try:
        params = list(inspect.signature(function.fn).parameters.values())[1:]
    except (TypeError, ValueError):
        params = []
    if len(params) == len(kinds) and all(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params):
        names = [p.name for p in params]
    parts = []
    for i, kind in enumerate(kinds):
        if kind == "?":
            parts.append("[any]")
            continue
        shown = TYPES.get(kind, kind)
        parts.append(f"{names[i]}: {shown}" if names else shown)
    return "(" + ", ".join(parts) + ")"


def _text(doc: str) -> list[str]:
    """Paragraphs of a docstring, each on one line."""
    cleaned = inspect.cleandoc(doc or "")
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", cleaned) if p.strip()]


def _qualified(module: str, name: str) -> str:
    return f"KSR.{module}.{name}" if module else f"KSR.{name}"


def _function(module: str, function: KsrFunction) -> list[str]:
    head = f"- `{_qualified(module, function.name)}{signature(function)}`"
    if function.blocking:
        head += " *waits*"
    returns = " ".join(function.returns.split())
    if function.boolean:  # Kamailio's SR_KEMIP_BOOL: a Lua boolean
        returns = f"true or false (a Lua boolean): {returns}"
    lines = [head, f"  - returns: {returns}"]
    lines += [f"  - {p}" for p in _text(function.doc)]
    return lines


def _param(param: Param) -> str:
    line = f"- `{param.name}` (default `{param.default!r}`)"
    if param.runtime:
        line += ", settable at run time"
    doc = " ".join(_text(param.doc))
    return f"{line}: {doc}" if doc else line


def api_markdown(exports: Iterable[ModuleExports]) -> str:
    """The reference of `exports`, in their order, as Markdown (ends with a newline).
    Functions are listed by name within a module; several export tables of one module
    name (KSR core, say) make one section."""
    sections: dict[str, list[ModuleExports]] = {}
    for module in exports:
        sections.setdefault(module.name, []).append(module)
    out = [HEADER]
    for name, modules in sections.items():
        title = f"KSR.{name}" if name else "KSR (core)"
        out.append(f"## {title}\n")
        for module in modules:
            out += [p + "\n" for p in _text(module.doc)]
        functions = {f.name: f for m in modules for f in m.ksr}
        for extra in ENGINE_FUNCTIONS.get(name, ()):
            functions.setdefault(extra.name, extra)
        if functions:
            for fname in sorted(functions):
                out.append("\n".join(_function(name, functions[fname])))
            out.append("")
        params = [p for m in modules for p in m.params]
        if params:
            out.append(f"Parameters (`geosip.modules.{name}`):\n")
            out += [_param(p) for p in params]
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def available_exports() -> list[ModuleExports]:
    """The core exports, then every module under geosip/modules/ with a mod.py, by name."""
    from . import registry
    import geosip.modules

    names = sorted(info.name for info in pkgutil.iter_modules(geosip.modules.__path__)
                   if info.ispkg and importlib.util.find_spec(
                       f"geosip.modules.{info.name}.mod") is not None)
    return registry.core_exports() + registry.module_exports(names)


def main() -> int:
    sys.stdout.write(api_markdown(available_exports()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
