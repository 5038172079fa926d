"""Dialogs in the `dialog` and `dialog_vars` tables (Kamailio's db_mode 1, realtime:
written when confirmed, updated on changes, deleted when ended) and loaded at start.

Rows use Kamailio 5.6's columns (db/models.py Dialog, DialogVars): route sets as the
comma-joined Record-Route values, `timeout` the absolute expiry time, sockets as
proto:host:port. Writes go through a DbWriter (never from the Lua stack).
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache

from geosip.db import models

from . import table
from .dialog import CONFIRMED, CONFIRMED_NA, Dialog, Leg
from .writer import DbWriter

log = logging.getLogger("geosip.dialog")

WRITER = DbWriter("dialog")


@lru_cache(maxsize=8)
def _model(base: type[models.BaseModel], name: str) -> type[models.BaseModel]:
    if name == base._meta.table_name:
        return base
    meta = type("Meta", (), {"table_name": name})
    return type(f"{base.__name__}_{name}", (base,), {"Meta": meta})


def _tables() -> tuple[type[models.Dialog], type[models.DialogVars]]:
    return (_model(models.Dialog, table.SETTINGS["table_name"]),  # type: ignore[return-value]
            _model(models.DialogVars, table.SETTINGS["vars_table_name"]))


def enabled() -> bool:
    return int(table.SETTINGS["db_mode"]) == 1


def _row(dialog: Dialog) -> dict[str, object]:
    return {"hash_entry": dialog.h_entry, "hash_id": dialog.h_id, "callid": dialog.callid,
            "from_uri": dialog.from_uri, "from_tag": dialog.caller.tag,
            "to_uri": dialog.to_uri, "to_tag": dialog.callee.tag,
            "caller_cseq": str(dialog.caller.cseq), "callee_cseq": str(dialog.callee.cseq),
            "caller_route_set": ",".join(dialog.caller.route_set) or None,
            "callee_route_set": ",".join(dialog.callee.route_set) or None,
            "caller_contact": dialog.caller.contact, "callee_contact": dialog.callee.contact,
            "caller_sock": dialog.caller.socket, "callee_sock": dialog.callee.socket,
            "state": dialog.state, "start_time": int(dialog.start_ts),
            "timeout": dialog.expires_at(), "sflags": dialog.sflags,
            "req_uri": dialog.req_uri}


def save(dialog: Dialog) -> None:
    """Write the dialog and its variables as they are now (insert or replace)."""
    if not enabled():
        return
    row, variables = _row(dialog), dict(dialog.vars)
    key = dialog.key

    def job() -> None:
        dlg, dvars = _tables()
        dlg.delete().where((dlg.hash_entry == key[0]) & (dlg.hash_id == key[1])).execute()
        dvars.delete().where((dvars.hash_entry == key[0]) &
                             (dvars.hash_id == key[1])).execute()
        dlg.insert(row).execute()
        for name, value in variables.items():
            dvars.insert(hash_entry=key[0], hash_id=key[1], dialog_key=name,
                         dialog_value=value).execute()
    WRITER.submit(job)


def delete(dialog: Dialog) -> None:
    if not enabled():
        return
    key = dialog.key

    def job() -> None:
        dlg, dvars = _tables()
        dlg.delete().where((dlg.hash_entry == key[0]) & (dlg.hash_id == key[1])).execute()
        dvars.delete().where((dvars.hash_entry == key[0]) &
                             (dvars.hash_id == key[1])).execute()
    WRITER.submit(job)


def load() -> list[Dialog]:
    """The confirmed dialogs in the table (called from start(), in a greenlet that may
    wait). Returns them; the caller adds them and arms their timers."""
    dlg, dvars = _tables()
    found: list[Dialog] = []
    with models.database.connection_context():
        rows = list(dlg.select().where(dlg.state.in_((CONFIRMED_NA, CONFIRMED))))
        variables = list(dvars.select())
    now = time.time()
    for row in rows:
        caller = Leg(row.from_tag, int(row.caller_cseq or 0),
                     _split(row.caller_route_set), row.caller_contact, row.caller_sock)
        dialog = Dialog(row.hash_entry, row.hash_id, row.callid, row.from_uri, row.to_uri,
                        row.req_uri, caller, 0)
        dialog.callee = Leg(row.to_tag, int(row.callee_cseq or 0),
                            _split(row.callee_route_set), row.callee_contact,
                            row.callee_sock)
        dialog.state = row.state
        dialog.start_ts = float(row.start_time)
        dialog.init_ts = float(row.start_time)
        dialog.timeout = max(0, int(row.timeout) - row.start_time) if row.timeout else \
            int(table.SETTINGS["default_timeout"])
        dialog.sflags = row.sflags
        dialog.vars = {v.dialog_key: v.dialog_value for v in variables
                       if (v.hash_entry, v.hash_id) == dialog.key}
        found.append(dialog)
    log.info("dialog: %d dialogs loaded from %s (at %d)", len(found),
             table.SETTINGS["table_name"], now)
    return found


def _split(route_set: str | None) -> list[str]:
    # Record-Route values hold no unquoted comma of their own here (<uri;params>).
    return [part.strip() for part in (route_set or "").split(",") if part.strip()]
