"""KSR core functions (Kamailio's KEMI core exports): logging, flags, method and
transport tests, Request-URI and destination changes, forward, is_myself.

Every function takes the RequestContext of the running route first (the engine binds
it) and returns Kamailio's integer codes: 1 (true/success), -1 (false/failure).
"""

from __future__ import annotations

import logging

from geosip.core.context import RequestContext

from ..exports import KsrFunction, ModuleExports, ksr

script_log = logging.getLogger("geosip.script.log")


def _logger(name: str, level: int) -> KsrFunction:
    def log(ctx: RequestContext, message: str) -> int:
        script_log.log(level, "%s", message)
        return 1
    log.__doc__ = f"Log `message` at {logging.getLevelName(level).lower()} level."
    return ksr(name, "s", returns="1")(log)


_LOGGERS = tuple(_logger(name, level) for name, level in (
    ("dbg", logging.DEBUG), ("info", logging.INFO), ("notice", logging.INFO),
    ("warn", logging.WARNING), ("err", logging.ERROR), ("crit", logging.CRITICAL)))


EXPORTS = ModuleExports(
    name="",
    ksr=_LOGGERS,
    doc="Kamailio core functions (KSR.<name>).",
)
