"""The requests msilo sends, built from a stored row or from the MESSAGE being stored.

- deliver(): a stored message as a new MESSAGE (Kamailio's m_dump): From the stored
  src_addr, To the stored dst_addr, the Request-URI the contact it goes to, a Date
  header with the time it arrived (RFC 3261 §20.17 format, as Kamailio's
  timetToSipDateStr writes it from inc_time), its Content-Type and body unchanged
  (add_date = 1 prefixes a text/plain body as Kamailio does), the headers m_store kept
  and the extra_hdrs parameter, Contact: <src>;msilo=yes with add_contact = 1, and
  the stored Call-ID with use_mode = 1.
- kept_headers(): what m_store keeps of a MESSAGE besides its body (Kamailio's
  get_non_mandatory_headers): every header Kamailio's parser has no type for, plus
  P-Asserted-Identity, P-Preferred-Identity and Privacy.
"""

from __future__ import annotations

import email.utils
import time

from geosip.script.ksr.hdr import parse_lines
from geosip.sip import Request
from geosip.sip.outgoing import new_request

from .config import SETTINGS
from .store import Stored

# Headers Kamailio's parser gives a type of their own (parser/hf.h), which m_store
# does not keep; the keys are geosip's (lower-case long names).
TYPED = frozenset((
    "via", "to", "from", "cseq", "call-id", "contact", "max-forwards", "route",
    "record-route", "content-type", "content-length", "authorization", "expires",
    "proxy-authorization", "supported", "require", "proxy-require", "unsupported",
    "allow", "event", "accept", "accept-language", "organization", "priority",
    "subject", "user-agent", "server", "content-disposition", "diversion",
    "remote-party-id", "refer-to", "session-expires", "min-se", "sip-if-match",
    "subscription-state", "date", "identity", "identity-info", "path", "reason",
    "retry-after", "www-authenticate", "proxy-authenticate", "min-expires",
    "request-disposition", "accept-contact", "reject-contact", "allow-events",
    "content-encoding", "call-info", "referred-by", "accept-encoding", "alert-info",
    "error-info", "in-reply-to", "mime-version", "reply-to", "timestamp", "warning",
    "rseq", "rack", "replaces", "security-client", "security-server", "security-verify",
))


def kept_headers(request: Request) -> str:
    """The header lines m_store keeps, "Name: value\\r\\n" each, in order."""
    return "".join(f"{f.name}: {f.value}\r\n" for f in request.fields
                   if f.key not in TYPED)


def sip_date(when: int) -> str:
    """RFC 3261 §20.17 / RFC 1123 date in GMT: "Mon, 19 Feb 2007 18:42:27 GMT"."""
    return email.utils.formatdate(when, usegmt=True)


def body_of(row: Stored, reminder: bool = False) -> bytes:
    """The stored body; with add_date, a text/plain one gets Kamailio's prefix."""
    if not SETTINGS["add_date"] or row.ctype.split(";")[0].strip().lower() != "text/plain":
        return row.body
    kind, when = ("Reminder", row.snd_time) if reminder else ("Offline", row.inc_time)
    return f"[{kind} message - {time.ctime(when)}] ".encode() + row.body


def deliver(row: Stored, ruri: str, extra: str = "", *, reminder: bool = False) -> Request:
    """The MESSAGE that delivers `row` to `ruri`. ValueError when it cannot be built
    (a stored address or header that is not valid SIP)."""
    headers: list[tuple[str, str]] = []
    if not reminder:
        headers.append(("Date", sip_date(row.inc_time)))
    if row.ctype:
        headers.append(("Content-Type", row.ctype))
    from_uri = str(SETTINGS["reminder"]) if reminder else row.src_addr
    if SETTINGS["add_contact"] and from_uri:
        headers.append(("Contact", f"<{from_uri}>;msilo=yes"))
    for text in (extra, "" if reminder else row.extra_hdrs):
        lines = parse_lines(text) if text else []
        if lines is None:
            raise ValueError(f"not header lines: {text[:60]!r}")
        headers += lines
    to_uri = f"sip:{row.username}@{row.domain}" if reminder else row.dst_addr
    callid = row.callid if SETTINGS["use_mode"] & 1 and row.callid and not reminder else None
    return new_request("MESSAGE", ruri, from_uri, to_uri or ruri, headers=headers,
                       body=body_of(row, reminder), call_id=callid)
