"""name-addr / addr-spec values of From, To, Contact, Route, Record-Route, Path...
(RFC 3261 §20.10, §20.20, §20.39, §25.1).

In the addr-spec form (no angle brackets) everything after the first ';' is a header
parameter, never a URI parameter (RFC 4475 cparam01); a URI with '?' headers must be in
angle brackets (RFC 4475 regbadct). The display name is unquoted and its quoted-pairs
resolved (RFC 4475 wsinv: `"J Rosenberg \\\""` is `J Rosenberg \"`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .errors import ParseError
from .grammar import TOKEN_RE, quote_string, skip_quoted, unquote_string
from .params import EMPTY, Params, parse_params
from .uri import Uri, parse_uri


@dataclass(frozen=True, slots=True)
class Address:
    """A display name (None when absent), a URI and header parameters (tag, q, expires...)."""

    uri: Uri
    display: str | None = None
    params: Params = EMPTY
    raw: str | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        name = quote_string(self.display) + " " if self.display is not None else ""
        return f"{name}<{self.uri}>{self.params}"

    def replace(self, **changes: object) -> "Address":
        """A copy with `changes` applied, written canonically (name-addr form)."""
        return dataclasses.replace(self, raw=None, **changes)  # type: ignore[arg-type]

    def with_param(self, name: str, value: str | None) -> "Address":
        return self.replace(params=self.params.set(name, value))

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")


def parse_address(value: str) -> Address:
    """Parse one name-addr or addr-spec with its parameters; raises ParseError (400)."""
    text = value.strip()
    if not text:
        raise ParseError("empty address")
    if text[0] == '"':
        end = skip_quoted(text, 0)
        display: str | None = unquote_string(text[:end])
        lt = end
        while lt < len(text) and text[lt] in " \t":
            lt += 1
        if lt >= len(text) or text[lt] != "<":
            raise ParseError("quoted display name not followed by '<'")
    else:
        lt = text.find("<")
        semi = text.find(";")
        if lt < 0 or 0 <= semi < lt:
            # A '<' after the first ';' is inside a parameter value of an addr-spec
            # (+sip.instance="<urn:...>", RFC 5626 §4.1); a display name has no ';'.
            return _parse_addr_spec(text)
        words = text[:lt].split()
        for word in words:
            if TOKEN_RE.fullmatch(word) is None:
                # RFC 4475 baddn: 'Watson, Thomas' must be quoted.
                raise ParseError(f"display name {text[:lt].strip()[:60]!r} must be quoted")
        display = " ".join(words) if words else None
    gt = text.find(">", lt)
    if gt < 0:
        raise ParseError("'<' without '>' in address")
    uri = parse_uri(text[lt + 1:gt])
    params = parse_params(text, gt + 1) if gt + 1 < len(text) else EMPTY
    return Address(uri, display, params, raw=text)


def _parse_addr_spec(text: str) -> Address:
    semi = text.find(";")
    uri_text = text if semi < 0 else text[:semi].rstrip()
    if "?" in uri_text:
        raise ParseError("a URI with headers must be enclosed in '<>'")
    uri = parse_uri(uri_text)
    params = parse_params(text, semi) if semi >= 0 else EMPTY
    return Address(uri, None, params, raw=text)
