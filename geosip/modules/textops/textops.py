"""KSR.textops: regular-expression search and replace over the message text (Kamailio's
textops KEMI exports; the body and Privacy functions are in body.py, the string
comparisons in strings.py).

The text model is Kamailio's: `search` looks at the whole message (request line
included); `replace*`, `subst` and `search_append` work on everything after the request
line (headers, the blank line and the body); the `*_body` variants on the body alone;
`*_hf` on the values of one header. Regexes are POSIX extended, compiled as Kamailio's
KEMI functions do (ignore case, newline-sensitive): see api.py.

An edit is applied to the message at once by rebuilding it from the edited text and
parsing that again (Kamailio keeps the edit as a lump until it sends). An edit that
leaves the request unparsable (a mangled Via or CSeq...) is refused: the function returns
-1 and the message is unchanged. A body edit updates Content-Length, as Kamailio's
message builder does when it sends.
"""

from __future__ import annotations

import logging
import re

from geosip.core.context import RequestContext
from geosip.sip import LocalProtocolError, Message, ParseError, SipUri, parse, parse_uri
from geosip.sip.grammar import header_key
from geosip.sip.headers import Field
from geosip.script.exports import ksr
from geosip.script.ksr.hdr import is_present as hdr_is_present
from geosip.script.ksr.hdr import message, set_fields

from .api import Subst, compile_posix, parse_subst

log = logging.getLogger("geosip.modules.textops")

_ENC = ("utf-8", "surrogateescape")  # what the parser uses: any byte survives


def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return compile_posix(pattern)
    except ValueError as exc:
        log.error("textops: %s", exc)
        return None


def _subst(expr: str) -> Subst | None:
    try:
        return parse_subst(expr)
    except ValueError as exc:
        log.error("textops: bad subst expression %r: %s", expr, exc)
        return None


def _after_start(msg: Message) -> str:
    """Everything after the start line: header lines, blank line, body."""
    return msg.to_bytes().decode(*_ENC).split("\r\n", 1)[1]


def _body(msg: Message) -> str:
    return msg.body.decode(*_ENC)


def _ruri(msg: Message) -> str:
    """The Request-URI text for a replacement's \\u ("" in a reply)."""
    return str(getattr(msg, "uri_text", ""))


def _rewrite(msg: Message, text: str) -> bool:
    """Make `text` (as from _after_start) the message; False when it does not parse."""
    head, sep, body = text.partition("\r\n\r\n")
    if not sep:
        return False
    data = (msg.start_line() + "\r\n" + head + "\r\n\r\n").encode(*_ENC) + msg.body
    try:
        new = parse(data)
    except ParseError as exc:
        log.error("textops: the edited message does not parse (%s): unchanged", exc.reason)
        return False
    if type(new) is not type(msg):
        return False
    set_fields(msg, new.fields)
    new_body = body.encode(*_ENC)
    if new_body != msg.body:
        msg.set_body(new_body)
    return True


def _set_body(msg: Message, text: str) -> None:
    body = text.encode(*_ENC)
    if body != msg.body:
        msg.set_body(body)


def _replace_matches(text: str, found: list[re.Match[str]], value: str) -> str:
    out, pos = [], 0
    for m in found:
        out += [text[pos:m.start()], value]
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def _all_matches(regex: re.Pattern[str], text: str) -> list[re.Match[str]] | None:
    """Every match; None when one is empty (Kamailio: "matched string is empty")."""
    found = list(regex.finditer(text))
    if any(m.start() == m.end() for m in found):
        log.error("textops: the regular expression matched an empty string")
        return None
    return found


# ---- search -----------------------------------------------------------------------------

@ksr("search", "s", returns="1 found (or empty regex), -1 not found or bad regex")
def search(ctx: RequestContext, sre: str) -> int:
    """Search the whole message, request line included."""
    if not sre:
        return 1
    regex = _regex(sre)
    text = message(ctx).to_bytes().decode(*_ENC)
    return 1 if regex is not None and regex.search(text) else -1


@ksr("search_body", "s", returns="1 found (or empty regex), -1 not found, no body, bad regex")
def search_body(ctx: RequestContext, sre: str) -> int:
    """Search the body."""
    if not sre:
        return 1
    msg = message(ctx)
    regex = _regex(sre)
    return 1 if regex is not None and msg.body and regex.search(_body(msg)) else -1


def _pick(values: list[str], flags: str) -> list[str]:
    """The header values search_hf/subst_hf look at: f first, l last, else all."""
    if not values:
        return []
    flag = flags[:1]
    return values[:1] if flag == "f" else values[-1:] if flag == "l" else values


