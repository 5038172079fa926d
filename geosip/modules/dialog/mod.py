"""dialog's exports (STYLE.md item 4): parameters, KSR functions (ksr.py), RPC
commands (rpc.py), statistics, init/start/destroy."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from geosip.script.exports import ModuleExports, Param, Stat
from geosip.script.exports import rpc as command

from . import profiles, pvs, rpc, store, table, track
from .ksr import FUNCTIONS

log = logging.getLogger("geosip.dialog")

PARAMS = (
    Param("default_timeout", 43200, "seconds a confirmed dialog lives unless "
          "dlg_set_timeout says otherwise (Kamailio's default, 12 h)"),
    Param("timeout_bye", 1, "geosip: 1 a dialog that times out is ended with a BYE to "
          "both sides, 0 it is only forgotten (Kamailio: per dialog, $dlg_ctx(timeout_bye))"),
    Param("event_callback", "", "Lua function run with dialog:start, dialog:end, "
          "dialog:failed"),
    Param("profiles_with_value", "", "profile names separated by ';'"),
    Param("profiles_no_value", "", "profile names separated by ';'"),
    Param("db_mode", 0, "0 memory only, 1 realtime: confirmed dialogs in the dialog and "
          "dialog_vars tables, loaded at start"),
    Param("table_name", "dialog", "the dialogs' table"),
    Param("vars_table_name", "dialog_vars", "the dialog variables' table"),
    Param("enable_stats", 1, "count processed/failed/expired dialogs"),
)


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the modparams. ValueError for a db_mode other than 0 or 1, a timeout
    below 1 s or a profile declared twice."""
    settings = {p.name: p.default for p in PARAMS} | dict(params or {})
    if int(settings["db_mode"]) not in (0, 1):
        raise ValueError(f"dialog.db_mode {settings['db_mode']} is not supported: 0 or 1")
    if int(settings["default_timeout"]) < 1:
        raise ValueError("dialog.default_timeout must be at least 1 second")
    destroy()
    table.SETTINGS.update(settings)
    profiles.declare(settings["profiles_with_value"], settings["profiles_no_value"])


def start(core: Any) -> None:
    """Serve the core; with db_mode 1 load the confirmed dialogs and arm their timers."""
    track.attach(core)
    if not store.enabled():
        return
    try:
        loaded = store.load()
    except Exception as exc:  # a missing table must not stop the server
        log.error("dialog: cannot load dialogs from the database: %s", exc)
        return
    for dialog in loaded:
        table.add(dialog)
        track.arm(dialog)
    if loaded:
        table.skip_ids(max(d.h_id for d in loaded))


def destroy() -> None:
    if store.WRITER.worker is not None and not store.WRITER.worker.dead:
        try:
            store.WRITER.sync(timeout=2)
        except Exception:
            log.warning("dialog: database writes still pending at shutdown")
    store.WRITER.stop()
    table.reset()
    profiles.declare("", "")


pvs.register()

EXPORTS = ModuleExports(
    name="dialog",
    ksr=FUNCTIONS,
    params=PARAMS,
    stats=(*(Stat(name, read) for name, read in table.STATS.items()), *table.COUNTERS),
    rpc=(command("dlg.list")(rpc.dlg_list),
         command("dlg.list_ctx")(rpc.dlg_list_ctx),
         command("dlg.dlg_list", "callid [from_tag]")(rpc.dlg_dlg_list),
         command("dlg.end_dlg", "h_entry h_id")(rpc.dlg_end_dlg),
         command("dlg.terminate_dlg", "callid from_tag to_tag")(rpc.dlg_terminate_dlg),
         command("dlg.stats_active")(rpc.dlg_stats_active),
         command("dlg.profile_get_size", "profile [value]")(rpc.dlg_profile_get_size)),
    init=init,
    start=start,
    destroy=destroy,
    doc="Dialog tracking: states, profiles, variables, timeouts, BYE from the middle, "
        "persistence.",
)
