"""Transformations: the `{class.name,params}` suffixes of a PV name, as Kamailio's
`$(rU{s.escape.common})` or `$(rb{s.select,0,,})` (Kamailio's core transformations,
doc "Transformations": https://www.kamailio.org/wikidocs/cookbooks/devel/transformations/).

Contract.
- `split(inner)` cuts "rU{s.len}{s.int}" into the PV part ("rU") and the transformation
  texts; `compile(texts, label)` turns them into one function value -> value, once
  (pv.parse caches the result). PvError names an unknown or malformed transformation.
- A transformation takes str, int or None ($null) and returns the same kinds; as in
  Kamailio, most string transformations of $null give $null, and {s.len} of $null 0.
Supported: s.len s.int s.tolower s.toupper s.trim s.rtrim s.ltrim s.substr,o,l
s.select,i,c s.strip,n s.striptail,n s.prefix,x s.suffix,x s.escape.common
s.unescape.common s.numeric s.md5; sql.val sql.val.int sql.val.str (sqlops').
{s.escape.common} is Kamailio's (backslash before ' " \\ and NUL: MySQL's dialect); it
does NOT make a value safe inside an SQLite or PostgreSQL string literal, where a
quote is escaped by doubling it: use {sql.val.str} (quotes included) there, or
KSR.sqlops.sql_pquery's parameters. Nothing here blocks or switches greenlets.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

Value = str | int | bytes | None
Transform = Callable[[Value], Value]


class TransformError(ValueError):
    """An unknown or malformed transformation (pv.py reports it as PvError)."""


def split(inner: str) -> tuple[str, list[str]]:
    """"rU{s.len}{s.int}" -> ("rU", ["s.len", "s.int"]); braces nest."""
    start = inner.find("{")
    if start < 0:
        return inner, []
    base, rest, texts = inner[:start], inner[start:], []
    while rest:
        if rest[0] != "{":
            raise TransformError(f"text after a transformation: {rest[:20]!r}")
        depth = 0
        for i, char in enumerate(rest):
            depth += char == "{"
            depth -= char == "}"
            if depth == 0:
                texts.append(rest[1:i])
                rest = rest[i + 1:]
                break
        else:
            raise TransformError(f"unterminated transformation {rest[:30]!r}")
    return base, texts


def _text(value: Value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def _strings(fn: Callable[[str], Value]) -> Transform:
    """A string transformation: $null stays $null."""
    def run(value: Value) -> Value:
        text = _text(value)
        return None if text is None else fn(text)
    return run


def _int_param(params: list[str], i: int, name: str) -> int:
    try:
        return int(params[i])
    except (IndexError, ValueError):
        raise TransformError(f"{{{name}}} needs an integer parameter {i + 1}") from None


def _to_int(text: str) -> int:
    """Kamailio's {s.int}: the leading digits (with a sign), 0 when none."""
    text = text.strip()
    sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
    end = 0
    while end < len(digits) and digits[end].isdigit():
        end += 1
    return sign * int(digits[:end]) if end else 0


def escape_common(text: str) -> str:
    """Kamailio's escape_common(): backslash before ', ", \\ and NUL."""
    return (text.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')
            .replace("\0", "\\0"))


def _unescape_common(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\0" if nxt == "0" else nxt)
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def sql_string(text: str) -> str:
    """An SQL string literal: quoted, with ' doubled (SQL standard: SQLite, PostgreSQL)."""
    return "'" + text.replace("'", "''").replace("\0", "") + "'"


def _select(params: list[str], name: str) -> Transform:
    """{s.select,index,separator}: the index-th field (negative from the end)."""
    index = _int_param(params, 0, name)
    sep = params[1] if len(params) > 1 and params[1] else ","  # {s.select,0,,}: a comma

    def run(text: str) -> Value:
        fields = text.split(sep)
        return fields[index] if -len(fields) <= index < len(fields) else None
    return _strings(run)


def _substr(params: list[str], name: str) -> Transform:
    offset, length = _int_param(params, 0, name), _int_param(params, 1, name)

    def run(text: str) -> Value:
        start = offset if offset >= 0 else max(len(text) + offset, 0)
        return text[start:] if length == 0 else text[start:start + length]
    return _strings(run)


def _sql_val(kind: str) -> Transform:
    """sqlops' {sql.val}: NULL for $null, a number as is, a string quoted;
    {sql.val.int}: 0 for $null; {sql.val.str}: '' for $null."""
    def run(value: Value) -> Value:
        if value is None:
            return {"": "NULL", "int": "0", "str": "''"}[kind]
        if isinstance(value, int) and kind != "str":
            return str(value)
        return sql_string(_text(value) or "")
    return run


def _length(value: Value) -> Value:
    text = _text(value)
    return 0 if text is None else len(text.encode("utf-8", "surrogateescape"))


def _simple(name: str) -> Transform | None:
    simple: dict[str, Transform] = {
        "s.len": _length,
        "s.int": lambda v: v if isinstance(v, int) else _to_int(_text(v) or ""),
        "s.tolower": _strings(str.lower), "s.toupper": _strings(str.upper),
        "s.trim": _strings(str.strip), "s.rtrim": _strings(str.rstrip),
        "s.ltrim": _strings(str.lstrip),
        "s.escape.common": _strings(escape_common),
        "s.unescape.common": _strings(_unescape_common),
        "s.numeric": _strings(lambda t: "".join(c for c in t if c.isdigit())),
        "s.md5": _strings(lambda t: hashlib.md5(t.encode("utf-8", "surrogateescape"),
                                                usedforsecurity=False).hexdigest()),
        "sql.val": _sql_val(""), "sql.val.int": _sql_val("int"),
        "sql.val.str": _sql_val("str"),
    }
    return simple.get(name)


def _with_params(name: str, params: list[str]) -> Transform | None:
    if name == "s.select":
        return _select(params, name)
    if name == "s.substr":
        return _substr(params, name)
    if name in ("s.strip", "s.striptail"):
        count = _int_param(params, 0, name)
        return _strings(lambda t: t[count:] if name == "s.strip" else t[:max(len(t) - count, 0)])
    if name in ("s.prefix", "s.suffix"):
        if not params:
            raise TransformError(f"{{{name}}} needs a parameter")
        affix = params[0]
        return _strings(lambda t: affix + t if name == "s.prefix" else t + affix)
    return None


def compile(texts: list[str], label: str) -> Transform:  # noqa: A001 - Kamailio's word
    """One function applying the transformations in order. TransformError names an
    unknown or malformed one."""
    steps: list[Transform] = []
    for text in texts:
        name, *params = text.split(",")
        step = _simple(name) if not params else _with_params(name, params)
        if step is None:
            step = _with_params(name, params) if not params else None
        if step is None:
            raise TransformError(f"unknown transformation {{{text}}} in {label}")
        steps.append(step)

    def run(value: Any) -> Value:
        for step in steps:
            value = step(value)
        return value
    return run


__all__ = ["TransformError", "compile", "escape_common", "split", "sql_string"]
