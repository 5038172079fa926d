"""Formats with pseudo-variables ("$ru from $si:$sp $hdr(User-Agent)"), as Kamailio's
pv_parse_format/pv_printf expand them for xlog and the functions that take a format.

Contract.
- `parse_format(text)` splits a format once into literal text and `Pv` accessors
  (pv.parse for each name); an LRU cache keeps CACHE_SIZE formats, so a script that
  logs the same format on every request parses it once, and formats built at run time
  cannot grow memory. Raises PvError for an unknown or malformed PV (Kamailio refuses
  the format too: "error in parsing evaluated second parameter").
- `render(parts, ctx)` expands a parsed format: a $null value prints as "<null>",
  as Kamailio's pv_printf prints it; integers in decimal.
A PV name is `$name`, `$name(arg)` (parentheses may nest: $hdr(X-(a))), or the
bracketed form `$(name(arg)[index])`; the name is letters, digits and underscores
(Kamailio's pv_parse_spec). Nothing here blocks or switches greenlets.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from .pv import Pv, PvError, parse

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

CACHE_SIZE = 256
NULL = "<null>"

Part = str | Pv


def _closing(text: str, start: int) -> int:
    """Index just after the ')' that closes the '(' at `start`; PvError if none."""
    depth = 0
    for i in range(start, len(text)):
        char = text[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    raise PvError(f"unterminated pseudo-variable in format: {text[start - 1:][:40]!r}")


def _name_end(text: str, start: int) -> int:
    """Index just after the PV name that starts with the '$' at `start`."""
    i = start + 1
    if i < len(text) and text[i] == "(":
        return _closing(text, i)
    while i < len(text) and (text[i].isalnum() or text[i] == "_") and text[i].isascii():
        i += 1
    if i == start + 1:
        raise PvError(f"malformed pseudo-variable in format at {text[start:][:20]!r}")
    if i < len(text) and text[i] == "(":
        return _closing(text, i)
    return i


@functools.lru_cache(maxsize=CACHE_SIZE)
def parse_format(text: str) -> tuple[Part, ...]:
    """The literal text and PV accessors of a format (cached). Raises PvError."""
    parts: list[Part] = []
    pos = 0
    while True:
        dollar = text.find("$", pos)
        if dollar < 0:
            if pos < len(text):
                parts.append(text[pos:])
            return tuple(parts)
        if dollar > pos:
            parts.append(text[pos:dollar])
        end = _name_end(text, dollar)
        parts.append(parse(text[dollar:end]))
        pos = end


def render(parts: tuple[Part, ...], ctx: "RequestContext") -> str:
    """The format's text with every PV's value for `ctx`."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = part.get(ctx)
        if value is None:
            out.append(NULL)
        elif isinstance(value, bytes):
            out.append(value.decode("utf-8", "surrogateescape"))
        else:
            out.append(str(value))
    return "".join(out)


def expand(text: str, ctx: "RequestContext") -> str:
    """parse_format + render. Raises PvError for a bad format."""
    return render(parse_format(text), ctx)


__all__ = ["CACHE_SIZE", "NULL", "PvError", "expand", "parse_format", "render"]