@ksr("search_hf", "sss", returns="1 found, -1 not found or bad arguments")
def search_hf(ctx: RequestContext, hname: str, sre: str, flags: str) -> int:
    """Search the values of the headers called `hname`; flags "f" first only, "l" last
    only, "" any."""
    regex = _regex(sre) if hname and sre else None
    if regex is None:
        return -1
    values = _pick(message(ctx).header_all(hname), flags)
    return 1 if any(regex.search(v) for v in values) else -1


@ksr("search_append", "ss", returns="1 inserted, -1 not found")
def search_append(ctx: RequestContext, ematch: str, val: str) -> int:
    """Insert `val` after the first match (after the request line)."""
    msg = message(ctx)
    regex = _regex(ematch)
    text = _after_start(msg)
    m = regex.search(text) if regex is not None else None
    if m is None:
        return -1
    return 1 if _rewrite(msg, text[:m.end()] + val + text[m.end():]) else -1


@ksr("search_append_body", "ss", returns="1 inserted, -1 not found or no body")
def search_append_body(ctx: RequestContext, ematch: str, val: str) -> int:
    """Insert `val` after the first match in the body."""
    msg = message(ctx)
    regex = _regex(ematch)
    text = _body(msg)
    m = regex.search(text) if regex is not None and text else None
    if m is None:
        return -1
    _set_body(msg, text[:m.end()] + val + text[m.end():])
    return 1


# ---- headers by name --------------------------------------------------------------------

# textops' name for KSR.hdr.is_present: one implementation.
is_present_hf = ksr("is_present_hf", "s", returns="1 present, -1 absent")(hdr_is_present.fn)


@ksr("is_present_hf_re", "s", returns="1 a header name matches, -1 none")
def is_present_hf_re(ctx: RequestContext, ematch: str) -> int:
    """Whether a header name, as written, matches the regex."""
    regex = _regex(ematch)
    if regex is None:
        return -1
    return 1 if any(regex.search(f.name) for f in message(ctx).fields) else -1


def _remove_fields(msg: Message, drop: list[Field]) -> int:
    if not drop:
        return -1
    set_fields(msg, [f for f in msg.fields if f not in drop])
    return 1


@ksr("remove_hf_re", "s", returns="1 removed some, -1 none matched")
def remove_hf_re(ctx: RequestContext, ematch: str) -> int:
    """Remove the headers whose name matches the regex."""
    regex = _regex(ematch)
    msg = message(ctx)
    if regex is None:
        return -1
    return _remove_fields(msg, [f for f in msg.fields if regex.search(f.name)])


@ksr("remove_hf_exp", "ss", returns="1 removed some, -1 none matched")
def remove_hf_exp(ctx: RequestContext, ematch: str, eskip: str) -> int:
    """Remove the headers whose name matches `ematch` and not `eskip`."""
    match, skip = _regex(ematch), _regex(eskip)
    msg = message(ctx)
    if match is None or skip is None:
        return -1
    return _remove_fields(msg, [f for f in msg.fields
                                if match.search(f.name) and not skip.search(f.name)])


# ---- replace ----------------------------------------------------------------------------

def _replace(ctx: RequestContext, sre: str, sval: str, body: bool, every: bool) -> int:
    msg = message(ctx)
    regex = _regex(sre)
    text = _body(msg) if body else _after_start(msg)
    if regex is None or (body and not text):
        return -1
    if every:
        found = _all_matches(regex, text)
        if not found:
            return -1
    else:
        first = regex.search(text)
        if first is None:
            return -1
        found = [first]
    new = _replace_matches(text, found, sval)
    if body:
        _set_body(msg, new)
        return 1
    return 1 if _rewrite(msg, new) else -1


@ksr("replace", "ss", returns="1 replaced, -1 not found")
def replace(ctx: RequestContext, sre: str, sval: str) -> int:
    """Replace the first match after the request line with `sval` (taken literally)."""
    return _replace(ctx, sre, sval, body=False, every=False)


@ksr("replace_all", "ss", returns="1 replaced, -1 not found or an empty match")
def replace_all(ctx: RequestContext, sre: str, sval: str) -> int:
    """Replace every match after the request line."""
    return _replace(ctx, sre, sval, body=False, every=True)


@ksr("replace_body", "ss", returns="1 replaced, -1 not found or no body")
def replace_body(ctx: RequestContext, sre: str, sval: str) -> int:
    """Replace the first match in the body."""
    return _replace(ctx, sre, sval, body=True, every=False)


@ksr("replace_body_all", "ss", returns="1 replaced, -1 not found, no body, empty match")
def replace_body_all(ctx: RequestContext, sre: str, sval: str) -> int:
    """Replace every match in the body."""
    return _replace(ctx, sre, sval, body=True, every=True)


