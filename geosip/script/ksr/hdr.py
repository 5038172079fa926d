"""KSR.hdr: header fields of the message the route runs on (Kamailio's KEMI `hdr` core
exports, src/core/kemi.c).

Contract.
- Functions take the header text as Kamailio scripts write it: one or more whole header
  lines, each ending in CRLF ("X-A: 1\\r\\n"); the CRLF may be left out for a single line.
  Continuation lines (starting with SP or HT) are folded into the line above. A line
  without "name:" or with a name that is not a token cannot be represented by geosip's
  message model (Kamailio would write the garbage as is): the call returns -1 and
  changes nothing.
- Header names match the way Kamailio matches them: case-insensitively, and a compact
  form matches its long name ("v" is Via).
- Changes apply to the message at once (Kamailio collects "lumps" and applies them when
  the message is sent, so its later reads still see the old text): a header appended
  here is visible to KSR.hdr.get and $hdr(...) right away.
- Reply-side headers (append_to_reply, and sanity/siputils/textops replies) go to
  `ctx.script.extra["reply_headers"]`, a list of (name, value) pairs, in order. Replies
  sent by KSR functions (sl, tm, sanity, siputils.options_reply) add them, as
  Kamailio's sl/tm add the LUMP_RPL_HDR lumps of the request.

`message(ctx)` names the message a route acts on (the reply in a reply route, as
pseudo-variables do); `set_fields`, `parse_lines` and the reply-header helpers are
shared with the modules that edit headers (textops, siputils, sanity, maxfwd).
"""

from __future__ import annotations

import logging
from typing import Any

from geosip.core.context import RequestContext
from geosip.sip import LocalProtocolError, Message
from geosip.sip.grammar import header_key
from geosip.sip.headers import Field

from ..exports import ModuleExports, ksr
from ..pv import message as pv_message

log = logging.getLogger("geosip.script")

REPLY_HEADERS = "reply_headers"   # ctx.script.extra key: [(name, value), ...]
NULL_PRINT = "<null>"             # what Kamailio's getw-style functions give for $null


# ---- helpers shared with the modules --------------------------------------------------

def message(ctx: RequestContext) -> Message:
    """The message KSR functions act on, the same one pseudo-variables read (pv.py):
    the request in request, branch and failure routes, the reply in reply routes."""
    return pv_message(ctx)


def parse_lines(text: str) -> list[tuple[str, str]] | None:
    """Split Kamailio-style header text ("A: 1\\r\\nB: 2\\r\\n") into (name, value) pairs;
    None when a line is not "token: value" (nothing can be added then)."""
    lines = text.replace("\r\n", "\n").split("\n")
    pairs: list[list[str]] = []
    for line in lines:
        if not line:
            continue
        if line[0] in " \t":            # RFC 3261 §7.3.1 folding: continues the line above
            if not pairs:
                return None
            pairs[-1][1] = (pairs[-1][1] + " " + line.strip(" \t")).strip()
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not name:
            return None
        pairs.append([name, value.strip(" \t")])
    out = []
    for name, value in pairs:
        try:
            Field.new(name, value)      # the same checks a header geosip writes gets
        except LocalProtocolError:
            return None
        out.append((name, value))
    return out


def set_fields(msg: Message, fields: list[Field]) -> None:
    """Replace every header field of `msg`, in the given order (Message.replace_fields)."""
    msg.replace_fields(fields)


def add_reply_headers(ctx: RequestContext, pairs: list[tuple[str, str]]) -> None:
    """Queue headers for the replies sent to this request (Kamailio's reply lumps)."""
    queued = ctx.script.extra.setdefault(REPLY_HEADERS, [])
    assert isinstance(queued, list)
    queued.extend(pairs)


def reply_headers(ctx: RequestContext) -> list[tuple[str, str]]:
    """The headers queued for replies to this request (a copy)."""
    queued = ctx.script.extra.get(REPLY_HEADERS)
    return list(queued) if isinstance(queued, list) else []


