"""New out-of-dialog requests, as a user agent starts them (RFC 3261 §8.1.1): what
geosip's own UAC sends (tm/uac.py: probes, BYEs, msilo deliveries, uac) and what the
gateways' SIP side sends (gateways/sipua.py). No I/O: callers send the result.
"""

from __future__ import annotations

import secrets

from .errors import LocalProtocolError, ParseError
from .message import Request
from .uri import parse_uri


def new_request(method: str, ruri: str, from_uri: str, to_uri: str | None = None, *,
                headers: list[tuple[str, str]] | None = None, body: bytes = b"",
                content_type: str | None = None, call_id: str | None = None,
                cseq: int = 1, from_tag: str | None = None) -> Request:
    """A request with From (a fresh tag unless given), To without a tag, a fresh
    Call-ID unless given, CSeq and Max-Forwards 70 (§8.1.1). `headers` are added as
    given (a Content-Type there wins over `content_type`). ValueError when a URI does
    not parse as one (a user part with spaces, '<', a second '@'...) or a header cannot
    be written: what comes from a peer (an SMS sender, an XMPP JID) must not make an
    unparsable message or inject a header line."""
    for label, uri in (("Request-URI", ruri), ("From URI", from_uri),
                       ("To URI", to_uri or ruri)):
        try:
            parse_uri(uri)
        except ParseError as exc:
            raise ValueError(f"cannot build {method}: bad {label} {uri[:80]!r}: "
                             f"{exc.reason}") from None
    fields = [("Max-Forwards", "70"),
              ("From", f"<{from_uri}>;tag={from_tag or secrets.token_hex(6)}"),
              ("To", f"<{to_uri or ruri}>"),
              ("Call-ID", call_id or f"{secrets.token_hex(10)}@geosip"),
              ("CSeq", f"{cseq} {method}")]
    extra = list(headers or ())
    if content_type and body and not any(n.lower() in ("content-type", "c")
                                         for n, _ in extra):
        extra.append(("Content-Type", content_type))
    fields += extra
    if not body:
        fields.append(("Content-Length", "0"))
    try:
        return Request(method, ruri, fields, body)
    except LocalProtocolError as exc:
        raise ValueError(f"cannot build {method} to {ruri[:80]!r}: {exc}") from None