@ksr("replace_body_atonce", "ss", returns="1 replaced, -1 not found, no body, empty match")
def replace_body_atonce(ctx: RequestContext, sre: str, sval: str) -> int:
    """Replace every match in the body in one pass (the same as replace_body_all here:
    Python's scan never re-anchors '^' in the middle of a line)."""
    return _replace(ctx, sre, sval, body=True, every=True)


# ---- subst ------------------------------------------------------------------------------

@ksr("subst", "s", returns="1 substituted, -1 no match or bad expression")
def subst(ctx: RequestContext, expr: str) -> int:
    """sed-style '/re/repl/flags' over everything after the request line."""
    se = _subst(expr)
    msg = message(ctx)
    if se is None:
        return -1
    text = _after_start(msg)
    try:
        new, count = se.apply(text, _ruri(msg), ctx)
    except ValueError as exc:
        log.error("textops.subst: %s", exc)
        return -1
    return 1 if count and _rewrite(msg, new) else -1


@ksr("subst_body", "s", returns="1 substituted, -1 no match, no body, bad expression")
def subst_body(ctx: RequestContext, expr: str) -> int:
    """sed-style '/re/repl/flags' over the body."""
    se = _subst(expr)
    msg = message(ctx)
    text = _body(msg)
    if se is None or not text:
        return -1
    try:
        new, count = se.apply(text, _ruri(msg), ctx)
    except ValueError as exc:
        log.error("textops.subst_body: %s", exc)
        return -1
    if not count:
        return -1
    _set_body(msg, new)
    return 1


def _request_uri(ctx: RequestContext) -> str:
    return ctx.msg.uri_text


def _set_ruri(ctx: RequestContext, text: str) -> bool:
    """Make `text` the Request-URI; False when it is not a URI geosip can write."""
    try:
        parse_uri(text)
        ctx.msg.uri = text
    except (ParseError, LocalProtocolError) as exc:
        log.error("textops: the new Request-URI %r is not valid: %s", text[:80], exc)
        return False
    return True


@ksr("subst_uri", "s", returns="1 substituted, -1 no match or bad result")
def subst_uri(ctx: RequestContext, expr: str) -> int:
    """sed-style '/re/repl/flags' over the Request-URI ($ru)."""
    se = _subst(expr)
    if se is None:
        return -1
    ruri = _request_uri(ctx)
    try:
        new, count = se.apply(ruri, ruri, ctx)
    except ValueError as exc:
        log.error("textops.subst_uri: %s", exc)
        return -1
    return 1 if count and _set_ruri(ctx, new) else -1


@ksr("subst_user", "s", returns="1 substituted, -1 no match, bad result or not a SIP URI")
def subst_user(ctx: RequestContext, expr: str) -> int:
    """sed-style '/re/repl/flags' over the user part of the Request-URI ($rU, as written;
    an empty user part is matched as ""); an empty result removes the user part."""
    se = _subst(expr)
    ruri = _request_uri(ctx)
    try:
        uri = parse_uri(ruri)
    except ParseError:
        return -1
    if se is None or not isinstance(uri, SipUri):
        return -1
    colon = ruri.index(":")
    at = ruri.find("@", colon)
    userinfo = ruri[colon + 1:at] if at >= 0 else ""
    user, _, password = userinfo.partition(":")
    try:
        new_user, count = se.apply(user, ruri, ctx)
    except ValueError as exc:
        log.error("textops.subst_user: %s", exc)
        return -1
    if not count:
        return -1
    rest = ruri[at + 1:] if at >= 0 else ruri[colon + 1:]
    info = new_user + (":" + password if password else "")
    new = ruri[:colon + 1] + (info + "@" if new_user else "") + rest
    return 1 if _set_ruri(ctx, new) else -1


@ksr("subst_hf", "sss", returns="1 substituted, -1 no match or bad arguments")
def subst_hf(ctx: RequestContext, hname: str, expr: str, flags: str) -> int:
    """sed-style '/re/repl/flags' over the values of the headers called `hname`; flags
    "f" the first header only, "l" the last only, "" every one."""
    se = _subst(expr) if hname and expr else None
    msg = message(ctx)
    if se is None:
        return -1
    key = header_key(hname)
    same = [i for i, f in enumerate(msg.fields) if f.key == key]
    chosen = same[:1] if flags[:1] == "f" else same[-1:] if flags[:1] == "l" else same
    fields = list(msg.fields)
    done = 0
    try:
        for i in chosen:
            value, count = se.apply(fields[i].value, _ruri(msg), ctx)
            if count:
                fields[i] = Field.new(fields[i].name, value)
                done += 1
    except (ValueError, LocalProtocolError) as exc:  # an empty match, CR/LF in a value
        log.error("textops.subst_hf: %s", exc)
        return -1
    if not done:
        return -1
    set_fields(msg, fields)
    return 1