def _new_fields(pairs: list[tuple[str, str]]) -> list[Field]:
    return [Field.new(name, value) for name, value in pairs]


def _position(msg: Message, hname: str, after: bool) -> int | None:
    """Index in msg.fields just after (or at) the first field called `hname`."""
    key = header_key(hname)
    for i, f in enumerate(msg.fields):
        if f.key == key:
            return i + 1 if after else i
    return None


def _insert_at(msg: Message, index: int, pairs: list[tuple[str, str]]) -> None:
    fields = list(msg.fields)
    fields[index:index] = _new_fields(pairs)
    set_fields(msg, fields)


# ---- KSR.hdr ----------------------------------------------------------------------------

@ksr("append", "s", returns="1 appended, -1 the text is not header lines")
def append(ctx: RequestContext, txt: str) -> int:
    """Append the header line(s) after the last header."""
    pairs = parse_lines(txt)
    if pairs is None:
        log.error("hdr.append: not a header line: %r", txt[:80])
        return -1
    msg = message(ctx)
    for name, value in pairs:
        msg.add_header(name, value)
    return 1


@ksr("append_after", "ss", returns="1 appended, -1 the text is not header lines")
def append_after(ctx: RequestContext, txt: str, hname: str) -> int:
    """Append the header line(s) after the first header called `hname` (after the last
    header when there is none)."""
    pairs = parse_lines(txt)
    if pairs is None or not hname:
        log.error("hdr.append_after: not a header line: %r", txt[:80])
        return -1
    msg = message(ctx)
    pos = _position(msg, hname, after=True)
    _insert_at(msg, len(msg.fields) if pos is None else pos, pairs)
    return 1


@ksr("insert", "s", returns="1 inserted, -1 the text is not header lines")
def insert(ctx: RequestContext, txt: str) -> int:
    """Insert the header line(s) before the first header."""
    pairs = parse_lines(txt)
    if pairs is None:
        log.error("hdr.insert: not a header line: %r", txt[:80])
        return -1
    _insert_at(message(ctx), 0, pairs)
    return 1


@ksr("insert_before", "ss", returns="1 inserted, -1 the text is not header lines")
def insert_before(ctx: RequestContext, txt: str, hname: str) -> int:
    """Insert the header line(s) before the first header called `hname` (before the
    first header when there is none)."""
    pairs = parse_lines(txt)
    if pairs is None or not hname:
        log.error("hdr.insert_before: not a header line: %r", txt[:80])
        return -1
    msg = message(ctx)
    _insert_at(msg, _position(msg, hname, after=False) or 0, pairs)
    return 1


@ksr("remove", "s", returns="1 (also when there was no such header), -1 empty name")
def remove(ctx: RequestContext, hname: str) -> int:
    """Remove every header called `hname`."""
    if not hname:
        return -1
    message(ctx).remove_header(hname)
    return 1


@ksr("rmappend", "ss", returns="1 done, -1 bad name or text")
def rmappend(ctx: RequestContext, hrm: str, hadd: str) -> int:
    """remove(hrm), then append(hadd)."""
    if parse_lines(hadd) is None:
        return -1
    rc = int(remove.fn(ctx, hrm))
    return rc if rc < 0 else int(append.fn(ctx, hadd))


@ksr("rminsert", "ss", returns="1 done, -1 bad name or text")
def rminsert(ctx: RequestContext, hrm: str, hadd: str) -> int:
    """remove(hrm), then insert(hadd)."""
    if parse_lines(hadd) is None:
        return -1
    rc = int(remove.fn(ctx, hrm))
    return rc if rc < 0 else int(insert.fn(ctx, hadd))


@ksr("is_present", "s", returns="1 present, -1 absent")
def is_present(ctx: RequestContext, hname: str) -> int:
    """Whether a header called `hname` is in the message."""
    return 1 if hname and message(ctx).has(hname) else -1


