"""The checks of KSR.sanity.sanity_check (Kamailio's sanity module, sanity.c), in
Kamailio's order and with its reply codes and reasons.

Each check returns True when the message passes. A failing check answers the request
itself, statelessly as Kamailio's sl does, with the headers queued by append_to_reply
(unless the message is a reply or an ACK, or the module parameter noreply is set: then
sanity_reply() sends the answer later) and returns False. Answering may wait on the
network, so the KSR functions are blocking calls (engine.py runs them outside Lua).
Some failures are not answered, as in Kamailio: a request without the headers a reply
needs (From, To, Call-ID, CSeq, a parsable top Via) and a non-Digest Authorization
under check 2048.

geosip's parser already refuses much of what these checks look for (a wrong SIP
version, missing or repeated From/To/Call-ID/CSeq, a CSeq method that differs from the
request's, a CSeq number over 2**32-1) and answers before any route runs; the checks
still run, so a script behaves the same with either parser. Two answers follow the RFC
rather than Kamailio: an unknown but well-formed Request-URI scheme gets 416 (RFC 3261
§8.2.2.1; Kamailio's URI parser gives 400), and 420 lists every unsupported
Proxy-Require option tag (§8.2.2.3; Kamailio lists the first), compared
case-insensitively as tokens are (§7.3.1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from geosip.core.context import RequestContext
from geosip.sip import AbsoluteUri, Message, ParseError, Request, parse_address, parse_uri
from geosip.sip.digest import parse_credentials
from geosip.modules.tm import api as tm
from geosip.script.exports import ksr
from geosip.script.ksr.hdr import add_reply_headers, message

log = logging.getLogger("geosip.modules.sanity")

# modparams (Kamailio's names and defaults); mod.init() updates them
SETTINGS: dict[str, Any] = {"default_checks": 3047, "uri_checks": 7, "proxy_require": "",
                            "autodrop": 1, "noreply": 0}
PENDING = "sanity:reply"  # ctx.script.extra: (code, reason) kept for sanity_reply()
UINT_MAX = 2**32 - 1

RURI_SIP_VERSION, RURI_SCHEME, REQUIRED_HEADERS = 1, 2, 4
VIA_SIP_VERSION, VIA_PROTOCOL, CSEQ_METHOD, CSEQ_VALUE = 8, 16, 32, 64
CONTENT_LENGTH, EXPIRES_VALUE, PROXY_REQUIRE, PARSE_URIS = 128, 256, 512, 1024
DIGEST, DUPTAGS, AUTHORIZATION, VIA1_HEADER = 2048, 4096, 8192, 16384
URI_RURI, URI_FROM, URI_TO, URI_CONTACT = 1, 2, 4, 8


def answer(ctx: RequestContext, code: int, reason: str) -> bool:
    """Kamailio's sanity_reply(msg, code, reason): reply now, or keep it for
    sanity_reply() when noreply is set. Always returns False (the check failed)."""
    msg = message(ctx)
    if not isinstance(msg, Request) or msg.method == "ACK":
        return False
    if SETTINGS["noreply"]:
        ctx.script.extra[PENDING] = (code, reason)
    elif not ctx.replied:
        try:
            tm.reply(ctx, code, reason, stateful=False)   # sl's reply, with reply headers
        except ParseError as exc:   # a reply copies To and tags it: To must parse
            log.info("sanity: cannot answer %d to %s: %s", code, msg, exc.reason)
    return False


def _kamailio_scheme(uri: object) -> bool:
    """Whether Kamailio's URI parser takes the URI: sip, sips, tel, urn."""
    return not isinstance(uri, AbsoluteUri) or uri.scheme == "urn"


def _uint(text: str) -> int | None:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    value = int(text)
    return value if value <= UINT_MAX else None


# ---- the checks ---------------------------------------------------------------------------

def ruri_sip_version(ctx: RequestContext, msg: Message, uri_checks: int) -> bool:
    if isinstance(msg, Request) and msg.version.upper() != "SIP/2.0":
        return answer(ctx, 505, "Version Not Supported (R-URI)")
    return True


def ruri_scheme(ctx: RequestContext, msg: Message, uri_checks: int) -> bool:
    if not isinstance(msg, Request):
        return True
    try:
        uri = msg.uri
    except ParseError:
        return answer(ctx, 400, "Bad Request URI")
    if not _kamailio_scheme(uri):
        return answer(ctx, 416, "Unsupported URI Scheme in Request URI")
    return True


