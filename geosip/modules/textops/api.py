"""POSIX regular expressions and sed-style substitutions as Kamailio uses them, on
Python's `re` (the only part of textops other modules import: rr's check_route_param,
siputils).

Kamailio compiles script regexes with regcomp(3): extended syntax (ERE), and for the
KEMI functions REG_ICASE|REG_NEWLINE. `compile_posix` translates ERE to Python:
- bracket expressions: [[:alpha:]] and the other classes, [.x.] and [=x=] as the
  character, a backslash is a literal backslash inside [...], and with REG_NEWLINE a
  negated set does not match a newline;
- GNU escapes \\w \\W \\s \\S \\b \\B, \\< \\> (word boundaries), \\` \\' (buffer start and
  end), back-references \\1-\\9; any other escaped character is that character (so
  "\\d" is "d", as in glibc);
- REG_NEWLINE: '.' and negated sets stop at a newline, '^'/'$' match at line ends
  (re.MULTILINE); without it '.' matches a newline too (re.DOTALL).
Two quantifiers in a row ("a*?", which Python would read as lazy) are merged into the
one they mean in POSIX ("a*"). Refused (ValueError): "(?" groups (not POSIX) and a
quantifier after an interval ("a{2}*"). Differences that stay: POSIX picks the longest
of several alternatives matching at the same place, Python the first listed; and with
REG_ICASE glibc's regcomp matches nothing for an escaped lower-case letter ("\\d"),
where geosip matches the letter.

`parse_subst('/re/repl/flags')` follows Kamailio's subst_parser (core/re.c): the first
character is the separator; flags i (ignore case), g (every match), s (the regex sees
the text as one line: REG_NEWLINE off; it is on by default); in the replacement \\0-\\9
are the groups, \\n \\r \\t \\\\ \\$ those characters, \\u the Request-URI, any other \\x
the character x, and `$name`, `$name(arg)`, `$(name(arg)[i])` a pseudo-variable
(geosip.script.pv), read when the substitution runs ($null gives "").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from geosip.script.pv import Pv, PvError
from geosip.script.pv import parse as parse_pv

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "0-9a-zA-Z", "upper": "A-Z",
    "lower": "a-z", "space": r" \t\n\r\f\v", "blank": r" \t", "xdigit": "0-9A-Fa-f",
    "cntrl": r"\x00-\x1f\x7f", "print": r"\x20-\x7e", "graph": r"\x21-\x7e",
    "punct": r"!-/:-@\[-`{-~",
}
_GNU_ESCAPES = {"w": r"\w", "W": r"\W", "s": r"\s", "S": r"\S", "b": r"\b", "B": r"\B",
                "<": r"\b", ">": r"\b", "`": r"\A", "'": r"\Z"}


def _literal(c: str) -> str:
    return c if c.isalnum() or c == "_" else "\\" + c


def _bracket(p: str, i: int, newline: bool) -> tuple[int, str]:
    """Translate the bracket expression starting at p[i] == '['; returns (end, text)."""
    j, n = i + 1, len(p)
    negate = j < n and p[j] == "^"
    j += negate
    items: list[str] = []
    first = True
    while True:
        if j >= n:
            raise ValueError("unterminated '[' in regular expression")
        c = p[j]
        if c == "]" and not first:
            j += 1
            break
        first = False
        if c == "[" and j + 1 < n and p[j + 1] in ":.=":
            kind = p[j + 1]
            end = p.find(kind + "]", j + 2)
            if end < 0:
                raise ValueError(f"unterminated '[{kind}' in regular expression")
            name = p[j + 2:end]
            if kind == ":":
                if name not in _CLASSES:
                    raise ValueError(f"unknown character class [:{name}:]")
                items.append(_CLASSES[name])
            else:                       # collating element / equivalence class: itself
                items.append("".join(_literal(x) for x in name))
            j = end + 2
            continue
        items.append("-" if c == "-" else _literal(c))
        j += 1
    body = "".join(items)
    if negate and newline:
        body += r"\n"
    return j, "[" + ("^" if negate else "") + body + "]"


def _translate(p: str, newline: bool) -> str:
    out: list[str] = []
    i, n = 0, len(p)
    while i < n:
        c = p[i]
        if c == "\\":
            if i + 1 >= n:
                raise ValueError("trailing backslash in regular expression")
            d = p[i + 1]
            i += 2
            if d in _GNU_ESCAPES:
                out.append(_GNU_ESCAPES[d])
            elif d in "123456789":
                out.append("\\" + d)
            else:
                out.append(_literal(d))
            continue
        if c == "[":
            i, text = _bracket(p, i, newline)
            out.append(text)
            continue
        if c == "(" and p.startswith("(?", i):
            raise ValueError("'(?' is not POSIX regular expression syntax")
        if c in "*+?" and out and out[-1] in _QUANTIFIERS:
            # "a*?" is (a*)? in POSIX, lazy in Python: write the one quantifier it means
            out[-1] = _merge(out[-1], c)
        elif c in "*+?" and out and out[-1].endswith("}") and not out[-1].startswith("\\"):
            raise ValueError("a quantifier after an interval is not supported")
        else:
            out.append(c)
        i += 1
    return "".join(out)


_QUANTIFIERS = {"*": (0, None), "+": (1, None), "?": (0, 1)}


def _merge(first: str, second: str) -> str:
    """The quantifier equal to two in a row ("a+*" is "a*"): counts multiply."""
    (lo1, hi1), (lo2, hi2) = _QUANTIFIERS[first], _QUANTIFIERS[second]
    lo, hi = lo1 * lo2, None if hi1 is None or hi2 is None else hi1 * hi2
    return {(0, None): "*", (1, None): "+", (0, 1): "?"}[(lo, hi)]


@lru_cache(maxsize=512)
def compile_posix(pattern: str, icase: bool = True, newline: bool = True) -> re.Pattern[str]:
    """Compile a POSIX extended regex the way Kamailio's KEMI functions do (REG_ICASE and
    REG_NEWLINE by default). Raises ValueError for a malformed or unsupported one."""
    flags = (re.IGNORECASE if icase else 0) | (re.MULTILINE if newline else re.DOTALL)
    try:
        return re.compile(_translate(pattern, newline), flags)
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None


class _Uri:
    """The \\u token of a replacement: the Request-URI."""


URI = _Uri()
Piece = str | int | _Uri | Pv


@dataclass(frozen=True, slots=True)
class Subst:
    """A compiled s/re/repl/flags. `apply` raises ValueError on an empty match (Kamailio
    refuses those: "Matched string is empty, invalid regexp?")."""

    regex: re.Pattern[str]
    pieces: tuple[Piece, ...]
    replace_all: bool

    def expand(self, m: re.Match[str], ruri: str, ctx: "RequestContext | None") -> str:
        out = []
        for piece in self.pieces:
            if isinstance(piece, str):
                out.append(piece)
            elif isinstance(piece, int):
                group = m.group(piece) if piece <= self.regex.groups else None
                out.append(group or "")
            elif isinstance(piece, Pv):
                out.append(_pv_text(piece, ctx))
            else:
                out.append(ruri)
        return "".join(out)

    def matches(self, text: str) -> list[re.Match[str]]:
        found = []
        for m in self.regex.finditer(text):
            if m.start() == m.end():
                raise ValueError("the regular expression matched an empty string")
            found.append(m)
            if not self.replace_all:
                break
        return found

    def apply(self, text: str, ruri: str = "",
              ctx: "RequestContext | None" = None) -> tuple[str, int]:
        """The text with the substitution made, and how many matches were replaced;
        `ctx` is the request pseudo-variables of the replacement read."""
        found = self.matches(text)
        if not found:
            return text, 0
        out, pos = [], 0
        for m in found:
            out += [text[pos:m.start()], self.expand(m, ruri, ctx)]
            pos = m.end()
        out.append(text[pos:])
        return "".join(out), len(found)


_CHAR_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t", "$": "$"}
_PV_NAME = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")


def _pv_text(pv: Pv, ctx: "RequestContext | None") -> str:
    value = pv.get(ctx) if ctx is not None else None
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def _balanced(text: str, i: int) -> int:
    """Index just past the ')' closing the '(' at text[i]; ValueError if none."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    raise ValueError(f"unterminated pseudo-variable in {text[:60]!r}")


