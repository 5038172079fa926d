"""Which exports make up KSR: the core ones, always there (KSR.info..., KSR.pv, KSR.hdr,
KSR.x, KSR.kx: geosip/script/ksr/), and the modules the configuration loads
(geosip/modules/<name>/mod.py, Kamailio's names). A module that is not loaded has no
KSR.<module> table, as in Kamailio.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from .exports import ModuleExports

CORE = ("core", "pv", "hdr", "x", "kx")

# Loaded when the configuration names no modules: what a proxy needs (Kamailio's
# default configuration loads the same set).
DEFAULT_MODULES = ("tm", "tmx", "sl", "rr", "maxfwd", "textops", "siputils", "sanity",
                   "corex", "async", "xlog")


def core_exports() -> list[ModuleExports]:
    return [importlib.import_module(f"geosip.script.ksr.{name}").EXPORTS for name in CORE]


def module_exports(names: Iterable[str]) -> list[ModuleExports]:
    """EXPORTS of each named module; raises ValueError naming an unknown module."""
    out = []
    for name in names:
        if not name.isidentifier():
            raise ValueError(f"unknown module {name!r}")
        try:
            module = importlib.import_module(f"geosip.modules.{name}.mod")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("geosip.modules"):
                raise ValueError(f"unknown module {name!r}") from None
            raise
        out.append(module.EXPORTS)
    return out


def all_exports(modules: Iterable[str] = DEFAULT_MODULES) -> list[ModuleExports]:
    return core_exports() + module_exports(modules)
