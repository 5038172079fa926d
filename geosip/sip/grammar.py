"""Character classes, header names and small scanners of the RFC 3261 §25 grammar.

Everything here works on `str`: the parser decodes the header section once as UTF-8
with `surrogateescape`, so any byte a peer sends survives a round trip unchanged.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from .errors import ParseError

# RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# RFC 3261 §19.1.1 / RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# hostname / IPv4 (RFC 3261 §25.1, lenient on label rules), IPv6 reference (RFC 5118:
# the three-colon form the old ABNF allowed is accepted too).
HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?|\[[0-9A-Fa-f:.]+\]")

# RFC 3261 §7.3.3 and the registered compact forms (IANA SIP header field names).
COMPACT_FORMS = {
    "a": "accept-contact", "b": "referred-by", "c": "content-type", "d": "request-disposition",
    "e": "content-encoding", "f": "from", "i": "call-id", "j": "reject-contact",
    "k": "supported", "l": "content-length", "m": "contact", "n": "identity-info",
    "o": "event", "r": "refer-to", "s": "subject", "t": "to", "u": "allow-events",
    "v": "via", "x": "session-expires", "y": "identity",
}

# Headers whose value is a comma-separated list (RFC 3261 §7.3.1: only those whose
# grammar is `#(...)`). Authorization-style headers, Date, Call-ID, From, To and unknown
# headers are never split: a comma in them is part of one value.
LIST_HEADERS = frozenset((
    "via", "contact", "route", "record-route", "path", "service-route", "allow",
    "supported", "require", "proxy-require", "unsupported", "accept", "accept-encoding",
    "accept-language", "alert-info", "call-info", "content-encoding", "content-language",
    "error-info", "in-reply-to", "warning", "reason", "allow-events", "p-asserted-identity",
    "p-preferred-identity", "security-client", "security-server", "security-verify",
    "accept-contact", "reject-contact", "history-info", "privacy",
))

# Long names of the headers geosip knows, lower-cased: the parser's key for a field.
# A name found here needs no token check.
_KNOWN = (
    "accept", "accept-contact", "accept-encoding", "accept-language", "alert-info", "allow",
    "allow-events", "authentication-info", "authorization", "call-id", "call-info", "contact",
    "content-disposition", "content-encoding", "content-language", "content-length",
    "content-type", "cseq", "date", "error-info", "event", "expires", "from", "history-info",
    "identity", "in-reply-to", "max-forwards", "min-expires", "min-se", "mime-version",
    "organization", "p-asserted-identity", "p-preferred-identity", "path", "priority",
    "privacy", "proxy-authenticate", "proxy-authorization", "proxy-require", "rack", "reason",
    "record-route", "refer-to", "referred-by", "reject-contact", "reply-to", "require",
    "retry-after", "route", "rseq", "server", "service-route", "session-expires",
    "sip-etag", "sip-if-match", "subject", "subscription-state", "supported", "timestamp",
    "to", "unsupported", "user-agent", "via", "warning", "www-authenticate",
)
HEADER_KEYS: dict[str, str] = {name: name for name in _KNOWN}
HEADER_KEYS.update(COMPACT_FORMS)

# How geosip spells a known header when it writes a new one.
CANONICAL_NAMES = {
    "call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version", "rseq": "RSeq", "rack": "RAck", "min-se": "Min-SE",
    "sip-etag": "SIP-ETag", "sip-if-match": "SIP-If-Match",
}

LWS = " \t"


def header_key(name: str) -> str:
    """Lower-cased long name of a header (compact forms expanded); the field's key."""
    lower = name.lower()
    return HEADER_KEYS.get(lower, lower)


def canonical_name(key: str) -> str:
    """The spelling geosip uses when it writes a header: 'record-route' -> 'Record-Route'."""
    return CANONICAL_NAMES.get(key) or "-".join(p.capitalize() for p in key.split("-"))


# The parser's fast path: a known header written as geosip writes it, or in lower case
# (and compact forms in either case), maps straight to its key, skipping the lower()
# and ASCII check of each field (parse() of an INVITE: about 5 % less time).
SPELLED_KEYS: dict[str, str] = {
    **{spelling: key for key in _KNOWN for spelling in (key, canonical_name(key))},
    **COMPACT_FORMS, **{short.upper(): key for short, key in COMPACT_FORMS.items()},
}


def unescape(text: str) -> str:
    """Decode %HH escapes once (RFC 3261 §19.1.2); invalid escapes stay as written."""
    if "%" not in text:
        return text
    return unquote(text, encoding="utf-8", errors="surrogateescape")


# What can hide a comma in a list element: a quoted-string (with quoted-pairs), an
# <...> URI, or the comma itself; a stray '"' or '<' is an unterminated one.
_LIST_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|<[^>]*>|,|["<]')


def split_commas(value: str) -> list[str]:
    """Split a list header's value at commas outside quoted strings and <...>.

    Empty elements (',,') are a syntax error: RFC 3261 §7.3.1 lists have no empty items.
    Raises ParseError on an unterminated quoted string or '<'.
    """
    if "," not in value:
        return [value]
    if '"' not in value and "<" not in value:  # Via, Allow, Supported...: no hiding place
        parts = [p.strip() for p in value.split(",")]
    else:
        parts = []
        start = 0
        for m in _LIST_TOKENS.finditer(value):
            token = m.group()
            if token == ",":
                parts.append(value[start:m.start()].strip())
                start = m.end()
            elif token == '"':
                raise ParseError("unterminated quoted string")
            elif token == "<":
                raise ParseError("unterminated '<' in header value")
        parts.append(value[start:].strip())
    if not all(parts):
        raise ParseError("empty element in comma-separated header value")
    return parts


def skip_quoted(text: str, pos: int) -> int:
    """Index just past the quoted-string starting at text[pos] == '"' (quoted-pairs kept).

    Raises ParseError when the closing quote is missing (RFC 4475 §3.1.2.7, quotbal).
    """
    i = pos + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        i += 1
    raise ParseError("unterminated quoted string")


def unquote_string(quoted: str) -> str:
    """The text of a quoted-string with its quotes removed and quoted-pairs resolved."""
    inner = quoted[1:-1]
    if "\\" not in inner:
        return inner
    out = []
    i = 0
    n = len(inner)
    while i < n:
        c = inner[i]
        if c == "\\" and i + 1 < n:
            out.append(inner[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def quote_string(text: str) -> str:
    """A quoted-string for `text`, escaping '"' and '\\' (RFC 3261 §25.1 quoted-pair)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def is_token(text: str) -> bool:
    return TOKEN_RE.fullmatch(text) is not None
