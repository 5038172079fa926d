"""KSR.acc: accounting a request on demand (Kamailio's acc_log_request and
acc_db_request), whatever the flags."""

from __future__ import annotations

from typing import TYPE_CHECKING

from geosip.script.exports import ksr

from .record import REQUEST, Record, comment_status, db_row, log_line, pv_text

if TYPE_CHECKING:
    from geosip.core.context import RequestContext


def _record(ctx: "RequestContext", comment: str) -> Record:
    code, reason = comment_status(pv_text(ctx, comment))
    return Record(ctx, ctx.msg, code, reason)


@ksr("acc_log_request", "s", returns="1")
def acc_log_request(ctx: "RequestContext", comment: str) -> int:
    """Log the request now ("ACC: request accounted: ..."); the comment gives code and
    reason ("403 Forbidden", or a reason alone) and may hold PVs."""
    log_line(REQUEST, _record(ctx, comment))
    return 1


@ksr("acc_db_request", "ss", returns="1, -1 for a bad table name")
def acc_db_request(ctx: "RequestContext", comment: str, table: str) -> int:
    """Write the request into `table` now (acc's columns plus db_extra); the comment as
    for acc_log_request. The row is written in the background, in order."""
    if not table.replace("_", "a").isalnum() or not table.isascii():
        return -1
    db_row(table, _record(ctx, comment))
    return 1
