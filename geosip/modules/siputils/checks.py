"""KSR.siputils checks and Request-URI parameter helpers (Kamailio's siputils KEMI
exports: checks.c, sipops.c, options.c, siputils.c).

Return codes are Kamailio's. The Request-URI functions act on the request's current
Request-URI ($ru); a URI that does not parse counts as "no" (-1), as in Kamailio.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from geosip.core.context import RequestContext
from geosip.sip import (AbsoluteUri, LocalProtocolError, ParseError, Request, Response,
                        SipUri, TelUri, parse_uri)
from geosip.sip.grammar import HEADER_KEYS, header_key
from geosip.sip.params import Params
from geosip.modules.tm import api as tm
from geosip.script.exports import ksr
from geosip.script.ksr.hdr import add_reply_headers, message

log = logging.getLogger("geosip.modules.siputils")

# modparams (Kamailio's names and defaults); mod.init() updates them
SETTINGS: dict[str, Any] = {
    "options_accept": "*/*", "options_accept_encoding": "",
    "options_accept_language": "en", "options_support": "",
}

# URI parameters RFC 3261 §19.1.4 says must match when present in either URI (cmp_uri)
_MUST_MATCH = ("user", "ttl", "method", "maddr")


def _ruri(ctx: RequestContext) -> SipUri | TelUri | None:
    try:
        uri = ctx.msg.uri
    except ParseError:
        return None
    return uri if isinstance(uri, (SipUri, TelUri)) else None


def _set_ruri(ctx: RequestContext, text: str) -> bool:
    try:
        parse_uri(text)
        ctx.msg.uri = text
    except (ParseError, LocalProtocolError) as exc:
        log.error("siputils: cannot set the Request-URI to %r: %s", text[:80], exc)
        return False
    return True


# ---- the message ------------------------------------------------------------------------

@ksr("has_totag", returns="1 the To header has a tag, -1 not")
def has_totag(ctx: RequestContext) -> int:
    """Whether the message is within a dialog (To tag present)."""
    try:
        return 1 if message(ctx).to_tag else -1
    except ParseError:
        return -1


@ksr("is_request", returns="1 a request, -1 a reply")
def is_request(ctx: RequestContext) -> int:
    return 1 if isinstance(message(ctx), Request) else -1


@ksr("is_reply", returns="1 a reply, -1 a request")
def is_reply(ctx: RequestContext) -> int:
    return 1 if isinstance(message(ctx), Response) else -1


@ksr("is_sip", returns="1 (geosip only handles SIP)")
def is_sip(ctx: RequestContext) -> int:
    """Whether the message is SIP (Kamailio can also receive HTTP; geosip cannot)."""
    return 1


@ksr("is_http", returns="-1 (geosip receives no HTTP on its SIP sockets)")
def is_http(ctx: RequestContext) -> int:
    return -1


@ksr("is_first_hop", returns="1 the request has a single Via, -1 not")
def is_first_hop(ctx: RequestContext) -> int:
    """For a request: whether it comes straight from the UA (one Via value). Kamailio's
    reply case (top Record-Route is ours) needs reply routes, see message()."""
    msg = message(ctx)
    if not isinstance(msg, Request):
        return -1
    try:
        return 1 if len(msg.via) == 1 else -1
    except ParseError:
        return 1   # Kamailio: no second Via could be parsed - first hop


@ksr("is_first_hop_mode", "i", returns="as is_first_hop")
def is_first_hop_mode(ctx: RequestContext, mode: int) -> int:
    """is_first_hop; `mode` only matters for replies in Kamailio."""
    return int(is_first_hop.fn(ctx))


@ksr("sip_parse_headers", returns="1 every header geosip knows parses, -1 not")
def sip_parse_headers(ctx: RequestContext) -> int:
    try:
        message(ctx).validate()
    except ParseError as exc:
        log.info("siputils.sip_parse_headers: %s", exc.reason)
        return -1
    return 1


@ksr("hdr_date_check", "i", returns="1 Date within tdiff seconds, -1 missing/bad Date, "
                                    "-4 older")
def hdr_date_check(ctx: RequestContext, tdiff: int) -> int:
    """Whether the Date header is at most `tdiff` seconds old."""
    try:
        date = message(ctx).date
    except ParseError:
        return -1
    if date is None:
        return -1
    return -4 if time.time() > date.timestamp() + int(tdiff) else 1


# ---- values -----------------------------------------------------------------------------

@ksr("is_uri", "s", returns="1 a URI Kamailio parses (sip, sips, tel, urn), -1 not")
def is_uri(ctx: RequestContext, suri: str) -> int:
    try:
        uri = parse_uri(suri)
    except ParseError:
        return -1
    if isinstance(uri, AbsoluteUri) and uri.scheme != "urn":
        return -1
    return 1


@ksr("is_tel_number", "s", returns="1 [+]digits (no leading 0 after +), -2 not")
def is_tel_number(ctx: RequestContext, tval: str) -> int:
    digits = tval[1:] if tval.startswith("+") else tval
    if not digits or (tval.startswith("+") and digits[0] == "0"):
        return -2
    return 1 if digits.isascii() and digits.isdigit() else -2


@ksr("is_numeric", "s", returns="1 digits only, -2 not (or empty)")
def is_numeric(ctx: RequestContext, tval: str) -> int:
    return 1 if tval and tval.isascii() and tval.isdigit() else -2


@ksr("is_alphanum", "s", returns="1 ASCII letters and digits only, -2 empty, -3 not")
def is_alphanum(ctx: RequestContext, tval: str) -> int:
    if not tval:
        return -2
    return 1 if tval.isascii() and tval.isalnum() else -3


@ksr("is_alphanumex", "ss", returns="1 letters, digits and characters of eset, -2 empty, "
                                    "-3 not")
def is_alphanumex(ctx: RequestContext, tval: str, eset: str) -> int:
    if not tval:
        return -2
    ok = all((c.isascii() and c.isalnum()) or c in eset for c in tval)
    return 1 if ok else -3


# ---- Request-URI parameters ---------------------------------------------------------------

def _value(params: Params, name: str) -> tuple[bool, str | None]:
    """(found, value) of the first parameter called exactly `name` (Kamailio compares
    names case-sensitively here)."""
    for key, value in params:
        if key == name:
            return True, value
    return False, None


@ksr("uri_param", "s", returns="1 the R-URI has the parameter without a value, -1 not")
def uri_param(ctx: RequestContext, sparam: str) -> int:
    uri = _ruri(ctx)
    found, value = _value(uri.params, sparam) if uri is not None else (False, None)
    return 1 if found and not value else -1


@ksr("uri_param_value", "ss", returns="1 the R-URI has param=value, -1 not")
def uri_param_value(ctx: RequestContext, sparam: str, svalue: str) -> int:
    uri = _ruri(ctx)
    found, value = _value(uri.params, sparam) if uri is not None else (False, None)
    return 1 if found and (value or "") == svalue else -1


@ksr("uri_param_any", "s", returns="1 the R-URI has the parameter (any value), -1 not")
def uri_param_any(ctx: RequestContext, sparam: str) -> int:
    uri = _ruri(ctx)
    return 1 if uri is not None and uri.params.has(sparam) else -1


@ksr("uri_param_rm", "s", returns="1 removed (or absent), -1 R-URI not parsable")
def uri_param_rm(ctx: RequestContext, sparam: str) -> int:
    uri = _ruri(ctx)
    if uri is None:
        return -1
    if not uri.params.has(sparam):
        return 1
    return 1 if _set_ruri(ctx, str(uri.replace(params=uri.params.remove(sparam)))) else -1


@ksr("add_uri_param", "s", returns="1 added (or empty param), -1 R-URI not parsable")
def add_uri_param(ctx: RequestContext, param: str) -> int:
    """Append ';param' to the Request-URI's parameters (before any '?headers')."""
    if not param:
        return 1
    if _ruri(ctx) is None:
        return -1
    text = ctx.msg.uri_text
    qmark = text.find("?")
    new = f"{text};{param}" if qmark < 0 else f"{text[:qmark]};{param}{text[qmark:]}"
    return 1 if _set_ruri(ctx, new) else -1


