"""acc's parameters (Kamailio's names and defaults) and the extra-field lists
("name=$pv;name2=$pv2", log_extra/db_extra/cdr_extra) parsed once into PV accessors."""

from __future__ import annotations

import logging
from typing import Any

from geosip.script import pv

DEFAULTS: dict[str, Any] = {
    "log_flag": -1, "log_missed_flag": -1, "db_flag": -1, "db_missed_flag": -1,
    "failed_transaction_flag": -1, "report_ack": 0, "detect_direction": 0,
    "log_level": 1, "log_extra": "", "db_extra": "",
    "db_table_acc": "acc", "db_table_missed_calls": "missed_calls",
    "cdr_enable": 0, "cdr_log_enable": 1, "cdr_extra": "", "cdrs_table": "acc_cdrs",
    "cdr_start_id": "start_time", "cdr_end_id": "end_time", "cdr_duration_id": "duration",
}
SETTINGS: dict[str, Any] = dict(DEFAULTS)
EXTRA: dict[str, list[tuple[str, pv.Pv]]] = {"log": [], "db": [], "cdr": []}

# Kamailio's log levels (-3 alert .. 3 debug) as Python's.
LEVELS = {-3: logging.CRITICAL, -2: logging.CRITICAL, -1: logging.ERROR,
          0: logging.WARNING, 1: logging.INFO, 2: logging.INFO, 3: logging.DEBUG}


def parse_extra(spec: str) -> list[tuple[str, pv.Pv]]:
    """"src_user=$fU;src_domain=$fd" -> [(name, Pv)]. ValueError for an item without
    '=', a name that is not a column-like identifier, or an unknown PV."""
    out: list[tuple[str, pv.Pv]] = []
    for item in filter(None, (part.strip() for part in str(spec or "").split(";"))):
        name, eq, expr = item.partition("=")
        name, expr = name.strip(), expr.strip()
        if not eq or not name.replace("_", "a").isalnum() or not name.isascii():
            raise ValueError(f"bad acc extra {item!r}: expected name=$pv")
        out.append((name, pv.parse(expr)))
    return out


def flag_set(flags: int, param: str) -> bool:
    flag = int(SETTINGS[param])
    return 0 <= flag <= 31 and bool(flags & (1 << flag))
