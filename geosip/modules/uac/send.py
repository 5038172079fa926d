"""KSR.uac.uac_req_send: send the request prepared in $uac_req (Kamailio's uac README
§4.8, uac_send.c).

Contract.
- The request is built at once from a snapshot of $uac_req: method and ruri are
  required; From is furi (else ruri), To turi (else ruri), Call-ID callid (else a new
  one), hdrs the extra header lines ("Name: value\\r\\n"...), body the body, ouri the
  outbound proxy (the next hop instead of the R-URI). A missing method/ruri or
  something that cannot be written as a SIP message gives -1. `sock` is accepted and
  must name one of our sockets; the transport layer still picks the listener of the
  destination's transport (with one listener per transport, the same one).
- It is sent in a greenlet of its own (tm.api.send_local_later): the call returns 1 at
  once, without waiting, and Lua is never on the stack while the send resolves DNS or
  connects. Not being able to send shows up as a local 503 (evtype 2).
- With evroute set, the final reply runs the module's `event_callback` (KEMI) with
  "uac:reply", in a greenlet of its own, on Kamailio's faked request whose reply is
  the received one ($rs, $ci... read it), $uac_req(...) reading the request sent with
  evcode = the status and evtype = 1 (a reply came) or 2 (tm's local 408/503: a
  response without a To tag, which a UAS always adds).
- With auser and apasswd set, a 401/407 is answered once: the same request again,
  CSeq + 1, with the credentials (auth.answer); evroute then runs for the challenge
  and for the final reply of the authenticated request, as Kamailio's README says.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import gevent

from geosip.modules.tm import api as tm
from geosip.script.exports import ksr
from geosip.script.ksr.hdr import parse_lines
from geosip.sip import Request, Response
from geosip.sip.outgoing import new_request

from . import auth, config, request as uac_request
from .request import UacReq

if TYPE_CHECKING:
    from geosip.core.context import RequestContext
    from geosip.core.core import Core

log = logging.getLogger("geosip.uac")

EVENT = "uac:reply"


def build(req: UacReq, cseq: int = 1, extra: tuple[tuple[str, str], ...] = (),
          call_id: str | None = None, from_tag: str | None = None) -> Request:
    """The request $uac_req describes. ValueError when it cannot be built."""
    if not req.method or not req.ruri:
        raise ValueError("$uac_req(method) and $uac_req(ruri) are required")
    headers = parse_lines(req.hdrs or "")
    if headers is None:
        raise ValueError(f"$uac_req(hdrs) is not header lines: {req.hdrs[:60]!r}")
    return new_request(req.method, req.ruri, req.furi or req.ruri, req.turi or req.ruri,
                       headers=[*headers, *extra], body=(req.body or "").encode(),
                       call_id=call_id or req.callid or None, cseq=cseq,
                       from_tag=from_tag)


def is_local(response: Response) -> bool:
    """tm's own 408/503 (timeout, no route): the only finals without a To tag."""
    return response.to_tag is None and response.status in (408, 503)


@ksr("uac_req_send", returns="1 the request is on its way (its reply comes to the "
                             "uac:reply event when $uac_req(evroute) is set); -1 no "
                             "method or R-URI, or a request that cannot be built")
def uac_req_send(ctx: "RequestContext") -> bool:
    """Send the request described by $uac_req(...), without waiting for its reply."""
    req = uac_request.of(None).copy()   # the process's request, as Kamailio's
    sock = req.sock
    if sock and ctx.core.myself.socket(sock) is None:
        log.error("uac_req_send: %r is not one of our sockets", sock[:80])
        return False
    try:
        request = build(req)
    except ValueError as exc:
        log.error("uac_req_send: %s", exc)
        return False
    try:
        _send(ctx.core, req, request, authenticated=False)
    except ValueError as exc:
        log.error("uac_req_send: %s", exc)
        return False
    return True


def _send(core: "Core", req: UacReq, request: Request, authenticated: bool) -> None:
    """Raises ValueError for a method geosip does not originate."""
    wants_reply = req.evroute or (req.auser and req.apasswd and not authenticated)

    def on_final(response: Response) -> None:   # inline in the reader: do not block
        gevent.spawn(_on_reply, core, req, request, response, authenticated)

    tm.send_local_later(core, request, req.ouri or None, on_final if wants_reply else None)


def _on_reply(core: "Core", req: UacReq, request: Request, response: Response,
              authenticated: bool) -> None:
    """In a greenlet of its own: the uac:reply event, then the authenticated resend."""
    if req.evroute:
        run_event(core, req, response)
    if authenticated or response.status not in (401, 407) or not (req.auser and req.apasswd):
        return
    found = auth.answer(response, request.method, request.uri_text, req.auser, req.apasswd)
    if found is None:
        log.info("uac_req_send: cannot answer the %d to %s", response.status, request)
        return
    try:
        again = build(req, cseq=request.cseq.number + 1, extra=(found,),
                      call_id=request.call_id, from_tag=request.from_tag)
    except ValueError as exc:  # built once already: only a broken challenge gets here
        log.error("uac_req_send: cannot resend with credentials: %s", exc)
        return
    _send(core, req, again, authenticated=True)


def run_event(core: "Core", req: UacReq, response: Response) -> None:
    """Run event_callback("uac:reply") for `response` to the request `req` built."""
    fname = config.SETTINGS.get("event_callback") or ""
    if not fname:
        log.debug("uac:reply for %s: no event_callback set", req.method)
        return
    ctx = core.local_context()
    snapshot = req.copy()
    snapshot.evcode = response.status
    if is_local(response):
        snapshot.evtype = uac_request.EVTYPE_LOCAL
    else:
        snapshot.evtype = uac_request.EVTYPE_REPLY
        ctx.script.reply = response
    ctx.script.extra[uac_request.EVENT_KEY] = snapshot
    if not core.run_event(fname, EVENT, ctx):
        log.error("uac:reply: the script defines no function %s()", fname)


FUNCTIONS = (uac_req_send,)