@ksr("is_gruu", returns="1 R-URI has gr=value, 2 gr without value, -1 no gr")
def is_gruu(ctx: RequestContext) -> int:
    """Whether the Request-URI is a GRUU (RFC 5627 'gr' parameter)."""
    uri = _ruri(ctx)
    if not isinstance(uri, SipUri) or not uri.params.has("gr"):
        return -1
    return 1 if uri.params.get("gr") else 2


# ---- comparisons ------------------------------------------------------------------------

def _parse_pair(s1: str, s2: str) -> tuple[SipUri | TelUri, SipUri | TelUri] | None:
    try:
        u1, u2 = parse_uri(s1), parse_uri(s2)
    except ParseError:
        return None
    if isinstance(u1, AbsoluteUri) or isinstance(u2, AbsoluteUri):
        return None
    return u1, u2


def _parts(uri: SipUri | TelUri) -> tuple[str, str, str, str, str]:
    if isinstance(uri, TelUri):
        return "tel", uri.number, "", "", ""
    port = "" if uri.port is None else str(uri.port)
    return uri.scheme, uri.user or "", uri.password or "", uri.host.lower(), port


@ksr("cmp_uri", "ss", returns="1 equal (RFC 3261 §19.1.4 as Kamailio checks it), "
                              "-1 different, -2 a URI does not parse")