def required_headers(ctx: RequestContext, msg: Message, uri_checks: int) -> bool:
    """From, To, Call-ID, CSeq and Via present, the first four once: else no reply."""
    if not msg.has("via"):
        return False
    for name in ("from", "to", "call-id", "cseq"):
        if len(msg.header_all(name)) != 1:
            log.info("sanity: missing or repeated %s header", name)
            return False
    return True


def via1_header(ctx: RequestContext, msg: Message, uri_checks: int) -> bool:
    try:
        return bool(msg.top_via.host)
    except ParseError:
        return False   # no reply: it could not be addressed


def passes(ctx: RequestContext, msg: Message, uri_checks: int) -> bool:
    """Checks 8 (Via SIP version) and 16 (Via protocol): no-ops in Kamailio too."""
    return True


def _cseq_parts(msg: Message) -> tuple[str, str] | None:
    value = msg.header("cseq")
    if value is None:
        return None
    number, _, method = value.strip().partition(" ")
    return number, method.strip()


def cseq_method(ctx: RequestContext, msg: Message, uri_checks: int) -> bool:
    parts = _cseq_parts(msg)
    if parts is None:
        return False
    if not parts[1]:
        return answer(ctx, 400, "Missing method in CSeq header")
    if isinstance(msg, Request) and parts[1] != msg.method:
        return answer(ctx, 400, "CSeq method does not match request method")
    return True


def cseq_value(ctx: RequestContext, msg: Message, uri_checks: int) -> bool:
    parts = _cseq_parts(msg)
    if parts is None:
        return False
    if not parts[0]:
        return answer(ctx, 400, "Missing number in CSeq header")
    if _uint(parts[0]) is None:
        return answer(ctx, 400, "CSeq number is illegal")
    return True


def _received_body(ctx: RequestContext) -> int:
    """Octets after the header section as the request arrived (the parser drops any
    beyond Content-Length, RFC 3261 §18.3; Kamailio checks the buffer it received)."""
    data = ctx.inbound.data
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(b"\r\n\r\n", start)
    return len(data) - end - 4 if end >= 0 else 0


def content_length(ctx: RequestContext, msg: Message, uri_checks: int) -> bool:
    value = msg.header("content-length")
    if value is None:
        return True                      # Kamailio only warns
    length = _uint(value)
    if length is None:
        return answer(ctx, 400, "Content-Length Failure")
    body = _received_body(ctx) if msg is ctx.msg else len(msg.body)
    if length != body:
        return answer(ctx, 400, "Content-Length mis-match")
    return True


def expires_value(ctx: RequestContext, msg: Message, uri_checks: int) -> bool:
    value = msg.header("expires")
    if value is None:
        return True
    text = value.strip()
    if not text:
        return answer(ctx, 400, "Missing number in Expires header")
    if not text.isascii() or not text.isdigit():
        return answer(ctx, 400, "Bad Expires Header")
    if _uint(text) is None:
        return answer(ctx, 400, "Expires value is illegal")
    return True


def proxy_require(ctx: RequestContext, msg: Message, uri_checks: int) -> bool:
    try:
        tokens = [t.strip() for t in msg.values("proxy-require")]
    except ParseError:
        return answer(ctx, 400, "Bad Proxy Require Header")
    supported = {t.strip().lower() for t in str(SETTINGS["proxy_require"]).split(",")}
    unsupported = [t for t in tokens if t and t.lower() not in supported]
    if unsupported:
        add_reply_headers(ctx, [("Unsupported", ", ".join(unsupported))])
        return answer(ctx, 420, "Bad Proxy Require Extension")
    return True


def parse_uris(ctx: RequestContext, msg: Message, uri_checks: int) -> bool:
    if uri_checks & URI_RURI and isinstance(msg, Request):
        if not ruri_scheme(ctx, msg, uri_checks):
            return False
    for flag, name, reason in ((URI_FROM, "from", "Invalid From Header"),
                               (URI_TO, "to", "Invalid To Header")):
        if uri_checks & flag:
            value = msg.header(name)
            if value is None:
                return False             # no reply: it could not be addressed
            try:
                if not _kamailio_scheme(parse_address(value).uri):
                    return answer(ctx, 400, reason)
            except ParseError:
                return answer(ctx, 400, reason)
    if uri_checks & URI_CONTACT and msg.has("contact"):
        try:
            contacts = msg.contact
        except ParseError:
            return answer(ctx, 400, "Bad Contact Header")
        if contacts and not _kamailio_scheme(contacts[0].uri):
            return answer(ctx, 400, "Bad Contact URI")
    return True


