"""What acc writes for a transaction (Kamailio's acc.c core_fields): method, From and
To tags, Call-ID, code and reason, the time, then the extras evaluated on the request;
and how it goes out: a log line in Kamailio's format, or a row in a table whose extra
columns the operator added (Kamailio's documented ALTER TABLE acc ADD COLUMN ...)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING, Any

import peewee as pw

from geosip.db import models
from geosip.modules.dialog.api import DbWriter, current
from geosip.script import pv
from geosip.script.pvformat import expand

from .config import EXTRA, LEVELS, SETTINGS

if TYPE_CHECKING:
    from geosip.core.context import RequestContext
    from geosip.sip import Request, Response

log = logging.getLogger("geosip.acc")

WRITER = DbWriter("acc")
ANSWERED = "ACC: transaction answered: "
MISSED = "ACC: call missed: "
REQUEST = "ACC: request accounted: "
ACKED = "ACC: request acknowledged: "


class Record:
    __slots__ = ("ts", "method", "from_tag", "to_tag", "callid", "code", "reason", "ctx")

    def __init__(self, ctx: "RequestContext", request: "Request", code: str, reason: str,
                 response: "Response | None" = None) -> None:
        self.ts = time.time()
        self.ctx = ctx
        self.method = request.method
        self.from_tag = request.from_tag or ""
        self.to_tag = request.to_tag or (response.to_tag if response is not None else "") or ""
        self.callid = request.call_id
        self.code = code
        self.reason = reason
        dialog = current(ctx)
        if (SETTINGS["detect_direction"] and dialog is not None and request.to_tag
                and not dialog.is_downstream(request.from_tag)):
            # upstream (callee to caller): keep the caller's tag as from_tag (Kamailio)
            self.from_tag, self.to_tag = self.to_tag, self.from_tag

    def fields(self) -> list[tuple[str, str]]:
        return [("method", self.method), ("from_tag", self.from_tag),
                ("to_tag", self.to_tag), ("call_id", self.callid), ("code", self.code),
                ("reason", self.reason)]


def extras(ctx: "RequestContext", kind: str) -> list[tuple[str, str]]:
    """The extras of `kind` ("log", "db", "cdr") evaluated now; $null is ""."""
    out = []
    for name, accessor in EXTRA[kind]:
        value = accessor.get(ctx)
        out.append((name, "" if value is None else
                    value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)))
    return out


def log_line(text: str, record: Record) -> None:
    """Kamailio's acc log line: <text>timestamp=...;method=...;...;reason=...[;extra=v]."""
    pairs = [*record.fields(), *extras(record.ctx, "log")]
    line = f"{text}timestamp={int(record.ts)};" + ";".join(f"{k}={v}" for k, v in pairs)
    log.log(LEVELS.get(int(SETTINGS["log_level"]), logging.INFO), "%s", line)


def db_row(table: str, record: Record) -> None:
    """A row in `table`: the standard columns plus db_extra's."""
    row = {"method": record.method, "from_tag": record.from_tag, "to_tag": record.to_tag,
           "callid": record.callid, "sip_code": record.code, "sip_reason": record.reason,
           "time": dt.datetime.fromtimestamp(int(record.ts))}
    row.update(extras(record.ctx, "db"))
    insert(table, row)


def insert(table: str, row: dict[str, Any]) -> None:
    """Queue an insert of `row` into `table` (columns named by the keys)."""
    if not table.replace("_", "a").isalnum() or not table.isascii():
        log.error("acc: bad table name %r", table)
        return

    def job() -> None:
        target = pw.Table(table, tuple(row)).bind(models.database)
        target.insert(row).execute()
    WRITER.submit(job)


def comment_status(comment: str) -> tuple[str, str]:
    """acc_*_request's comment "403 Forbidden" -> ("403", "Forbidden"); a comment
    that does not start with a 3-digit code is all reason (Kamailio's acc_comm)."""
    head = comment[:3]
    if len(comment) >= 3 and head.isdigit() and (len(comment) == 3 or comment[3] == " "):
        return head, comment[4:].strip()
    return "", comment


def pv_text(ctx: "RequestContext", text: str) -> str:
    """A comment may hold PVs (Kamailio's acc_log_request formats it)."""
    return expand(text, ctx) if "$" in text else text


__all__ = ["ACKED", "ANSWERED", "MISSED", "REQUEST", "Record", "WRITER", "comment_status",
           "db_row", "extras", "insert", "log_line", "pv", "pv_text"]
