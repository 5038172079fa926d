"""`parse(data)`: wire bytes of one SIP message (a datagram, or one message cut from a
stream by `framing`) to a Request or Response (RFC 3261 §7, §18.3, §25).

Contract. Returns a message whose start line, header framing, Content-Length, CSeq,
top Via and mandatory headers (Via, From, To, Call-ID, CSeq, RFC 3261 §8.1.1) have
been checked; other headers are parsed on access (see message.py). With
`strict=True` every known header is checked before returning. Raises ParseError
carrying the status a server answers with: 400 for bad syntax, 505 for another SIP
version, 513 for a message over the size limits, 501 for an unknown method whose
CSeq names another. The error's `fields` are the header fields read so far.
Nothing else is raised, whatever the bytes (tests/fuzz prove it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ParseError
from .grammar import HEADER_KEYS, SPELLED_KEYS, TOKEN_RE
from .headers import Field, parse_uint
from .message import Message, Request, Response

_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
_STATUS_RE = re.compile(r"[1-6][0-9][0-9]")

# Methods geosip knows by name (RFC 3261 and its extensions); only used to choose
# between 400 and 501 when CSeq disagrees with the request line (RFC 4475 mismatch02).
KNOWN_METHODS = frozenset((
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
    "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
))


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what a peer may send (DESIGN.md, Bad input). Over them: 513."""

    max_size: int = 65535
    max_headers: int = 256


DEFAULT_LIMITS = Limits()


def parse(data: bytes, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS) -> Message:
    """Parse one message; see the module doc for what is checked and raised."""
    if len(data) > limits.max_size:
        raise ParseError(f"message of {len(data)} octets exceeds {limits.max_size}", 513)
    start = 0
    while data.startswith(b"\r\n", start):  # RFC 3261 §7.5: ignore CRLFs before the start line
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        if start >= len(data):
            raise ParseError("empty message")
        raise ParseError("no empty line after the header section")
    head = data[start:end].decode("utf-8", "surrogateescape")
    lines = head.split("\r\n")
    if len(lines) > limits.max_headers:
        raise ParseError(f"more than {limits.max_headers} header lines", 513)
    crlfs = len(lines) - 1
    if head.count("\r") != crlfs or head.count("\n") != crlfs:
        # RFC 3261 §7.3.1: CR and LF come only as CRLF (a line end or a fold). A bare
        # one inside a value reaches what we build from it (To, Timestamp in
        # make_response) and makes Field.new raise LocalProtocolError.
        raise ParseError("bare CR or LF in the header section")
    fields, index = _parse_fields(head, lines)
    try:
        msg = _build(lines[0], fields, index)
        body = data[end + 4:]
        wire = data if start == 0 else data[start:]
        cl_fields = msg._index.get("content-length")
        if cl_fields:
            length = _content_length(cl_fields)
            if length > len(body):
                raise ParseError(
                    f"Content-Length {length} exceeds the {len(body)} body octets received")
            if length < len(body):  # RFC 3261 §18.3: octets past the body are discarded
                body = body[:length]
                wire = data[start:end + 4 + length]
        msg.body = body
        msg._wire = wire
        _check_mandatory(msg)
        if strict:
            msg.validate()
    except ParseError as exc:
        if exc.fields is None:
            exc.fields = fields
        raise
    return msg