@ksr("append_to_reply", "s", returns="1 queued, -1 the text is not header lines")
def append_to_reply(ctx: RequestContext, txt: str) -> int:
    """Add the header line(s) to every reply sent to this request from now on."""
    pairs = parse_lines(txt)
    if pairs is None:
        log.error("hdr.append_to_reply: not a header line: %r", txt[:80])
        return -1
    add_reply_headers(ctx, pairs)
    return 1


def _get(ctx: RequestContext, hname: str, idx: int) -> str | None:
    """Value of the idx-th header called hname (negative: from the last), or None."""
    values = message(ctx).header_all(hname) if hname else []
    idx = int(idx)
    if -len(values) <= idx < len(values):
        return values[idx]
    return None


@ksr("get", "s", returns="the value of the first such header, nil when absent")
def get(ctx: RequestContext, hname: str) -> Any:
    """The value of the first header called `hname`."""
    return _get(ctx, hname, 0)


@ksr("gete", "s", returns="the value, \"\" when absent")
def gete(ctx: RequestContext, hname: str) -> str:
    """Like get, with "" for an absent header."""
    value = _get(ctx, hname, 0)
    return "" if value is None else value


@ksr("getw", "s", returns="the value, \"<null>\" when absent")
def getw(ctx: RequestContext, hname: str) -> str:
    """Like get, with "<null>" for an absent header (for printing)."""
    value = _get(ctx, hname, 0)
    return NULL_PRINT if value is None else value


@ksr("get_idx", "si", returns="the value of the idx-th such header (0 first, -1 last), nil")
def get_idx(ctx: RequestContext, hname: str, idx: int) -> Any:
    """The value of the idx-th header called `hname`; negative counts from the last."""
    return _get(ctx, hname, idx)


@ksr("gete_idx", "si", returns="the value, \"\" when absent")
def gete_idx(ctx: RequestContext, hname: str, idx: int) -> str:
    value = _get(ctx, hname, idx)
    return "" if value is None else value


@ksr("getw_idx", "si", returns="the value, \"<null>\" when absent")
def getw_idx(ctx: RequestContext, hname: str, idx: int) -> str:
    value = _get(ctx, hname, idx)
    return NULL_PRINT if value is None else value


_OPS = ("eq", "ne", "sw", "in")


@ksr("match_content", "ssss", boolean=True,
     returns="true matched, false not (or bad operator/index)")
def match_content(ctx: RequestContext, hname: str, op: str, mval: str, hidx: str) -> int:
    """Compare the bodies of the headers called `hname` with `mval`, case-insensitively:
    op eq/ne/sw (starts with)/in (contains); hidx f (first header), l (last), a (all
    must match), o (at least one). Kamailio's "re" operator is not implemented there
    either: it returns false. A Lua boolean, as Kamailio's SR_KEMIP_BOOL."""
    op, hidx = op.lower(), hidx[:1].lower()
    if op not in _OPS or hidx not in ("f", "l", "a", "o"):
        log.error("hdr.match_content: bad operator %r or index %r", op, hidx)
        return -1
    want = mval.lower()
    matched = False
    for n, value in enumerate(message(ctx).header_all(hname), 1):
        body = value.strip().lower()
        matched = {"eq": body == want, "ne": body != want,
                   "sw": body.startswith(want), "in": want in body}[op]
        if hidx == "f" and n == 1:
            return 1 if matched else -1
        if hidx == "a" and not matched:
            return -1
        if hidx == "o" and matched:
            return 1
    return 1 if matched else -1


EXPORTS = ModuleExports(
    name="hdr",
    ksr=(append, append_after, insert, insert_before, remove, rmappend, rminsert,
         is_present, append_to_reply, get, gete, getw, get_idx, gete_idx, getw_idx,
         match_content),
    doc="Header fields of the message (Kamailio's KSR.hdr).",
)
