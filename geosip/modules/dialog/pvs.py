"""The dialog's pseudo-variables: $dlg_var(name) (read/write, kept with the dialog
and in dialog_vars) and $dlg(attr) (read-only, Kamailio's attribute names). Both are
$null when the message has no dialog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from geosip.script import pv
from geosip.script.pv import Index, Pv, PvError

from . import store
from .dialog import CONFIRMED, CONFIRMED_NA, Dialog
from .track import current

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

_DLG: dict[str, Callable[[Dialog], Any]] = {
    "h_id": lambda d: d.h_id, "h_entry": lambda d: d.h_entry, "state": lambda d: d.state,
    "callid": lambda d: d.callid, "from_uri": lambda d: d.from_uri,
    "to_uri": lambda d: d.to_uri, "from_tag": lambda d: d.caller.tag,
    "to_tag": lambda d: d.callee.tag, "from_cseq": lambda d: d.caller.cseq,
    "to_cseq": lambda d: d.callee.cseq, "from_contact": lambda d: d.caller.contact,
    "to_contact": lambda d: d.callee.contact, "from_rs": lambda d: ",".join(d.caller.route_set),
    "to_rs": lambda d: ",".join(d.callee.route_set), "from_bindaddr": lambda d: d.caller.socket,
    "to_bindaddr": lambda d: d.callee.socket, "lifetime": lambda d: d.timeout,
    "start_ts": lambda d: int(d.start_ts), "sflags": lambda d: d.sflags,
    "ref": lambda d: 1,
}


def _dlg(arg: str, index: Index, label: str) -> Pv:
    pick = _DLG.get(arg)
    if pick is None:
        raise PvError(f"unknown pseudo-variable {label}")

    def get(ctx: "RequestContext") -> Any:
        dialog = current(ctx)
        return None if dialog is None else pick(dialog)
    return Pv(label, get)


def _dlg_var(arg: str, index: Index, label: str) -> Pv:
    def get(ctx: "RequestContext") -> Any:
        dialog = current(ctx)
        return None if dialog is None else dialog.vars.get(arg)

    def set_(ctx: "RequestContext", value: str | int | None) -> bool:
        dialog = current(ctx)
        if dialog is None:
            return False
        if value is None:
            dialog.vars.pop(arg, None)
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            dialog.vars[arg] = str(value)
        else:
            raise PvError(f"{label} needs a string or integer value")
        if dialog.state in (CONFIRMED_NA, CONFIRMED):
            store.save(dialog)
        return True
    return Pv(label, get, set_)


def register() -> None:
    pv.register("dlg", _dlg)
    pv.register("dlg_var", _dlg_var)
