"""Requests a proxy builds itself: the ACK for a non-2xx final response (RFC 3261
§17.1.1.3) and the CANCEL of a pending branch (§9.1). Both copy the branch's
Request-URI, top Via (so they match the INVITE's transaction downstream), Call-ID,
From, CSeq number and Route set.
"""

from __future__ import annotations

from geosip.sip import Request, Response


def _common(invite: Request, method: str, to: str) -> list[tuple[str, str]]:
    headers = [("Via", str(invite.top_via)), ("Max-Forwards", "70")]
    headers += [("Route", value) for value in invite.values("route")]
    headers += [("From", invite.header("from") or ""), ("To", to),
                ("Call-ID", invite.call_id), ("CSeq", f"{invite.cseq.number} {method}"),
                ("Content-Length", "0")]
    return headers


def make_ack(invite: Request, response: Response) -> Request:
    """ACK for a 300-699 `response` to `invite` (§17.1.1.3: To from the response, with
    its tag; the same branch as the INVITE)."""
    return Request("ACK", invite.uri_text, _common(invite, "ACK", response.header("to") or ""))


def make_cancel(invite: Request) -> Request:
    """CANCEL of a pending INVITE branch (§9.1: To exactly as in the INVITE)."""
    return Request("CANCEL", invite.uri_text,
                   _common(invite, "CANCEL", invite.header("to") or ""))
