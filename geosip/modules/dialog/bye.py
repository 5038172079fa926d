"""Ending a dialog from the middle (Kamailio's dlg_req_within.c, dlg_bye): a BYE to
each side built from what the dialog learned (RFC 3261 §12.2.1.1, §15.1.1):
- to the callee: Request-URI its Contact, Route its route set, From the caller's
  (with the caller's tag), To the callee's (with its tag), CSeq the caller's + 1;
- to the caller: the mirror image, CSeq the callee's + 1.
Sent with tm's send_local (one client transaction each; nothing waits for the
answers), then the dialog ends (dialog:end, CDR).
"""

from __future__ import annotations

import logging
from typing import Any

from geosip.sip import Request
from geosip.sip.outgoing import new_request

from .dialog import CALLEE, CALLER, Dialog
from .track import terminate

log = logging.getLogger("geosip.dialog")

SIDES = {"all": (CALLEE, CALLER), "caller": (CALLER,), "callee": (CALLEE,)}


def bye_request(dialog: Dialog, side: str) -> Request:
    """The BYE towards `side` ("caller" or "callee"); the sending leg's CSeq goes up.
    ValueError when the dialog lacks what the request needs (no contact)."""
    if side == CALLEE:
        sender, target = dialog.caller, dialog.callee
        from_uri, to_uri = dialog.from_uri, dialog.to_uri
    else:
        sender, target = dialog.callee, dialog.caller
        from_uri, to_uri = dialog.to_uri, dialog.from_uri
    if not target.contact:
        raise ValueError(f"dialog {dialog.callid}: no contact for the {side}")
    sender.cseq += 1
    request = new_request("BYE", target.contact, from_uri, to_uri,
                          headers=[("Route", route) for route in target.route_set],
                          call_id=dialog.callid, cseq=sender.cseq, from_tag=sender.tag)
    request.set_header("To", f"<{to_uri}>;tag={target.tag}")
    return request


def end(dialog: Dialog, core: Any, side: str = "all", reason: str = "dlg_bye") -> bool:
    """dlg_bye(side): BYE to the side(s), then end the dialog. False for an unknown
    side or a dialog that is not confirmed (Kamailio only ends confirmed ones)."""
    sides = SIDES.get(side)
    if sides is None or not dialog.active or not dialog.callee.tag:
        return False
    for target in sides:
        try:
            request = bye_request(dialog, target)
        except ValueError as exc:
            log.error("dlg_bye: %s", exc)
            continue
        core.tm.send_local(request)
    terminate(dialog, reason=reason)
    return True
