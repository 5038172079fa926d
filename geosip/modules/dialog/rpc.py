"""dialog's RPC commands (Kamailio's names and result shapes), plain functions served
by geosip/rpc."""

from __future__ import annotations

from typing import Any

from . import table
from .bye import end
from .dialog import CONFIRMED, CONFIRMED_NA, EARLY, UNCONFIRMED, Dialog
from .profiles import size


def dlg_list(rpc_ctx: Any = None) -> list[dict[str, Any]]:
    """Every dialog in memory (dlg.list)."""
    return [d.to_rpc() for d in table.active()]


def dlg_list_ctx(rpc_ctx: Any = None) -> list[dict[str, Any]]:
    """dlg.list with each dialog's context: its timer and variables."""
    out = []
    for dialog in table.active():
        entry = dialog.to_rpc()
        entry["context"] = {"timeout": {"seconds": dialog.timeout,
                                        "bye": int(table.SETTINGS["timeout_bye"])},
                            "variables": entry["variables"]}
        out.append(entry)
    return out


def dlg_dlg_list(rpc_ctx: Any, callid: str, from_tag: str | None = None) -> list[dict[str, Any]]:
    """The dialogs of one Call-ID (and From tag) (dlg.dlg_list)."""
    return [d.to_rpc() for d in table.BY_CALLID.get(callid, ())
            if d.active and (from_tag is None or d.caller.tag == from_tag)]


def _found(h_entry: Any, h_id: Any) -> Dialog:
    try:
        dialog = table.get(int(h_entry), int(h_id))
    except (TypeError, ValueError):
        raise ValueError("h_entry and h_id must be integers") from None
    if dialog is None or not dialog.active:
        raise LookupError("dialog not found")
    return dialog


def dlg_end_dlg(rpc_ctx: Any, h_entry: Any, h_id: Any) -> None:
    """End a confirmed dialog with a BYE to both sides (dlg.end_dlg h_entry h_id)."""
    dialog = _found(h_entry, h_id)
    if not end(dialog, rpc_ctx.core, "all", reason="rpc"):
        raise ValueError("dialog is not confirmed")


def dlg_terminate_dlg(rpc_ctx: Any, callid: str, from_tag: str, to_tag: str) -> None:
    """dlg.terminate_dlg callid ftag ttag: as dlg.end_dlg, found by its identity."""
    dialog = table.find(callid, from_tag, to_tag)
    if dialog is None or not dialog.active:
        raise LookupError("dialog not found")
    if not end(dialog, rpc_ctx.core, "all", reason="rpc"):
        raise ValueError("dialog is not confirmed")


def dlg_stats_active(rpc_ctx: Any = None) -> dict[str, int]:
    """dlg.stats_active: dialogs by state."""
    states = [d.state for d in table.active()]
    counts = {"starting": states.count(UNCONFIRMED), "connecting": states.count(EARLY),
              "answering": states.count(CONFIRMED_NA), "ongoing": states.count(CONFIRMED)}
    counts["all"] = sum(counts.values())
    return counts


def dlg_profile_get_size(rpc_ctx: Any, profile: str, value: str | None = None) -> dict[str, Any]:
    """dlg.profile_get_size profile [value]."""
    if profile not in table.PROFILES:
        raise LookupError(f"no such profile {profile}")
    return {"profile": {"name": profile, "value": value or "", "count": size(profile, value)}}
