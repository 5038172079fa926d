"""CDRs from dialogs (Kamailio's acc_cdr.c, cdr_enable): when a dialog is confirmed
the cdr_extra fields are evaluated on its INVITE (after the route changed it: $rd is
where the call went); when it ends, one record: start_time (the 2xx), end_time,
duration in seconds, the extras; to the log (cdr_log_enable) and to the cdrs_table
(Kamailio's default acc_cdrs; "" for none). Dialogs that never got confirmed make
no CDR (they are missed calls)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from geosip.modules.dialog import api as dialog_api

from .config import LEVELS, SETTINGS
from .record import extras, insert

log = logging.getLogger("geosip.acc")

EXTRAS = "acc:cdr_extra"  # dialog.data: the extras taken at confirmation


def attach() -> None:
    dialog_api.on("confirmed", on_confirmed)
    dialog_api.on("terminated", on_terminated)


def on_confirmed(dialog: Any, ctx: Any) -> None:
    if int(SETTINGS["cdr_enable"]) and ctx is not None:
        dialog.data[EXTRAS] = extras(ctx, "cdr")


def on_terminated(dialog: Any, ctx: Any) -> None:
    if not int(SETTINGS["cdr_enable"]) or not dialog.start_ts:
        return
    start, end = dialog.start_ts, dialog.end_ts
    duration = round(max(0.0, end - start), 3)
    fields = dialog.data.get(EXTRAS, [])
    if int(SETTINGS["cdr_log_enable"]):
        pairs = [(SETTINGS["cdr_start_id"], f"{start:.3f}"),
                 (SETTINGS["cdr_end_id"], f"{end:.3f}"),
                 (SETTINGS["cdr_duration_id"], f"{duration:.3f}"), *fields]
        log.log(LEVELS.get(int(SETTINGS["log_level"]), logging.INFO), "%s",
                ";".join(f"{k}={v}" for k, v in pairs))
    table = SETTINGS["cdrs_table"]
    if table:
        row: dict[str, Any] = {SETTINGS["cdr_start_id"]: dt.datetime.fromtimestamp(int(start)),
                               SETTINGS["cdr_end_id"]: dt.datetime.fromtimestamp(int(end)),
                               SETTINGS["cdr_duration_id"]: duration}
        row.update(fields)
        insert(table, row)
