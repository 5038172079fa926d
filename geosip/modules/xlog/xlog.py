"""KSR.xlog: Kamailio's xlog KEMI exports (xlog.c: ki_xlog, ki_xdbg...).

The format's pseudo-variables are expanded for the running route (script/pvformat.py,
parsed once per format and cached) and the line goes to the script's logger
("geosip.script.log", the one KSR.info & co. use). As in Kamailio:
- xlog(level, fmt) takes Kamailio's level names, case-insensitive; an unknown name logs
  at L_ERR (ki_xlog's fallback);
- nothing is expanded when the level is not logged (ki_xlog_ex returns 1 at once);
- a format that does not parse (unknown PV, "$" alone) logs an error and returns -1;
- a $null value prints as "<null>".
One trailing newline is dropped: Kamailio formats end with "\n", Python logging adds its
own. Python logging has no NOTICE level: L_NOTICE logs at INFO, L_ALERT, L_BUG and
L_CRIT2 at CRITICAL.
"""

from __future__ import annotations

import logging

from geosip.core.context import RequestContext
from geosip.script.exports import KsrFunction, ksr
from geosip.script.pvformat import PvError, expand

script_log = logging.getLogger("geosip.script.log")
log = logging.getLogger("geosip.modules.xlog")

# Kamailio's level names (dprint.h) and the Python level each logs at.
LEVELS = {"l_alert": logging.CRITICAL, "l_bug": logging.CRITICAL,
          "l_crit2": logging.CRITICAL, "l_crit": logging.CRITICAL, "l_err": logging.ERROR,
          "l_warn": logging.WARNING, "l_notice": logging.INFO, "l_info": logging.INFO,
          "l_dbg": logging.DEBUG}


def write(ctx: RequestContext, level: int, fmt: str) -> int:
    """Expand `fmt` for ctx and log it at `level`: 1, or -1 for a bad format."""
    if not script_log.isEnabledFor(level):
        return 1
    try:
        text = expand(fmt, ctx)
    except PvError as exc:
        log.error("xlog: bad format %r: %s", fmt[:80], exc)
        return -1
    script_log.log(level, "%s", text[:-1] if text.endswith("\n") else text)
    return 1


@ksr("xlog", "ss", returns="1 logged (or the level is not logged), -1 the format does "
                          "not parse")
def xlog(ctx: RequestContext, level: str, fmt: str) -> int:
    """Log `fmt` with its pseudo-variables expanded, at `level`: "L_ALERT", "L_BUG",
    "L_CRIT2", "L_CRIT", "L_ERR", "L_WARN", "L_NOTICE", "L_INFO" or "L_DBG" (any
    case; another name logs at L_ERR, as in Kamailio)."""
    return write(ctx, LEVELS.get(level.lower(), logging.ERROR), fmt)


def _fixed(name: str, level: str) -> KsrFunction:
    def log_at(ctx: RequestContext, fmt: str) -> int:
        return write(ctx, LEVELS[level], fmt)
    log_at.__doc__ = f"xlog(\"{level.upper()}\", fmt)."
    return ksr(name, "s", returns="1 logged, -1 the format does not parse")(log_at)


FUNCTIONS = (xlog, *(_fixed(name, level) for name, level in (
    ("xdbg", "l_dbg"), ("xinfo", "l_info"), ("xnotice", "l_notice"), ("xwarn", "l_warn"),
    ("xerr", "l_err"), ("xalert", "l_alert"), ("xcrit", "l_crit"))))
