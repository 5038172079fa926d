"""SIP requests and responses (RFC 3261 §7): header access, mutation, serialization.

Theory of operation. `geosip.sip.parse` builds a message from wire bytes and checks
only what every message needs (start line, framing, the mandatory headers, CSeq and
the top Via). Everything else is parsed on first access and cached; an accessor raises
ParseError (with the status to answer) when the header it reads is malformed, and
`validate()` forces every known header at once. A message keeps its wire bytes: while
nothing is changed `to_bytes()` returns them as they came; after a change it writes the
start line, every unchanged field from its original text, and the changed fields anew.

Header names are matched case-insensitively with compact forms expanded ('v' is Via).
`header()` and `header_all()` give field values as written; `values()` also splits
the comma-separated list headers (Via, Contact, Route...) into their elements.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, Callable, Iterable, TypeVar

from .address import Address, parse_address
from .errors import LocalProtocolError, ParseError
from .grammar import LIST_HEADERS, TOKEN_RE, canonical_name, header_key, split_commas
from .headers import (CSeq, Field, parse_cseq, parse_date, parse_expires, parse_tokens,
                      parse_uint)
from .uri import Uri, parse_uri
from .via import Via, parse_via

T = TypeVar("T")

# Reason phrases geosip writes when the caller gives none (RFC 3261 §21).
REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Moved Temporarily", 305: "Use Proxy",
    380: "Alternative Service", 400: "Bad Request", 401: "Unauthorized",
    402: "Payment Required", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
    410: "Gone", 413: "Request Entity Too Large", 414: "Request-URI Too Long",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    421: "Extension Required", 423: "Interval Too Brief", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 491: "Request Pending", 493: "Undecipherable",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline",
    604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}


def _reason(status: int, reason: str | None) -> str:
    """The reason phrase to write. Raises LocalProtocolError for a status outside
    100-699 or a reason with CR or LF (it would inject header lines)."""
    if not 100 <= status <= 699:
        raise LocalProtocolError(f"status {status} out of range 100-699")
    if reason is None:
        return REASONS.get(status, "Unknown")
    if "\r" in reason or "\n" in reason:
        raise LocalProtocolError("reason phrase contains CR or LF")
    return reason


def _check_request_line(method: str, uri: str) -> None:
    """Raises LocalProtocolError unless `method SP uri SP SIP/2.0` parses back."""
    if TOKEN_RE.fullmatch(method) is None:
        raise LocalProtocolError(f"method {method[:40]!r} is not a token")
    if not uri or any(c in uri for c in " \t\r\n"):
        raise LocalProtocolError(f"Request-URI {uri[:80]!r} is empty or has whitespace")


# Headers a response copies from its request (RFC 3261 §8.2.6.2).
_COPIED_TO_RESPONSE = frozenset(("via", "from", "to", "call-id", "cseq"))


def parsed_header(key: str) -> Callable[[Callable[[Any], T]], T]:
    """A read-only property computed once per message and kept in its `_cache` under
    `key` (mutations drop the entries they make stale)."""
    def decorate(build: Callable[[Any], T]) -> T:
        def get(self: Any) -> T:
            cache = self._cache
            if key in cache:
                return cache[key]  # type: ignore[no-any-return]
            value = cache[key] = build(self)
            return value
        get.__doc__ = build.__doc__
        return property(get)  # type: ignore[return-value]
    return decorate


class Message(ABC):
    """Common part of Request and Response. Not built directly: use parse() or the
    Request/Response constructors."""

    __slots__ = ("fields", "body", "version", "_index", "_cache", "_wire", "_start")

    fields: list[Field]
    body: bytes
    version: str
    _index: dict[str, list[Field]]
    _cache: dict[str, object]
    _wire: bytes | None
    _start: str | None

    def _init(self, fields: list[Field], body: bytes) -> None:
        self.fields = fields
        self.body = body
        self.version = "SIP/2.0"
        self._cache = {}
        self._wire = None
        self._start = None
        self._reindex()

    # ---- reading ---------------------------------------------------------------------

    def header(self, name: str) -> str | None:
        """Value of the first field called `name` (compact forms accepted), or None."""
        found = self._index.get(header_key(name))
        return found[0].value if found else None

    def header_all(self, name: str) -> list[str]:
        """Values of every field called `name`, in order, unsplit."""
        return [f.value for f in self._index.get(header_key(name), ())]

    def values(self, name: str) -> list[str]:
        """Every value of `name`; list headers (Via, Contact, Route...) split at commas."""
        key = header_key(name)
        found = self._index.get(key, ())
        if key not in LIST_HEADERS:
            return [f.value for f in found]
        out: list[str] = []
        for f in found:
            out.extend(split_commas(f.value))
        return out

    def has(self, name: str) -> bool:
        return header_key(name) in self._index

    def _single(self, key: str) -> str:
        found = self._index.get(key)
        if not found:
            raise ParseError(f"missing {canonical_name(key)} header")
        if len(found) > 1:
            raise ParseError(f"more than one {canonical_name(key)} header")
        return found[0].value

    def _addresses(self, key: str) -> list[Address]:
        return [parse_address(v) for v in self.values(key)]

    @parsed_header("via")
    def via(self) -> list[Via]:
        """Every Via value, top first."""
        return [parse_via(v) for v in self.values("via")]

    @parsed_header("via0")
    def top_via(self) -> Via:
        """The topmost Via (parsed up front by `parse`)."""
        found = self._index.get("via")
        if not found:
            raise ParseError("missing Via header")
        first = found[0].value
        if "," in first:
            first = split_commas(first)[0]
        return parse_via(first)

    @parsed_header("call-id")
    def call_id(self) -> str:
        value = self._single("call-id")
        if not value or " " in value or "\t" in value:
            raise ParseError(f"malformed Call-ID {value[:80]!r}")
        return value

    @parsed_header("cseq")
    def cseq(self) -> CSeq:
        return parse_cseq(self._single("cseq"))

    @parsed_header("from")
    def from_(self) -> Address:
        return parse_address(self._single("from"))

    @parsed_header("to")
    def to(self) -> Address:
        return parse_address(self._single("to"))

    @property
    def from_tag(self) -> str | None:
        return self.from_.tag

    @property
    def to_tag(self) -> str | None:
        return self.to.tag

    @parsed_header("max-forwards")
    def max_forwards(self) -> int | None:
        """Max-Forwards, None when absent (RFC 3261 §20.22: 0-255)."""
        if "max-forwards" not in self._index:
            return None
        return parse_uint(self._single("max-forwards"), "Max-Forwards", 255)

    @property
    def content_length(self) -> int:
        """Length of the body as framed (the Content-Length header once validated)."""
        return len(self.body)

    @property
    def content_type(self) -> str | None:
        value = self.header("content-type")
        return value.strip() if value is not None else None

    @property
    def is_contact_star(self) -> bool:
        """True for `Contact: *` (RFC 3261 §10.2.2, only valid with Expires: 0)."""
        return self.values("contact") == ["*"]

    @parsed_header("contact")
    def contact(self) -> list[Address]:
        """Every Contact value ([] for '*'); raises ParseError for '*' mixed with others."""
        values = self.values("contact")
        if values == ["*"]:
            return []
        if "*" in values:
            raise ParseError("Contact '*' mixed with other contacts")
        return [parse_address(v) for v in values]

    @parsed_header("route")
    def route(self) -> list[Address]:
        return self._addresses("route")

    @parsed_header("record-route")
    def record_route(self) -> list[Address]:
        return self._addresses("record-route")

    @parsed_header("path")
    def path(self) -> list[Address]:
        return self._addresses("path")

    @parsed_header("expires")
    def expires(self) -> int | None:
        """The Expires header (delta-seconds), None when absent."""
        value = self.header("expires")
        return None if value is None else parse_expires(value)

    @parsed_header("date")
    def date(self) -> datetime | None:
        value = self.header("date")
        return None if value is None else parse_date(value)

    def tokens(self, name: str) -> list[str]:
        """Option tags or methods of Require, Proxy-Require, Supported, Allow..."""
        return parse_tokens(self.values(name), name)

    def validate(self) -> None:
        """Parse every header geosip understands; raises the first ParseError found."""
        _ = (self.top_via, self.via, self.call_id, self.cseq, self.from_, self.to,
             self.max_forwards, self.contact, self.route, self.record_route, self.path,
             self.expires, self.date)
        for name in ("require", "proxy-require", "supported", "unsupported", "allow"):
            self.tokens(name)
        for name in ("call-id", "cseq", "from", "to", "max-forwards", "content-type"):
            if len(self._index.get(name, ())) > 1:
                raise ParseError(f"more than one {name} header")
        self._validate_start()

    def _validate_start(self) -> None:
        pass

    @abstractmethod
    def _copy_start(self, other: Any) -> None:
        """Copy the start-line fields of this kind of message into `other`."""

    # ---- changing ----------------------------------------------------------------------

    def _changed(self, key: str | None = None) -> None:
        self._wire = None
        if key is None:
            self._cache.clear()
        else:
            self._cache.pop(key, None)
            if key == "via":
                self._cache.pop("via0", None)

    def _reindex(self) -> None:
        index: dict[str, list[Field]] = {}
        for f in self.fields:
            index.setdefault(f.key, []).append(f)
        self._index = index

    def add_header(self, name: str, value: str, *, first: bool = False) -> Field:
        """Add a field at the end of the header (or at the very top with first=True)."""
        field = Field.new(name, value)
        same = self._index.setdefault(field.key, [])
        if first:
            self.fields.insert(0, field)
            same.insert(0, field)
        else:
            self.fields.append(field)
            same.append(field)
        self._changed(field.key)
        return field

    def prepend_value(self, name: str, value: str) -> Field:
        """Insert `name: value` just above the first field called `name` (Via,
        Record-Route), or at the top when there is none: it becomes the topmost value."""
        field = Field.new(name, value)
        same = self._index.setdefault(field.key, [])
        self.fields.insert(self.fields.index(same[0]) if same else 0, field)
        same.insert(0, field)
        self._changed(field.key)
        return field

    def replace_top_via(self, via: Via) -> None:
        """Replace the topmost Via value with `via` (a proxy's received/rport stamps,
        RFC 3581); `top_via` is then `via` itself rather than its text parsed back."""
        self.pop_value("Via")
        self.prepend_value("Via", str(via))
        self._cache["via0"] = via

    def remove_header(self, name: str) -> int:
        """Remove every field called `name`; returns how many were removed."""
        key = header_key(name)
        removed = self._index.pop(key, None)
        if not removed:
            return 0
        self.fields = [f for f in self.fields if f.key != key]
        self._changed(key)
        return len(removed)

    def set_header(self, name: str, value: str) -> Field:
        """Replace the first field called `name` in place (removing the others), or add it."""
        key = header_key(name)
        same = self._index.get(key)
        if not same:
            return self.add_header(name, value)
        field = Field.new(same[0].name, value)
        pos = self.fields.index(same[0])
        if len(same) > 1:
            self.fields = [f for f in self.fields if f.key != key or f is same[0]]
        self.fields[pos] = field
        self._index[key] = [field]
        self._changed(key)
        return field

    def pop_value(self, name: str) -> str | None:
        """Remove and return the topmost value of a list header (the top Via of a
        response, the top Route at a loose router). A field holding several values
        keeps the rest."""
        key = header_key(name)
        same = self._index.get(key)
        if not same:
            return None
        field = same[0]
        values = split_commas(field.value) if key in LIST_HEADERS else [field.value]
        pos = self.fields.index(field)
        if len(values) > 1:
            rest = Field(field.name, key, ", ".join(values[1:]), None)
            self.fields[pos] = same[0] = rest
        else:
            del self.fields[pos]
            del same[0]
            if not same:
                del self._index[key]
        self._changed(key)
        return values[0]

    def replace_fields(self, fields: Iterable[Field]) -> None:
        """Replace every header field, in the given order (positional edits: KSR.hdr,
        textops). Fields taken from this message keep their original wire text."""
        self.fields = list(fields)
        self._reindex()
        self._changed()

    def set_body(self, body: bytes, content_type: str | None = None) -> None:
        """Replace the body and write its Content-Length (and Content-Type when given)."""
        self.body = body
        self.set_header("Content-Length", str(len(body)))
        if content_type is not None:
            self.set_header("Content-Type", content_type)
        elif not body:
            self.remove_header("content-type")

    def copy(self) -> "Message":
        """An independent copy (a proxy makes one per branch): fields are immutable,
        so only the lists and caches are duplicated."""
        other = type(self).__new__(type(self))
        other.body = self.body
        other.version = self.version
        other._wire = self._wire
        other._start = self._start
        self._copy_start(other)
        other.fields = list(self.fields)
        other._index = {key: list(same) for key, same in self._index.items()}
        other._cache = dict(self._cache)
        return other

    # ---- writing -----------------------------------------------------------------------

    @abstractmethod
    def start_line(self) -> str:
        """The request or status line, without CRLF."""

    def to_bytes(self) -> bytes:
        """The message on the wire: the original bytes while unchanged."""
        wire = self._wire
        if wire is None:
            lines = [self.start_line()]
            lines += [f.raw if f.raw is not None else f"{f.name}: {f.value}"
                      for f in self.fields]
            lines.append("\r\n")
            wire = "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body
            self._wire = wire
        return wire

    __bytes__ = to_bytes


class Request(Message):
    """A SIP request. `uri` is parsed on first access; setting it rewrites the start line."""

    __slots__ = ("method", "_uri", "_uri_text")

    method: str
    _uri: Uri | None
    _uri_text: str

    def __init__(self, method: str, uri: Uri | str,
                 headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> None:
        _check_request_line(method, str(uri))
        self.method = method
        self._uri_text = str(uri)
        self._uri = None if isinstance(uri, str) else uri
        fields = [Field.new(n, v) for n, v in headers]
        self._init(fields, body)
        if body and "content-length" not in self._index:
            self.add_header("Content-Length", str(len(body)))

    @property
    def uri(self) -> Uri:
        """The Request-URI (raises ParseError 400 when it is malformed)."""
        uri = self._uri
        if uri is None:
            uri = self._uri = parse_uri(self._uri_text)
        return uri

    @uri.setter
    def uri(self, value: Uri | str) -> None:
        if value == self._uri_text:
            # Unchanged (a proxy sets every branch's URI, mostly to what it was): keep
            # the parsed URI and the start line; saves a check and a parse per branch.
            return
        _check_request_line(self.method, str(value))
        self._uri_text = str(value)
        self._uri = None if isinstance(value, str) else value
        self._start = None
        self._wire = None

    def _copy_start(self, other: Any) -> None:
        other.method = self.method
        other._uri = self._uri
        other._uri_text = self._uri_text

    @property
    def uri_text(self) -> str:
        return self._uri_text

    def start_line(self) -> str:
        start = self._start
        if start is None:
            start = self._start = f"{self.method} {self._uri_text} {self.version}"
        return start

    def _validate_start(self) -> None:
        uri = self.uri
        # RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 escruri).
        if getattr(uri, "headers", ()):
            raise ParseError("Request-URI must not contain headers")

    def make_response(self, status: int, reason: str | None = None,
                      to_tag: str | None = None) -> "Response":
        """A response to this request (RFC 3261 §8.2.6): Via, From, To, Call-ID and CSeq
        copied; `to_tag` added to To when it has none (not on 100, §8.2.6.2)."""
        resp = Response.__new__(Response)
        resp.reason = _reason(status, reason)
        resp.status = status
        fields = [f for f in self.fields if f.key in _COPIED_TO_RESPONSE]
        resp._init(fields, b"")
        if to_tag is not None and status > 100:
            try:
                to = self.to
            except ParseError:
                # A To we cannot parse (the 400 we are building may be about it): add
                # the tag to its text, as Kamailio does, so the reply can still go out.
                raw = self._single("to")
                if ";tag=" not in raw.lower():
                    resp.set_header("To", f"{raw};tag={to_tag}")
            else:
                if to.tag is None:
                    resp.set_header("To", str(to.with_param("tag", to_tag)))
        if status == 100 and "timestamp" in self._index:
            resp.add_header("Timestamp", self._index["timestamp"][0].value)  # §8.2.6.1
        resp.add_header("Content-Length", "0")
        return resp

    def __repr__(self) -> str:
        return f"<Request {self.method} {self._uri_text}>"


class Response(Message):
    """A SIP response."""

    __slots__ = ("status", "reason")

    status: int
    reason: str

    def __init__(self, status: int, reason: str | None = None,
                 headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> None:
        self.reason = _reason(status, reason)
        self.status = status
        self._init([Field.new(n, v) for n, v in headers], body)
        if body and "content-length" not in self._index:
            self.add_header("Content-Length", str(len(body)))

    def _copy_start(self, other: Any) -> None:
        other.status = self.status
        other.reason = self.reason

    def set_status(self, status: int, reason: str | None = None) -> None:
        self.reason = _reason(status, reason)
        self.status = status
        self._start = None
        self._wire = None

    def start_line(self) -> str:
        start = self._start
        if start is None:
            start = self._start = f"{self.version} {self.status} {self.reason}"
        return start

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"
