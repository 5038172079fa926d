"""Via handling of a proxy: received/rport on the way in, our Via and its branch on
the way out, and where a response goes back to (RFC 3261 §16.6 item 8, §16.11,
§18.2.1, §18.2.2; RFC 3581).
"""

from __future__ import annotations

import hashlib
import os

from geosip.sip import Request
from geosip.sip.via import MAGIC_COOKIE, Via
from geosip.transport.base import Endpoint, Inbound, Listener, normalize_host

DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "ws": 80, "tls": 5061, "wss": 443}
_VIA_PROTO = {"UDP": "udp", "TCP": "tcp", "TLS": "tls", "WS": "ws", "WSS": "wss",
              "SCTP": "sctp"}

# Branches of stateful transactions carry a per-process random prefix, so two geosip
# processes (or a restart) never produce the same one (RFC 3261 §8.1.1.7: unique in
# space and time), and so a response we made ourselves is never mistaken for one that
# carries our Via (is_our_branch).
_PREFIX = MAGIC_COOKIE + "gs" + os.urandom(4).hex()


def branch_for(server_key: tuple[str, ...], index: int) -> str:
    """The branch of client transaction `index` of a server transaction: the same for
    every retransmission of the request, different for different requests (the key
    identifies the request, RFC 3261 §17.2.3)."""
    digest = hashlib.md5("\x00".join(server_key).encode("utf-8", "surrogateescape"),
                         usedforsecurity=False).hexdigest()[:16]
    return f"{_PREFIX}{digest}.{index}"


def is_our_branch(branch: str | None) -> bool:
    """True for a branch this process put in a Via of a stateful transaction."""
    return branch is not None and branch.startswith(_PREFIX)


def stateless_branch(request: Request) -> str:
    """The branch of a statelessly forwarded request (RFC 3261 §16.11): the same for a
    retransmission of the same request, different for different requests. Derived from
    the incoming top Via branch, or for an RFC 2543 request from its identity."""
    via = request.top_via
    branch = via.branch
    if branch and branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE):
        seed = f"{branch}|{via.host}|{via.port}|{request.method}"
    else:
        seed = "|".join((request.uri_text, request.from_tag or "", request.to_tag or "",
                         request.call_id, str(request.cseq), str(via)))
    return MAGIC_COOKIE + "sl" + hashlib.md5(seed.encode("utf-8", "surrogateescape"),
                                             usedforsecurity=False).hexdigest()[:20]


def stamp_received(request: Request, source: Endpoint) -> None:
    """Add received (and fill rport) to the top Via (RFC 3261 §18.2.1, RFC 3581 §4):
    received when sent-by is not the source address or rport was asked for; rport
    gets the source port when the client asked with an empty rport."""
    via = request.top_via
    rport = via.rport
    if rport is None and normalize_host(via.host) == source.host:
        return
    params = via.params.set("received", _via_host(source.host))
    if rport is not None:
        params = params.set("rport", str(source.port))
    request.replace_top_via(via.replace(params=params))


def force_rport(request: Request) -> None:
    """Kamailio's force_rport(): act as if the client had asked for rport."""
    via = request.top_via
    if via.rport is None:
        request.replace_top_via(via.with_param("rport", None))


def _via_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def our_via(listener: Listener, branch: str) -> str:
    """The Via geosip puts on a request it sends from `listener`; with rport so the
    next hop answers to the port we sent from (RFC 3581)."""
    return f"SIP/2.0/{listener.local.via_transport} {listener.sent_by};branch={branch};rport"


def via_proto(via: Via) -> str:
    return _VIA_PROTO.get(via.transport, via.transport.lower())


def response_destination(via: Via) -> Endpoint | None:
    """Where to send a response when its connection is gone or the transport is UDP
    (RFC 3261 §18.2.2, RFC 3581 §4): received (else sent-by) and rport (else the
    sent-by port, else the default port). None when the host is not an IP literal and
    so would need DNS (§18.2.2 then says RFC 3263 §5; geosip drops it and logs)."""
    proto = via_proto(via)
    host = normalize_host(via.received or via.host)
    rport = via.rport
    if rport:
        port = int(rport)
    elif via.port is not None:
        port = via.port
    else:
        port = DEFAULT_PORTS.get(proto, 5060)
    if not _is_ip(host):
        return None
    return Endpoint(proto, host, port)


def _is_ip(host: str) -> bool:
    return ":" in host or host.replace(".", "").isdigit()


def reply_destination(via: Via, inbound: Inbound) -> Endpoint:
    """Where responses to a request go (RFC 3261 §18.2.2, RFC 3581): back on its
    connection when reliable, else to received/rport of its top Via, else its source."""
    if inbound.source.reliable:
        return inbound.source
    return response_destination(via) or inbound.source
