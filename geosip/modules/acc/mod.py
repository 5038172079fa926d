"""acc's exports (STYLE.md item 4): parameters, KSR functions, init/start/destroy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geosip.script.exports import ModuleExports, Param

from . import account, cdr
from .config import DEFAULTS, EXTRA, SETTINGS, parse_extra
from .ksr import acc_db_request, acc_log_request
from .record import WRITER

_DOCS = {
    "log_flag": "flag: log the transaction when answered",
    "log_missed_flag": "flag: log a failed transaction as a missed call",
    "db_flag": "flag: write the transaction into db_table_acc when answered",
    "db_missed_flag": "flag: write a failed transaction into db_table_missed_calls",
    "failed_transaction_flag": "flag: account failed transactions (>= 300) as answered",
    "report_ack": "1: account the ACK of an accounted INVITE answered 2xx",
    "detect_direction": "1: an in-dialog request from the callee keeps the caller's tag "
                        "as from_tag (needs the dialog)",
    "log_level": "Kamailio's level of the log lines (1 notice)",
    "log_extra": "extra log fields: name=$pv;...",
    "db_extra": "extra columns: name=$pv;... (the operator adds the columns)",
    "db_table_acc": "table of answered transactions",
    "db_table_missed_calls": "table of missed calls",
    "cdr_enable": "1: a CDR per ended dialog (load dialog, call dlg_manage)",
    "cdr_log_enable": "1: CDRs to the log too",
    "cdr_extra": "extra CDR fields/columns: name=$pv;... taken from the INVITE",
    "cdrs_table": "CDR table (the issue's `cdrs` works); \"\": none",
    "cdr_start_id": "column of the start time", "cdr_end_id": "column of the end time",
    "cdr_duration_id": "column of the duration (seconds)",
}
PARAMS = tuple(Param(name, default, _DOCS.get(name, "")) for name, default in DEFAULTS.items())


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the modparams. ValueError for a malformed extra list or a flag out of
    0..31 (-1: off)."""
    settings = dict(DEFAULTS) | dict(params or {})
    for name in ("log_flag", "log_missed_flag", "db_flag", "db_missed_flag",
                 "failed_transaction_flag"):
        if not -1 <= int(settings[name]) <= 31:
            raise ValueError(f"acc.{name} must be a flag 0..31 (-1 off)")
    extra = {kind: parse_extra(settings[f"{kind}_extra"]) for kind in ("log", "db", "cdr")}
    destroy()
    SETTINGS.update(settings)
    EXTRA.update(extra)
    cdr.attach()


def start(core: Any) -> None:
    account.attach(core)


def destroy() -> None:
    if WRITER.worker is not None and not WRITER.worker.dead:
        try:
            WRITER.sync(timeout=2)
        except Exception:
            pass
    WRITER.stop()
    account.reset()
    SETTINGS.clear()
    SETTINGS.update(DEFAULTS)
    EXTRA.update({"log": [], "db": [], "cdr": []})


EXPORTS = ModuleExports(
    name="acc",
    ksr=(acc_log_request, acc_db_request),
    params=PARAMS,
    init=init,
    start=start,
    destroy=destroy,
    doc="Accounting: transactions to the log and the acc/missed_calls tables by flags, "
        "CDRs from dialogs.",
)
