"""Header parameters: `;name[=value]` lists of Via, From/To, Contact, Route...

`Params` is an immutable tuple of (name, value) pairs in wire order, with value None
for a flag parameter (`;lr`). Names keep their spelling; look-ups ignore case, as
RFC 3261 §7.3.1 says parameter names are case-insensitive. Values are kept as written
(a quoted-string keeps its quotes) so that re-serializing changes nothing.
"""

from __future__ import annotations

from typing import Iterable

from .errors import ParseError
from .grammar import TOKEN_RE, skip_quoted

_VALUE_STOP = frozenset(";, \t")


class Params(tuple[tuple[str, "str | None"], ...]):
    """An ordered, immutable parameter list; `get` is case-insensitive."""

    __slots__ = ()

    def __new__(cls, items: Iterable[tuple[str, str | None]] = ()) -> "Params":
        return super().__new__(cls, items)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first parameter called `name` (None for a flag)."""
        lname = name.lower()
        for key, value in self:
            if key.lower() == lname:
                return value
        return default

    def has(self, name: str) -> bool:
        lname = name.lower()
        return any(key.lower() == lname for key, _ in self)

    def set(self, name: str, value: str | None) -> "Params":
        """A copy with `name` replaced in place, or appended when absent."""
        lname = name.lower()
        out = []
        done = False
        for key, old in self:
            if key.lower() == lname:
                if not done:
                    out.append((key, value))
                    done = True
            else:
                out.append((key, old))
        if not done:
            out.append((name, value))
        return Params(out)

    def remove(self, name: str) -> "Params":
        lname = name.lower()
        return Params(p for p in self if p[0].lower() != lname)

    def __str__(self) -> str:
        return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self)


EMPTY = Params()


def parse_params(text: str, pos: int = 0) -> Params:
    """Parse `*( SEMI generic-param )` from text[pos:] to the end (RFC 3261 §25.1).

    LWS is allowed around ';' and '='. A value is a token, a host (IPv6 references in
    brackets, RFC 5118) or a quoted-string. Raises ParseError on an empty or non-token
    name, a missing value after '=', an unterminated quote or trailing garbage.
    """
    n = len(text)
    items: list[tuple[str, str | None]] = []
    while True:
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos >= n:
            return Params(items)
        if text[pos] != ";":
            raise ParseError(f"unexpected {text[pos]!r} where ';' was expected")
        pos += 1
        while pos < n and text[pos] in " \t":
            pos += 1
        m = TOKEN_RE.match(text, pos)
        if m is None:
            raise ParseError("empty or invalid parameter name")
        name = m.group()
        pos = m.end()
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos < n and text[pos] == "=":
            pos += 1
            while pos < n and text[pos] in " \t":
                pos += 1
            start = pos
            if pos < n and text[pos] == '"':
                pos = skip_quoted(text, pos)
            elif pos < n and text[pos] == "[":
                end = text.find("]", pos)
                if end < 0:
                    raise ParseError("unterminated '[' in parameter value")
                pos = end + 1
            else:
                while pos < n and text[pos] not in _VALUE_STOP:
                    pos += 1
            if pos == start:
                raise ParseError(f"parameter {name!r} has '=' but no value")
            items.append((name, text[start:pos]))
        else:
            items.append((name, None))
