"""Header parameters: `;name[=value]` lists of Via, From/To, Contact, Route...

`Params` is an immutable tuple of (name, value) pairs in wire order, with value None
for a flag parameter (`;lr`). Names keep their spelling; look-ups ignore case, as
RFC 3261 §7.3.1 says parameter names are case-insensitive. Values are kept as written
(a quoted-string keeps its quotes) so that re-serializing changes nothing.
"""

from __future__ import annotations

import re
from typing import Iterable

from .errors import ParseError
from .grammar import TOKEN_RE, skip_quoted


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


# One `;name[=value]` with the LWS RFC 3261 allows around ';' and '='; a value is a
# quoted-string (quoted-pairs kept), an IPv6 reference (RFC 5118) or a token/host.
_PARAM_RE = re.compile(
    r"""[ \t]*;[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)"""
    r"""(?:[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|\[[^\]]*\]|[^;,\s"]+))?""")


def parse_params(text: str, pos: int = 0) -> Params:
    """Parse `*( SEMI generic-param )` from text[pos:] to the end (RFC 3261 §25.1).

    LWS is allowed around ';' and '='. A value is a token, a host (IPv6 references in
    brackets, RFC 5118) or a quoted-string. Raises ParseError on an empty or non-token
    name, a missing value after '=', an unterminated quote or trailing garbage.
    """
    n = len(text)
    items: list[tuple[str, str | None]] = []
    match = _PARAM_RE.match
    while pos < n:
        m = match(text, pos)
        if m is None:
            if not text[pos:].strip(" \t"):
                break
            raise _param_error(text, pos)
        items.append(m.groups())  # type: ignore[arg-type]
        pos = m.end()
        if pos < n and text[pos] == "=":
            raise ParseError(f"parameter {m.group(1)!r} has '=' but no valid value")
    return Params(items)


def _param_error(text: str, pos: int) -> ParseError:
    """The clearest reason why text[pos:] is not a parameter list."""
    rest = text[pos:].lstrip(" \t")
    if not rest.startswith(";"):
        return ParseError(f"unexpected {rest[:1]!r} where ';' was expected")
    name = rest[1:].lstrip(" \t")
    if not name or TOKEN_RE.match(name) is None:
        return ParseError("empty or invalid parameter name")
    if '"' in rest:
        skip_quoted(rest, rest.index('"'))  # raises for an unterminated quote
    if "[" in rest and "]" not in rest:
        return ParseError("unterminated '[' in parameter value")
    return ParseError(f"malformed parameter {rest[:40]!r}")