def _pseudo_variable(text: str, i: int) -> tuple[Pv, int]:
    """Parse the pseudo-variable starting at text[i] == '$': ($name, $name(arg),
    $(name(arg)[index])); returns it and the index past it. ValueError if unknown."""
    if text.startswith("$(", i):
        end = _balanced(text, i + 1)
    else:
        m = _PV_NAME.match(text, i)
        if m is None:
            raise ValueError(f"bad pseudo-variable at {text[i:i + 20]!r} (write \\$ for $)")
        end = _balanced(text, m.end()) if text.startswith("(", m.end()) else m.end()
    try:
        return parse_pv(text[i:end]), end
    except PvError as exc:
        raise ValueError(str(exc)) from None


def _replacement(text: str, sep: str) -> tuple[tuple[Piece, ...], int]:
    """Parse the replacement up to the unescaped separator; returns (pieces, end index)."""
    pieces: list[Piece] = []
    lit: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            d = text[i + 1]
            i += 2
            if d.isdigit():
                pieces += ["".join(lit), int(d)]
                lit = []
            elif d == "u":
                pieces += ["".join(lit), URI]
                lit = []
            else:
                lit.append(_CHAR_ESCAPES.get(d, d))
            continue
        if c == sep:
            break
        if c == "$":
            pv, i = _pseudo_variable(text, i)
            pieces += ["".join(lit), pv]
            lit = []
            continue
        lit.append(c)
        i += 1
    else:
        raise ValueError("missing separator after the replacement")
    pieces.append("".join(lit))
    return tuple(p for p in pieces if p != ""), i


@lru_cache(maxsize=256)
def parse_subst(expr: str) -> Subst:
    """Compile a sed-style '/re/repl/flags' (Kamailio's subst_parser); ValueError."""
    if len(expr) < 3:
        raise ValueError(f"subst expression too short: {expr!r}")
    sep = expr[0]
    if sep == "\\":
        raise ValueError("a backslash cannot be the separator")
    end = 1
    while end < len(expr) and not (expr[end] == sep and expr[end - 1] != "\\"):
        end += 1
    if end >= len(expr) - 1:
        raise ValueError(f"no separator after the regular expression in {expr!r}")
    pieces, rlen = _replacement(expr[end + 1:], sep)
    icase, newline, replace_all = False, True, False
    for flag in expr[end + 2 + rlen:]:
        if flag == "i":
            icase = True
        elif flag == "s":
            newline = False
        elif flag == "g":
            replace_all = True
        else:
            raise ValueError(f"unknown flag {flag!r} in {expr!r}")
    return Subst(compile_posix(expr[1:end], icase, newline), pieces, replace_all)


__all__ = ["Subst", "URI", "compile_posix", "parse_subst"]
