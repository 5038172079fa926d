"""KSR.textops string helpers: cmp_str, cmp_istr, starts_with, in_list, in_list_prefix.

Return codes are Kamailio's: the comparisons give 1 when equal, -1 when the first string
sorts after the second, -2 when it sorts before (byte order, as strncmp; cmp_istr folds
ASCII case).
"""

from __future__ import annotations

from geosip.core.context import RequestContext
from geosip.script.exports import ksr

_WS = " \t\r\n"


def _bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _order(a: bytes, b: bytes) -> int:
    return 1 if a == b else -1 if a > b else -2


@ksr("cmp_str", "ss", returns="1 equal, -1 s1 > s2, -2 s1 < s2")
def cmp_str(ctx: RequestContext, s1: str, s2: str) -> int:
    """Compare two strings, case-sensitively."""
    return _order(_bytes(s1), _bytes(s2))


@ksr("cmp_istr", "ss", returns="1 equal, -1 s1 > s2, -2 s1 < s2 (ignoring case)")
def cmp_istr(ctx: RequestContext, s1: str, s2: str) -> int:
    """Compare two strings, ignoring ASCII case."""
    return _order(_bytes(s1).lower(), _bytes(s2).lower())


@ksr("starts_with", "ss", returns="1 s1 starts with s2, -1/-2 it does not")
def starts_with(ctx: RequestContext, s1: str, s2: str) -> int:
    """Whether `s1` starts with `s2` (-1 also when s1 is shorter)."""
    a, b = _bytes(s1), _bytes(s2)
    if len(a) < len(b):
        return -1
    return _order(a[:len(b)], b)


def _items(lst: str, sep: str) -> list[str]:
    return [item.strip(_WS) for item in lst.strip(_WS).split(sep[0])]


@ksr("in_list", "sss", returns="1 subject is an item of the list, -1 not")
def in_list(ctx: RequestContext, subject: str, lst: str, vsep: str) -> int:
    """Whether `subject` equals one of the items of `lst`, split at the first character
    of `vsep` (white space around the items ignored)."""
    if not subject or not lst or not vsep:
        return -1
    return 1 if subject in _items(lst, vsep) else -1


@ksr("in_list_prefix", "sss", returns="1 an item of the list is a prefix of subject, -1 not")
def in_list_prefix(ctx: RequestContext, subject: str, lst: str, vsep: str) -> int:
    """Whether one of the items of `lst` is a prefix of `subject`."""
    if not subject or not lst or not vsep:
        return -1
    return 1 if any(item and subject.startswith(item) for item in _items(lst, vsep)) else -1
