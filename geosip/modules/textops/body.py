"""KSR.textops body and Privacy functions: has_body, has_body_type, set_body,
set_reply_body, is_privacy (Kamailio's textops KEMI exports).

has_body follows Kamailio: a body counts when the Content-Length header is present and
not zero. has_body_type compares type/subtype, case-insensitively and ignoring
parameters; a message with a body and no Content-Type is application/sdp (RFC 3261
§7.4.1, as Kamailio assumes). Reply bodies (set_reply_body) are queued like reply
headers: `ctx.script.extra["reply_body"]` holds the bytes and "Content-Type" goes to
`extra["reply_headers"]`; the reply senders (sl, tm) put them in the replies.
"""

from __future__ import annotations

from geosip.core.context import RequestContext
from geosip.sip import ParseError
from geosip.sip.grammar import is_token
from geosip.sip.headers import parse_uint
from geosip.script.exports import ksr
from geosip.script.ksr.hdr import add_reply_headers, message

REPLY_BODY = "reply_body"  # ctx.script.extra key: bytes of the body of replies

# RFC 3323 §4.2 priv-value, and Kamailio's bit for each (parse_privacy.c): "none" is a
# value of its own, it does not clear the others.
PRIVACY_VALUES = frozenset(("user", "header", "session", "none", "critical", "id",
                            "history"))


def _content_length(ctx: RequestContext) -> int:
    """The Content-Length value; 0 when absent or malformed (Kamailio: no body)."""
    value = message(ctx).header("content-length")
    if value is None:
        return 0
    try:
        return parse_uint(value, "Content-Length")
    except ParseError:
        return 0


@ksr("has_body", returns="1 the message has a body (Content-Length > 0), -1 not")
def has_body(ctx: RequestContext) -> int:
    """Whether the message carries a body."""
    return 1 if _content_length(ctx) > 0 else -1


def _mime(value: str) -> str | None:
    """'type/subtype' lower-cased, parameters dropped; None when malformed."""
    media = value.split(";", 1)[0].strip().lower()
    kind, slash, sub = media.partition("/")
    if not slash or not is_token(kind) or not is_token(sub):
        return None
    return f"{kind}/{sub}"


@ksr("has_body_type", "s", returns="1 a body of that type, -1 not (or a bad type)")
def has_body_type(ctx: RequestContext, ctype: str) -> int:
    """Whether the message has a body of MIME type `ctype` ("" = any type)."""
    if _content_length(ctx) <= 0:
        return -1
    if not ctype:
        return 1
    want = _mime(ctype)
    if want is None:
        return -1
    have = message(ctx).content_type
    kind = _mime(have) if have is not None else "application/sdp"
    return 1 if kind == want else -1


@ksr("set_body", "ss", returns="1 set, -1 empty body or content type")
def set_body(ctx: RequestContext, nb: str, nc: str) -> int:
    """Replace the body with `nb` of type `nc` (Content-Length and Content-Type follow)."""
    if not nb or not nc or "\r" in nc or "\n" in nc:
        return -1
    message(ctx).set_body(nb.encode("utf-8", "surrogateescape"), nc)
    return 1


@ksr("set_reply_body", "ss", returns="1 queued, -1 empty body or content type")
def set_reply_body(ctx: RequestContext, nb: str, nc: str) -> int:
    """Set the body (and its Content-Type) of the replies sent to this request."""
    if not nb or not nc or "\r" in nc or "\n" in nc:
        return -1
    add_reply_headers(ctx, [("Content-Type", nc)])
    ctx.script.extra[REPLY_BODY] = nb.encode("utf-8", "surrogateescape")
    return 1


@ksr("is_privacy", "s", returns="1 the Privacy header has the value, -1 not, no header, "
                                "or not a privacy value")
def is_privacy(ctx: RequestContext, privacy: str) -> int:
    """Whether the Privacy header (RFC 3323) lists `privacy` (user, header, session,
    none, critical, id, history)."""
    want = privacy.strip().lower()
    if want not in PRIVACY_VALUES:
        return -1
    values = []
    for field in message(ctx).header_all("privacy"):
        for item in field.replace(",", ";").split(";"):
            item = item.strip().lower()
            if item not in PRIVACY_VALUES:
                return -1                # Kamailio: a Privacy header it cannot parse
            values.append(item)
    return 1 if want in values else -1
