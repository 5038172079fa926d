"""Following dialogs through the transactions that make and end them (Kamailio's
dlg_handlers.c), with tm's and the core's hook points:

- dlg_manage() on an initial INVITE creates the dialog (unconfirmed) and puts a
  transaction callback on the request (TMCB_RESPONSE_OUT): a provisional with a To
  tag makes it early, the 2xx confirmed_na (callee's tag, contact and route set
  learned, timer armed, dialog:start), a final >= 300 failed (dialog:failed).
- A core request hook matches every in-dialog request (Call-ID and tags, both
  directions) before the script runs, as Kamailio's rr callback does: the ACK
  confirms, the BYE ends the dialog (dialog:end), other requests update the sender's
  CSeq so that dlg_bye's BYE uses the next one.
- The timer (default_timeout, dlg_set_timeout) ends the dialog with BYEs to both
  sides (timeout_bye).
Event callbacks and database writes never run here: they are spawned, since this code
may run with Lua on the stack or inline in the reader.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import gevent

from geosip.core.context import TMCB_RESPONSE_OUT
from geosip.sip import Request, Response

from . import store, table
from .dialog import CONFIRMED, CONFIRMED_NA, DELETED, EARLY, UNCONFIRMED, Dialog, Leg

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

log = logging.getLogger("geosip.dialog")

CURRENT = "dlg:current"  # ctx.script.extra: the request's dialog


def current(ctx: "RequestContext | None") -> Dialog | None:
    if ctx is None:
        return None
    found = ctx.script.extra.get(CURRENT)
    return found if isinstance(found, Dialog) else None


def attach(core: Any) -> None:
    """Serve `core`: its request hook matches in-dialog requests (idempotent)."""
    if not table.CORE:
        table.CORE.append(core)
    if match_request not in core.request_hooks:
        core.request_hooks.append(match_request)


def _socket(listener: Any) -> str:
    return f"{listener.proto}:{listener.local.hostport}" if listener is not None else ""


def _contact(msg: Request | Response) -> str:
    contacts = msg.contact
    return str(contacts[0].uri) if contacts else ""


# ---- creation ---------------------------------------------------------------------------

def manage(ctx: "RequestContext") -> Dialog | None:
    """dlg_manage(): the request's dialog, created for an initial INVITE."""
    attach(ctx.core)
    dialog = current(ctx)
    if dialog is not None:
        return dialog
    msg = ctx.msg
    if msg.to_tag or msg.method != "INVITE":
        return None  # in-dialog: matched by the request hook, or unknown
    h_entry, h_id = table.next_key(msg.call_id)
    caller = Leg(msg.from_tag or "", msg.cseq.number, msg.values("record-route"),
                 _contact(msg), _socket(ctx.inbound.listener))
    dialog = Dialog(h_entry, h_id, msg.call_id, str(msg.from_.uri), str(msg.to.uri),
                    msg.uri_text, caller, int(table.SETTINGS["default_timeout"]))
    table.add(dialog)
    ctx.script.extra[CURRENT] = dialog
    ctx.add_tm_callback(on_transaction)
    table.inc("dialog:processed_dialogs")
    table.run_callbacks("created", dialog, ctx)
    return dialog


def on_transaction(kind: str, ctx: "RequestContext", message: Any) -> None:
    """The INVITE's TMCB_RESPONSE_OUT: move the dialog on with each response."""
    dialog = current(ctx)
    if kind != TMCB_RESPONSE_OUT or dialog is None or not isinstance(message, Response):
        return
    status = message.status
    if dialog.state not in (UNCONFIRMED, EARLY) or status == 100:
        return
    if status < 200:
        if message.to_tag and dialog.state == UNCONFIRMED:
            dialog.state = EARLY
        return
    if status < 300:
        confirm(dialog, ctx, message)
    else:
        dialog.state = DELETED
        dialog.end_ts = time.time()
        table.remove(dialog)
        table.inc("dialog:failed_dialogs")
        table.run_callbacks("failed", dialog, ctx)
        event("dialog:failed", dialog)


def confirm(dialog: Dialog, ctx: "RequestContext", response: Response) -> None:
    """The 2xx went upstream: learn the callee's side, arm the timer, dialog:start."""
    callee = dialog.callee
    callee.tag = response.to_tag or ""
    callee.cseq = response.cseq.number
    callee.contact = _contact(response)
    callee.route_set = _callee_route_set(ctx, dialog, response)
    listener = ctx.cell.branches[-1].listener if ctx.cell and ctx.cell.branches else None
    callee.socket = _socket(listener)
    dialog.state = CONFIRMED_NA
    dialog.start_ts = time.time()
    arm(dialog)
    store.save(dialog)
    table.run_callbacks("confirmed", dialog, ctx)
    event("dialog:start", dialog)


