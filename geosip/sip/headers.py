"""Header fields and the small scalar header grammars: CSeq, Max-Forwards,
Content-Length, Expires, Date, option-tag lists (RFC 3261 §20).

A `Field` is one header line as it arrived: the name as written, its key (lower-cased
long name), the unfolded value and the original text. `raw` is what gets serialized
while the field is unchanged, so folding, odd spacing and name case survive a proxy.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import NamedTuple

from .errors import LocalProtocolError, ParseError
from .grammar import SPELLED_KEYS, TOKEN_RE, canonical_name, header_key

# RFC 3261 §8.1.1.5: the CSeq number MUST be expressible as a 32-bit unsigned integer
# (RFC 4475 scalar02 checks it).
MAX_CSEQ = 2**32 - 1
MAX_EXPIRES = 2**32 - 1


class Field(NamedTuple):
    """One header field: the name as written, its key (lower-cased long name), the
    unfolded value, and the original text (None for a field geosip wrote).

    A tuple, because a message holds a dozen and the parser makes them per packet;
    a changed field is a new Field. Build new ones with `Field.new(name, value)`.
    """

    name: str
    key: str
    value: str
    raw: str | None

    @classmethod
    def new(cls, name: str, value: str) -> "Field":
        """A field geosip writes; a lower-case known name gets its canonical spelling.
        Raises LocalProtocolError when the value would break the framing."""
        key = SPELLED_KEYS.get(name)  # a known header spelled as usual: a token already
        if key is None:
            if TOKEN_RE.fullmatch(name) is None:
                raise LocalProtocolError(f"header name {name[:40]!r} is not a token")
            key = header_key(name)
        if name == key and len(name) > 1:
            name = canonical_name(key)
        if "\r" in value or "\n" in value:
            raise LocalProtocolError(f"header {name} value contains CR or LF")
        return cls(name, key, value, None)

    def line(self) -> str:
        return self.raw if self.raw is not None else f"{self.name}: {self.value}"


class CSeq(NamedTuple):
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


def parse_cseq(value: str) -> CSeq:
    """CSeq = 1*DIGIT LWS Method; the number must fit 32 bits (RFC 4475 scalar02)."""
    parts = value.split(" ")
    if len(parts) != 2 or "\t" in value or not parts[1]:  # the usual "1 INVITE" aside
        parts = [p for p in value.replace("\t", " ").split(" ") if p]  # LWS: SP / HT only
    if len(parts) != 2 or not parts[0].isdigit() or not parts[0].isascii():
        raise ParseError(f"malformed CSeq {value[:80]!r}")
    # int() raises ValueError past 4300 digits (and is quadratic below): count first.
    if len(parts[0].lstrip("0")) > 10 or int(parts[0]) > MAX_CSEQ:
        raise ParseError("CSeq number exceeds 2**32-1")
    if TOKEN_RE.fullmatch(parts[1]) is None:
        raise ParseError(f"malformed CSeq method {parts[1][:80]!r}")
    return CSeq(int(parts[0]), parts[1])


def parse_uint(value: str, what: str, maximum: int | None = None) -> int:
    """A 1*DIGIT value; raises ParseError when it is not digits or exceeds `maximum`."""
    value = value.strip()
    if not value.isdigit() or not value.isascii() or len(value) > 20:
        raise ParseError(f"malformed {what} {value[:40]!r}")
    number = int(value)
    if maximum is not None and number > maximum:
        raise ParseError(f"{what} {value[:40]} out of range 0-{maximum}")
    return number


def parse_expires(value: str) -> int:
    """delta-seconds; a value beyond 2**32-1 is clamped (RFC 4475 scalar02 allows it)."""
    value = value.strip()
    if not value.isdigit() or not value.isascii():
        raise ParseError(f"malformed Expires {value[:40]!r}")
    return min(int(value[:20]), MAX_EXPIRES)


def parse_date(value: str) -> datetime:
    """SIP-date = rfc1123-date, and the zone must be GMT (RFC 3261 §25.1, RFC 4475 baddate)."""
    text = value.strip()
    if not text.endswith(" GMT"):
        raise ParseError(f"Date must be in GMT: {text[:60]!r}")
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        raise ParseError(f"malformed Date {text[:60]!r}") from exc
    if parsed.utcoffset() != timedelta(0):
        # '+0100 GMT' ends with ' GMT' too (email.utils reads the +0100); converting
        # such a date to UTC can also overflow past year 9999 (OverflowError).
        raise ParseError(f"Date must be in GMT: {text[:60]!r}")
    return parsed.replace(tzinfo=timezone.utc)


def parse_tokens(values: list[str], what: str) -> list[str]:
    """Option tags and methods (Require, Supported, Allow...): each value one token."""
    for value in values:
        if TOKEN_RE.fullmatch(value) is None:
            raise ParseError(f"malformed {what} value {value[:60]!r}")
    return values