def _digest(ctx: RequestContext, msg: Message, non_digest_passes: bool) -> bool:
    for name in ("authorization", "proxy-authorization"):
        for value in msg.header_all(name):
            try:
                cred = parse_credentials(value)
            except ParseError:
                return answer(ctx, 400, "Bad Auth Header")
            if not cred.is_digest:       # Kamailio: "not applicable"
                return non_digest_passes
            for attr, reason in (("username", "Auth Empty User"),
                                 ("nonce", "Auth Empty Nonce"),
                                 ("response", "Auth Empty Response")):
                if not getattr(cred, attr):
                    return answer(ctx, 400, reason)
    return True


def digest(ctx: RequestContext, msg: Message, uri_checks: int) -> bool:
    """2048: every credential is Digest and complete (another scheme fails, no reply)."""
    return _digest(ctx, msg, non_digest_passes=False)


def authorization(ctx: RequestContext, msg: Message, uri_checks: int) -> bool:
    """8192: Digest credentials are complete; other schemes pass."""
    return _digest(ctx, msg, non_digest_passes=True)


def duptags(ctx: RequestContext, msg: Message, uri_checks: int) -> bool:
    for name, reason in (("from", "Many From Tag Params"), ("to", "Many To Tag Params")):
        try:
            address = msg.from_ if name == "from" else msg.to
        except ParseError:
            return False
        if sum(1 for key, _ in address.params if key.lower() == "tag") > 1:
            return answer(ctx, 400, reason)
    return True


Check = Callable[[RequestContext, Message, int], bool]

# Kamailio's order (sanity_mod.c sanity_check)
ORDER: tuple[tuple[int, Check], ...] = (
    (RURI_SIP_VERSION, ruri_sip_version), (RURI_SCHEME, ruri_scheme),
    (REQUIRED_HEADERS, required_headers), (VIA1_HEADER, via1_header),
    (VIA_SIP_VERSION, passes), (VIA_PROTOCOL, passes), (CSEQ_METHOD, cseq_method),
    (CSEQ_VALUE, cseq_value), (CONTENT_LENGTH, content_length),
    (EXPIRES_VALUE, expires_value), (PROXY_REQUIRE, proxy_require),
    (PARSE_URIS, parse_uris), (DIGEST, digest), (AUTHORIZATION, authorization),
    (DUPTAGS, duptags),
)


def run(ctx: RequestContext, msg_checks: int, uri_checks: int) -> bool:
    """Run the checks selected by the bit mask; False at the first that fails."""
    msg = message(ctx)
    if SETTINGS["noreply"]:
        ctx.script.extra.pop(PENDING, None)
    for flag, check in ORDER:
        if msg_checks & flag and not check(ctx, msg, uri_checks):
            log.info("sanity check %d failed for %s", flag, msg)
            return False
    return True


# ---- KSR.sanity -------------------------------------------------------------------------

@ksr("sanity_check", "ii", blocking=True,
     returns="1 the message passed the checks, -1 it failed one (the request was "
             "answered, see README)")
def sanity_check(ctx: RequestContext, mflags: int, uflags: int) -> int:
    """Run the checks of bit mask `mflags` (the URIs of check 1024 chosen by `uflags`)."""
    return 1 if run(ctx, int(mflags), int(uflags)) else -1


@ksr("sanity_check_defaults", blocking=True, returns="as sanity_check")
def sanity_check_defaults(ctx: RequestContext) -> int:
    """sanity_check with the default_checks and uri_checks parameters."""
    return 1 if run(ctx, int(SETTINGS["default_checks"]), int(SETTINGS["uri_checks"])) else -1


@ksr("sanity_reply", blocking=True, returns="1 (also when there is nothing to send), "
                                            "-1 the reply could not be sent")
def sanity_reply(ctx: RequestContext) -> int:
    """With noreply=1: send the answer of the last failed check (500 "Server Sanity
    Failure" when none is known)."""
    msg = message(ctx)
    if not SETTINGS["noreply"] or not isinstance(msg, Request) or msg.method == "ACK":
        return 1
    pending = ctx.script.extra.get(PENDING)
    code, reason = pending if isinstance(pending, tuple) else (500, "Server Sanity Failure")
    try:
        return 1 if tm.reply(ctx, int(code), str(reason), stateful=False) else -1
    except ParseError as exc:
        log.info("sanity_reply: cannot answer %s: %s", msg, exc.reason)
        return -1
