"""KSR.tm.t_uac_send: a request the script originates, in a transaction of its own
(Kamailio's tm t_uac_send(method, ruri, nexthop, socket, headers, body), tm_mod.c;
the same parameters as its tm.t_uac_start RPC).

`headers` are header lines ("From: <sip:a@x>\\r\\nTo: <sip:b@y>\\r\\n"); From and To are
required, a From without a tag gets one, and Call-ID, CSeq and Max-Forwards are
generated when absent. `nexthop` ("" none) is the outbound proxy URI the request goes
to instead of its R-URI; `socket` ("" none) must name one of our sockets (the
transport layer picks the listener for the destination's transport). The request
leaves from a greenlet of its own (api.send_local_later): the call does not wait, and
nothing reports its reply to the script. INVITE, ACK and CANCEL are refused (geosip
does not originate them: geosip/tm/uac.py).
"""

from __future__ import annotations

import logging

from geosip.core.context import RequestContext
from geosip.script.exports import ksr
from geosip.script.ksr.hdr import parse_lines
from geosip.sip import ParseError, Request, parse_address
from geosip.sip.headers import parse_cseq
from geosip.sip.outgoing import new_request

from . import api

log = logging.getLogger("geosip.tm")

_GENERATED = ("from", "f", "to", "t", "call-id", "i", "cseq", "max-forwards")


def build(method: str, ruri: str, headers: str, body: str) -> Request:
    """The request t_uac_send sends. ValueError naming what is wrong."""
    pairs = parse_lines(headers)
    if pairs is None:
        raise ValueError(f"headers are not header lines: {headers[:60]!r}")
    given = {}
    for name, value in pairs:
        given.setdefault(name.lower(), value)
    from_value = given.get("from") or given.get("f")
    to_value = given.get("to") or given.get("t")
    if not from_value or not to_value:
        raise ValueError("headers need From and To")
    try:
        from_ = parse_address(from_value)
        parse_address(to_value)
        cseq = parse_cseq(given["cseq"]).number if "cseq" in given else 1
    except ParseError as exc:
        raise ValueError(str(exc)) from None
    rest = [(n, v) for n, v in pairs if n.lower() not in _GENERATED]
    request = new_request(method, ruri, str(from_.uri), headers=rest, body=body.encode(),
                          call_id=given.get("call-id") or given.get("i"), cseq=cseq,
                          from_tag=from_.tag)
    # the script's From and To as written (new_request wrote the URIs alone)
    request.set_header("From", from_value if from_.tag else
                       str(from_.with_param("tag", request.from_tag or "")))
    request.set_header("To", to_value)
    if "max-forwards" in given:
        request.set_header("Max-Forwards", given["max-forwards"])
    return request


@ksr("t_uac_send", "ssssss", returns="1 the request is on its way; -1 bad parameters "
                                     "(no From/To, malformed URI or header, unknown "
                                     "socket, INVITE/ACK/CANCEL)")
def t_uac_send(ctx: RequestContext, method: str, ruri: str, nexthop: str, socket: str,
               headers: str, body: str) -> bool:
    """Send a new request (method, R-URI, outbound proxy or "", socket or "", header
    lines with From and To, body) without waiting for its reply."""
    if socket and ctx.core.myself.socket(socket) is None:
        log.error("t_uac_send: %r is not one of our sockets", socket[:80])
        return False
    try:
        request = build(method, ruri, headers, body)
        api.send_local_later(ctx.core, request, nexthop or None)
    except ValueError as exc:
        log.error("t_uac_send: %s", exc)
        return False
    return True


FUNCTIONS = (t_uac_send,)
