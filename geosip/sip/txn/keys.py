"""Transaction keys, exactly as RFC 3261 §17.1.3 and §17.2.3 define them.

Server side: a request whose top Via branch starts with the magic cookie is matched by
(branch, sent-by host, sent-by port, method), with ACK standing for INVITE. A request
without the cookie (RFC 2543, or RFC 4475 badbranch: the bare cookie) falls back to
the request's identity: Request-URI, From tag, Call-ID, CSeq number, top Via and the
method (ACK as INVITE). The RFC 2543 rule also compares the To tag; geosip leaves it
out of the fallback key because an ACK carries the tag our own response added, which
the INVITE had not (the rest of the identity is already unique per INVITE).

Client side: the branch geosip put in its Via plus the CSeq method (§17.1.3), so a
response to a CANCEL never matches the INVITE it cancels.

A CANCEL finds the INVITE it cancels with `cancelled_invite_key` (§9.2: same key, method
INVITE).
"""

from __future__ import annotations

from ..message import Message, Request
from ..via import MAGIC_COOKIE

ServerKey = tuple[str, ...]
ClientKey = tuple[str, str]


def server_key(request: Request, method: str | None = None) -> ServerKey:
    """Key of the server transaction `request` belongs to (raises ParseError when the
    headers it reads are malformed). Computed once per message and cached."""
    if method is None:
        cached = request._cache.get("txn-key")
        if cached is None:
            cached = request._cache["txn-key"] = server_key(request, request.method)
        return cached  # type: ignore[return-value]
    if method == "ACK":
        method = "INVITE"
    via = request.top_via
    branch = via.branch
    if branch is not None and len(branch) > len(MAGIC_COOKIE) and branch.startswith(
            MAGIC_COOKIE):
        port = str(via.port) if via.port is not None else ""
        return (branch, via.host.lower(), port, method)
    return ("2543", request.uri_text, request.from_tag or "", request.call_id,
            str(request.cseq.number), str(via), method)


def cancelled_invite_key(cancel: Request) -> ServerKey:
    """Key of the INVITE server transaction a CANCEL applies to (RFC 3261 §9.2)."""
    return server_key(cancel, "INVITE")


def client_key(message: Message) -> ClientKey:
    """Key of the client transaction a response belongs to, or that a request we send
    opens: our branch in the top Via and the CSeq method."""
    return (message.top_via.branch or "", message.cseq.method)