def _callee_route_set(ctx: "RequestContext", dialog: Dialog,
                      response: Response) -> list[str]:
    """Towards the callee: the Record-Route entries the 2xx added above the request's
    (the hops downstream of us), ours left out, nearest first (RFC 3261 §12.1.2
    builds the UAC's route set the same way, reversed)."""
    values = response.values("record-route")
    addresses = response.record_route
    upstream = len(dialog.caller.route_set)
    downstream = len(values) - upstream
    myself = ctx.core.myself
    hops = [value for value, address in zip(values[:downstream], addresses[:downstream])
            if not myself.is_myself(address.uri)]
    return list(reversed(hops))


# ---- in-dialog requests -----------------------------------------------------------------

def match_request(ctx: "RequestContext") -> None:
    """Core request hook: the dialog of an in-dialog request (Call-ID and tags)."""
    msg = ctx.msg
    to_tag = msg.to_tag
    if not to_tag or not table.BY_CALLID:
        return
    dialog = table.find(msg.call_id, msg.from_tag, to_tag)
    if dialog is None or not dialog.active:
        return
    ctx.script.extra[CURRENT] = dialog
    method = msg.method
    if method == "ACK":
        if dialog.state == CONFIRMED_NA:
            dialog.state = CONFIRMED
            store.save(dialog)
        return
    if method != "CANCEL":
        leg = dialog.caller if dialog.is_downstream(msg.from_tag) else dialog.callee
        leg.cseq = max(leg.cseq, msg.cseq.number)
    if method == "BYE":
        terminate(dialog, ctx)


# ---- the end ----------------------------------------------------------------------------

def terminate(dialog: Dialog, ctx: "RequestContext | None" = None,
              reason: str = "bye") -> bool:
    """The dialog is over (BYE seen or sent, timeout, RPC): deleted, callbacks,
    dialog:end. False when it had ended already."""
    if not dialog.active:
        return False
    was_confirmed = dialog.state in (CONFIRMED_NA, CONFIRMED)
    dialog.state = DELETED
    dialog.end_ts = time.time()
    if dialog.timer is not None and dialog.timer is not gevent.getcurrent():
        dialog.timer.kill(block=False)
    dialog.timer = None
    table.remove(dialog)
    store.delete(dialog)
    log.debug("dialog %s ended (%s)", dialog.callid, reason)
    if was_confirmed:
        table.run_callbacks("terminated", dialog, ctx)
        event("dialog:end", dialog)
    else:
        table.run_callbacks("failed", dialog, ctx)
        event("dialog:failed", dialog)
    return True


def arm(dialog: Dialog) -> None:
    """(Re)start the dialog's timer: it ends `timeout` seconds after confirmation."""
    if dialog.timer is not None:
        dialog.timer.kill(block=False)
    delay = max(0.0, dialog.start_ts + dialog.timeout - time.time())
    dialog.timer = gevent.spawn_later(delay, expire, dialog)


def set_timeout(dialog: Dialog, seconds: int) -> None:
    dialog.timeout = seconds
    if dialog.state in (CONFIRMED_NA, CONFIRMED):
        arm(dialog)
        store.save(dialog)


def expire(dialog: Dialog) -> None:
    """The dialog's timer fired (its own greenlet)."""
    if not dialog.active:
        return
    table.inc("dialog:expired_dialogs")
    if int(table.SETTINGS["timeout_bye"]) and table.CORE:
        from .bye import end  # bye.py uses terminate(): imported late
        end(dialog, table.CORE[0], "all", reason="timeout")
    else:
        terminate(dialog, reason="timeout")


def event(name: str, dialog: Dialog) -> None:
    """Run the script's event_callback(name) in a greenlet of its own, on Kamailio's
    faked request with the dialog as current ($dlg(...), $dlg_var(...))."""
    fname = table.SETTINGS["event_callback"]
    if not fname or not table.CORE:
        return
    core = table.CORE[0]

    def run() -> None:
        ctx = core.local_context()
        ctx.script.extra[CURRENT] = dialog
        core.run_event(fname, name, ctx)
    gevent.spawn(run)