def cmp_uri(ctx: RequestContext, uri1: str, uri2: str) -> int:
    pair = _parse_pair(uri1, uri2)
    if pair is None:
        return -2
    a, b = pair
    if _parts(a) != _parts(b):
        return -1
    pa, pb = a.params, b.params
    for one, other in ((pa, pb), (pb, pa)):
        if not other and any(one.has(name) for name in _MUST_MATCH):
            return -1
    for name, value in pa:
        if pb.has(name) and (value or "").lower() != (pb.get(name) or "").lower():
            return -1
    return 1


@ksr("cmp_aor", "ss", returns="1 same user, host and port (absent = 5060), -1 not, "
                              "-2 a URI does not parse")
def cmp_aor(ctx: RequestContext, uri1: str, uri2: str) -> int:
    pair = _parse_pair(uri1, uri2)
    if pair is None:
        return -2
    _, user1, _, host1, port1 = _parts(pair[0])
    _, user2, _, host2, port2 = _parts(pair[1])
    if user1 != user2 or host1 != host2:
        return -1
    return 1 if (port1 or "5060") == (port2 or "5060") else -1


@ksr("cmp_hdr_name", "ss", returns="1 the same header (case and compact forms ignored), "
                                   "-1 h1 sorts after h2, -2 before")
def cmp_hdr_name(ctx: RequestContext, h1: str, h2: str) -> int:
    """Whether two names are the same header: "v" is Via. As in Kamailio, a header it
    knows by name compares by kind (different: -1); two others by their text."""
    k1, k2 = header_key(h1), header_key(h2)
    if h1 and k1 == k2:
        return 1
    if k1 in HEADER_KEYS.values() or k2 in HEADER_KEYS.values():
        return -1
    a, b = h1.lower(), h2.lower()
    return 1 if a == b else -1 if a > b else -2


# ---- OPTIONS ----------------------------------------------------------------------------

@ksr("options_reply", blocking=True,
     returns="1 answered 200, -1 not an OPTIONS to the server itself or not sent")
def options_reply(ctx: RequestContext) -> int:
    """Answer an OPTIONS addressed to the server (no user in the R-URI) with 200 and
    the Accept, Accept-Encoding, Accept-Language and Supported headers of the module
    parameters, statelessly (as sl does: a blocking call, sending may wait)."""
    msg = ctx.msg
    uri = _ruri(ctx)
    if msg.method != "OPTIONS" or uri is None or isinstance(uri, TelUri) or uri.user:
        log.error("siputils.options_reply: not an OPTIONS for the server itself")
        return -1
    add_reply_headers(ctx, [
        ("Accept", SETTINGS["options_accept"]),
        ("Accept-Encoding", SETTINGS["options_accept_encoding"]),
        ("Accept-Language", SETTINGS["options_accept_language"]),
        ("Supported", SETTINGS["options_support"])])
    return 1 if tm.reply(ctx, 200, "OK", stateful=False) else -1


FUNCTIONS = (has_totag, is_request, is_reply, is_sip, is_http, is_first_hop,
             is_first_hop_mode, sip_parse_headers, hdr_date_check, is_uri, is_tel_number,
             is_numeric, is_alphanum, is_alphanumex, uri_param, uri_param_value,
             uri_param_any, uri_param_rm, add_uri_param, is_gruu, cmp_uri, cmp_aor,
             cmp_hdr_name, options_reply)
