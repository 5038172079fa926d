"""cfg.list, cfg.get, cfg.set, cfg.help: Kamailio's runtime configuration framework
(core/cfg). The groups geosip has:

- core: debug, the log level as Kamailio's numbers (-1 error, 0 warning, 1 notice and
  2 info both info, 3 debug);
- tm: fr_timer, fr_inv_timer, wt_timer, retr_timer1, retr_timer2 in milliseconds,
  as Kamailio's tm writes them; a change applies to transactions created afterwards
  (core.tm.configure), running ones keep their timers;
- <module>: every parameter a loaded module marks runtime=True (Param), applied by
  running the module's init again with the new value in its parameters.

Errors: 404 for an unknown group or variable, 400 for a value of the wrong type or
that the module refuses.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from geosip.script.config import TM_KEYS
from geosip.script.exports import rpc

from ..errors import BAD_REQUEST, NOT_FOUND, RpcError

# Kamailio's debug levels (L_ERR -1 ... L_DBG 3) to Python logging's
LEVELS = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO, 2: logging.INFO,
          3: logging.DEBUG}
TM_DOC = {"fr_timer": "wait for any reply to a forwarded request (ms)",
          "fr_inv_timer": "wait for a final reply after a provisional one (ms)",
          "wt_timer": "how long a finished transaction absorbs retransmissions (ms)",
          "retr_timer1": "T1, the first retransmission interval (ms)",
          "retr_timer2": "T2, the longest retransmission interval (ms)"}


def _debug_level() -> int:
    level = logging.getLogger().getEffectiveLevel()
    return 3 if level <= logging.DEBUG else 2 if level <= logging.INFO else \
        0 if level <= logging.WARNING else -1


def _variables(ctx: Any) -> dict[tuple[str, str], str]:
    """(group, var) -> help text, in Kamailio's order: core, tm, then modules."""
    out = {("core", "debug"): "log level: -1 error, 0 warning, 1-2 info, 3 debug"}
    out.update({("tm", name): doc for name, doc in TM_DOC.items()})
    for module in ctx.modules:
        for param in module.params:
            if param.runtime:
                out[(module.name, param.name)] = param.doc
    return out


def _known(ctx: Any, group: str, var: str) -> None:
    if (group, var) not in _variables(ctx):
        raise RpcError(NOT_FOUND, f"unknown configuration variable {group}.{var} "
                       "(cfg.list lists them)")


def _typed(value: Any, like: Any, where: str) -> Any:
    """`value` converted to the type of `like`; BAD_REQUEST when it cannot be."""
    try:
        if isinstance(like, bool):
            if isinstance(value, str):
                return value.lower() in ("1", "yes", "true", "on")
            return bool(int(value))
        if isinstance(like, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if isinstance(like, float):
            return float(value)
    except (TypeError, ValueError):
        raise RpcError(BAD_REQUEST, f"{where}: {value!r} is not a "
                       f"{type(like).__name__}") from None
    return str(value) if isinstance(like, str) else value


@rpc("cfg.list", "[group]")
def cfg_list(ctx: Any, group: str | None = None) -> list[str]:
    """The variables settable at run time, as "group: name" lines."""
    return [f"{g}: {v}" for g, v in _variables(ctx) if group in (None, g)]


@rpc("cfg.help", "group var")
def cfg_help(ctx: Any, group: str, var: str) -> str:
    """What a variable means."""
    _known(ctx, group, var)
    return _variables(ctx)[(group, var)]


@rpc("cfg.get", "group var")
def cfg_get(ctx: Any, group: str, var: str) -> Any:
    """The value in force."""
    _known(ctx, group, var)
    if group == "core":
        return _debug_level()
    if group == "tm":
        seconds = getattr(ctx.core.tm.config, TM_KEYS[var])
        return None if seconds is None else int(round(seconds * 1000))
    return ctx.params[group][var]


@rpc("cfg.set", "group var value")
def cfg_set(ctx: Any, group: str, var: str, value: Any) -> None:
    """Change a variable now (tm timers: for transactions created from now on)."""
    _known(ctx, group, var)
    where = f"{group}.{var}"
    if group == "core":
        level = _typed(value, 0, where)
        logging.getLogger().setLevel(LEVELS[max(-1, min(3, level))])
        return
    if group == "tm":
        ms = _typed(value, 0.0, where)
        if not 0 < ms < 86_400_000:
            raise RpcError(BAD_REQUEST, f"{where} must be a positive number of "
                           f"milliseconds, not {value!r}")
        tm = ctx.core.tm
        tm.configure(dataclasses.replace(tm.config, **{TM_KEYS[var]: ms / 1000}))
        return
    module = ctx.module(group)
    params = dict(ctx.params.get(group, {}))
    default = next(p.default for p in module.params if p.name == var)
    params[var] = _typed(value, default, where)
    try:
        module.init(params)
    except ValueError as exc:
        raise RpcError(BAD_REQUEST, str(exc)) from None
    ctx.params[group] = params


COMMANDS = (cfg_list, cfg_help, cfg_get, cfg_set)