def _parse_fields(head: str, lines: list[str]) -> tuple[list[Field], dict[str, list[Field]]]:
    """The header fields in order, and the index of them by key (message.py)."""
    raws = texts = lines[1:]
    if "\r\n " in head or "\r\n\t" in head:
        raws, texts = _unfold(raws)
    fields = []
    index: dict[str, list[Field]] = {}
    keys = HEADER_KEYS
    spelled = SPELLED_KEYS
    new_field = tuple.__new__  # Field(...) through its Python __new__ costs 3x more
    for raw, line in zip(raws, texts):
        name, colon, value = line.partition(":")
        if not colon:
            raise ParseError(f"header line without a name and ':': {line[:60]!r}")
        key = spelled.get(name)  # ASCII tokens: no check needed
        if key is None:
            key = keys.get(name.lower())
            if key is None or not name.isascii():  # 'K' (U+212A KELVIN SIGN).lower() is 'k'
                name = name.rstrip(" \t")  # RFC 3261 §7.3.1: LWS allowed before ':'
                if TOKEN_RE.fullmatch(name) is None:
                    raise ParseError(f"invalid header name {name[:60]!r}")
                lower = name.lower()
                key = keys.get(lower, lower)
        field = new_field(Field, (name, key, value.strip(" \t"), raw))
        fields.append(field)
        same = index.get(key)
        if same is None:
            index[key] = [field]
        else:
            same.append(field)
    return fields, index


def _unfold(lines: list[str]) -> tuple[list[str], list[str]]:
    """Join continuation lines (RFC 3261 §7.3.1): a line starting with SP or HT
    continues the previous one, and the value reads as one line with a single SP.
    Returns the raw texts (with their CRLFs, for serializing) and the unfolded ones."""
    if lines[0][:1] in (" ", "\t"):
        raise ParseError("continuation line before the first header")
    raws: list[str] = []
    texts: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            raws[-1] += "\r\n" + line
            texts[-1] = texts[-1].rstrip(" \t") + " " + line.strip(" \t")
        else:
            raws.append(line)
            texts.append(line)
    return raws, texts


def _build(start: str, fields: list[Field], index: dict[str, list[Field]]) -> Message:
    msg: Message
    if start[:4].upper() == "SIP/":
        version, _, rest = start.partition(" ")
        code, _, reason = rest.partition(" ")
        _check_version(version)
        if _STATUS_RE.fullmatch(code) is None:
            raise ParseError(f"invalid status code {code[:20]!r}")
        resp = Response.__new__(Response)
        resp.status = int(code)
        resp.reason = reason
        msg = resp
    else:
        parts = start.split(" ")
        if len(parts) != 3 or not parts[1]:
            raise ParseError("request line must be 'Method SP Request-URI SP SIP-Version'")
        method, uri, version = parts
        if TOKEN_RE.fullmatch(method) is None:
            raise ParseError(f"invalid method {method[:40]!r}")
        _check_version(version)
        req = Request.__new__(Request)
        req.method = method
        req._uri_text = uri
        req._uri = None
        msg = req
    msg.fields = fields
    msg.version = version
    msg._cache = {}
    msg._start = start
    msg._index = index
    return msg


def _check_version(version: str) -> None:
    if version.upper() != "SIP/2.0":
        if _VERSION_RE.fullmatch(version):
            raise ParseError(f"SIP version {version[:20]} not supported", 505)
        raise ParseError(f"invalid SIP version {version[:20]!r}")


def _content_length(found: list[Field]) -> int:
    if len(found) > 1 and len({f.value for f in found}) > 1:
        # RFC 4475 mcl01: conflicting lengths make framing impossible
        raise ParseError("conflicting Content-Length headers")
    return parse_uint(found[0].value, "Content-Length")


def _check_mandatory(msg: Message) -> None:
    """RFC 3261 §8.1.1: Via, From, To, Call-ID, CSeq; CSeq's method is the request's."""
    index = msg._index
    for key in ("from", "to", "call-id", "cseq"):
        found = index.get(key)
        if not found:
            raise ParseError(f"missing {key} header")
        if len(found) > 1:
            raise ParseError(f"more than one {key} header")
    _ = (msg.top_via, msg.call_id)  # parsed and cached now: every layer reads them
    cseq = msg.cseq
    if isinstance(msg, Request) and cseq.method != msg.method:
        status = 501 if msg.method not in KNOWN_METHODS else 400
        raise ParseError(f"CSeq method {cseq.method} does not match {msg.method}", status)
