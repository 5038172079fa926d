"""When acc accounts (Kamailio's acc_logic.c), driven by the request's flags as they
are when the final response goes upstream (so a failure route may still set them):

- a final < 300: log_flag -> log "transaction answered", db_flag -> acc table;
- a final >= 300: the same only with failed_transaction_flag; and log_missed_flag ->
  log "call missed", db_missed_flag -> missed_calls table;
- report_ack 1: the ACK of an accounted INVITE answered 2xx is accounted with the
  INVITE's flags and code ("request acknowledged"), whatever path it takes: it is
  matched by Call-ID, From tag and CSeq number when it reaches the core.
The core request hook puts the transaction callback on every request; it costs one
list append, and the callback returns at once for provisionals.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from geosip.core.context import TMCB_RESPONSE_OUT
from geosip.sip import Response

from .config import SETTINGS, flag_set
from .record import ACKED, ANSWERED, MISSED, Record, db_row, log_line

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

DONE = "acc:done"       # ctx.script.extra: the transaction was accounted
MAX_PENDING_ACKS = 10000
# (Call-ID, From tag, CSeq) of INVITEs accounted with report_ack -> (flags, code, reason)
PENDING_ACKS: OrderedDict[tuple[str, str, int], tuple[int, str, str]] = OrderedDict()


def attach(core: Any) -> None:
    if arm not in core.request_hooks:
        core.request_hooks.append(arm)


def arm(ctx: "RequestContext") -> None:
    """Core request hook."""
    msg = ctx.msg
    if msg.method == "ACK":
        if PENDING_ACKS and msg.to_tag:
            _ack(ctx)
        return
    ctx.add_tm_callback(on_transaction)


def on_transaction(kind: str, ctx: "RequestContext", message: Any) -> None:
    if kind != TMCB_RESPONSE_OUT or not isinstance(message, Response) or message.status < 200:
        return
    extra = ctx.script.extra
    if DONE in extra:  # a 2xx repeated (forking, retransmission)
        return
    extra[DONE] = True
    flags = ctx.script.flags
    code, reason = str(message.status), message.reason
    request = ctx.msg
    answered = message.status < 300 or flag_set(flags, "failed_transaction_flag")
    if answered and (flag_set(flags, "log_flag") or flag_set(flags, "db_flag")):
        record = Record(ctx, request, code, reason, message)
        if flag_set(flags, "log_flag"):
            log_line(ANSWERED, record)
        if flag_set(flags, "db_flag"):
            db_row(SETTINGS["db_table_acc"], record)
        if SETTINGS["report_ack"] and request.method == "INVITE" and message.status < 300:
            PENDING_ACKS[(request.call_id, request.from_tag or "", request.cseq.number)] = (
                flags, code, reason)
            while len(PENDING_ACKS) > MAX_PENDING_ACKS:
                PENDING_ACKS.popitem(last=False)
    if message.status >= 300 and (flag_set(flags, "log_missed_flag") or
                                  flag_set(flags, "db_missed_flag")):
        record = Record(ctx, request, code, reason, message)
        if flag_set(flags, "log_missed_flag"):
            log_line(MISSED, record)
        if flag_set(flags, "db_missed_flag"):
            db_row(SETTINGS["db_table_missed_calls"], record)


def _ack(ctx: "RequestContext") -> None:
    msg = ctx.msg
    found = PENDING_ACKS.pop((msg.call_id, msg.from_tag or "", msg.cseq.number), None)
    if found is None:
        return
    flags, code, reason = found
    record = Record(ctx, msg, code, reason)
    if flag_set(flags, "log_flag"):
        log_line(ACKED, record)
    if flag_set(flags, "db_flag"):
        db_row(SETTINGS["db_table_acc"], record)


def reset() -> None:
    PENDING_ACKS.clear()
