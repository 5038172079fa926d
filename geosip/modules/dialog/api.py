"""What other modules use of dialog (acc's CDRs, dispatcher's call load).

- on(event, fn): fn(dialog, ctx or None) when a dialog is "created", "confirmed"
  (2xx), "terminated" (BYE, dlg_bye, timeout, RPC) or "failed" (final >= 300);
  called inline: it must not block (queue database writes on a DbWriter).
- current(ctx): the request's Dialog (None without one). Dialog attributes: callid,
  from_uri, to_uri, caller/callee legs, state, start_ts, end_ts, vars, data (a dict
  for the caller's own per-dialog state).
- active_calls(value, var="ds:duid"): dialogs not ended whose $dlg_var(var) is
  `value`. The dispatcher's algorithm 10 can set the variable to the destination's
  duid (set_var) when it routes a call and count the calls of a destination.
- DbWriter: ordered database writes off the Lua stack (writer.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import table
from .dialog import CONFIRMED, CONFIRMED_NA, DELETED, EARLY, UNCONFIRMED, Dialog
from .track import current
from .writer import DbWriter

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

on = table.on


def set_var(ctx: "RequestContext", name: str, value: str) -> bool:
    """$dlg_var(name) = value on the request's dialog; False without a dialog."""
    dialog = current(ctx)
    if dialog is None:
        return False
    dialog.vars[name] = value
    return True


def active_calls(value: str, var: str = "ds:duid") -> int:
    return sum(1 for d in table.active() if d.vars.get(var) == value)


__all__ = ["CONFIRMED", "CONFIRMED_NA", "DELETED", "DbWriter", "Dialog", "EARLY",
           "UNCONFIRMED", "active_calls", "current", "on", "set_var"]
