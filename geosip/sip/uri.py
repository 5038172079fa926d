"""SIP, SIPS and tel URIs, and any other absoluteURI kept opaque (RFC 3261 §19.1, §25.1;
RFC 3966; RFC 5118 for IPv6 references).

`parse_uri(text)` returns a `SipUri`, `TelUri` or `AbsoluteUri`; all are frozen. The user
part, parameters and headers of a SIP URI are unescaped once (RFC 3261 §19.1.2, RFC 4475
esc01: `v%61lue%25%34%31` is `value%41`, never `valueA`). `str(uri)` gives the original
text back while the URI is unchanged, so a Contact is echoed exactly as the phone sent it;
`uri.replace(...)` makes a changed copy that serializes canonically.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from urllib.parse import quote

from .errors import ParseError
from .grammar import HOST_RE, SCHEME_RE, TOKEN_RE, unescape
from .params import EMPTY, Params

# Characters left unescaped when a changed URI is written (RFC 3261 §25.1).
_USER_SAFE = "-_.!~*'()&=+$,;?/"
_PASSWORD_SAFE = "-_.!~*'()&=+$,"
_PARAM_SAFE = "-_.!~*'()[]/:&+$"
_HEADER_SAFE = "-_.!~*'()[]/?:+$"
# Never raw in a URI (RFC 3261 §25.1, RFC 3986: escaped if at all): whitespace, quotes,
# angle brackets and every control character.
_FORBIDDEN = frozenset(' <>"' + "".join(map(chr, range(0x20))) + "\x7f")


def _escape(text: str, safe: str) -> str:
    return quote(text, safe=safe, encoding="utf-8", errors="surrogateescape")


@dataclass(frozen=True, slots=True)
class SipUri:
    """sip: or sips: URI. `user`/`password` None when absent; `port` None = default."""

    scheme: str
    user: str | None
    host: str
    port: int | None = None
    params: Params = EMPTY
    headers: tuple[tuple[str, str], ...] = ()
    password: str | None = None
    raw: str | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(_escape(self.user, _USER_SAFE))
            if self.password is not None:
                out += [":", _escape(self.password, _PASSWORD_SAFE)]
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out += [":", str(self.port)]
        for name, value in self.params:
            out += [";", _escape(name, _PARAM_SAFE)]
            if value is not None:
                out += ["=", _escape(value, _PARAM_SAFE)]
        if self.headers:
            out.append("?")
            out.append("&".join(f"{_escape(k, _HEADER_SAFE)}={_escape(v, _HEADER_SAFE)}"
                                for k, v in self.headers))
        return "".join(out)

    def replace(self, **changes: object) -> "SipUri":
        """A copy with `changes` applied; it serializes from its fields, not `raw`."""
        return dataclasses.replace(self, raw=None, **changes)  # type: ignore[arg-type]

    @property
    def transport(self) -> str | None:
        """The transport uri-parameter, lower-cased (None when absent)."""
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def lr(self) -> bool:
        return self.params.has("lr")

    @property
    def hostport(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def secure(self) -> bool:
        return self.scheme == "sips"


@dataclass(frozen=True, slots=True)
class TelUri:
    """tel: URI (RFC 3966): the number as written, and its parameters."""

    number: str
    params: Params = EMPTY
    raw: str | None = field(default=None, compare=False, repr=False)

    scheme = "tel"

    def __str__(self) -> str:
        return self.raw if self.raw is not None else f"tel:{self.number}{self.params}"

    def replace(self, **changes: object) -> "TelUri":
        return dataclasses.replace(self, raw=None, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """Any other scheme (http:, urn:, isbn:...), kept opaque: a proxy answers 416."""

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


Uri = SipUri | TelUri | AbsoluteUri


def parse_uri(text: str) -> Uri:
    """Parse a URI; raises ParseError (400) when it is malformed.

    An unknown but well-formed scheme is not an error here: it becomes an AbsoluteUri
    and the layer that routes decides on 416 (RFC 3261 §8.2.2.1).
    """
    colon = text.find(":")
    if colon <= 0 or SCHEME_RE.fullmatch(text, 0, colon) is None:
        raise ParseError(f"invalid URI {text[:80]!r}: no scheme")
    if not _FORBIDDEN.isdisjoint(text):
        raise ParseError(f"invalid URI {text[:80]!r}: whitespace, a control character, "
                         "quote or angle bracket")
    scheme = text[:colon].lower()
    rest = text[colon + 1:]
    if not rest:
        raise ParseError(f"invalid URI {text[:80]!r}: empty after the scheme")
    if scheme == "sip" or scheme == "sips":
        return _parse_sip(text, scheme, rest)
    if scheme == "tel":
        number, _, params = rest.partition(";")
        if not number:
            raise ParseError("tel URI without a number")
        return TelUri(number, _split_uri_params(params) if params else EMPTY, raw=text)
    return AbsoluteUri(scheme, rest)


def _parse_sip(text: str, scheme: str, rest: str) -> SipUri:
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1:]
        name, colon, secret = userinfo.partition(":")
        if not name:
            raise ParseError(f"invalid SIP URI {text[:80]!r}: empty user part")
        user = unescape(name)
        if colon:
            password = unescape(secret)
    headers: tuple[tuple[str, str], ...] = ()
    qmark = rest.find("?")
    if qmark >= 0:
        headers = _split_uri_headers(rest[qmark + 1:], text)
        rest = rest[:qmark]
    hostport, semi, params = rest.partition(";")
    host, port = _split_hostport(hostport, text)
    return SipUri(scheme, user, host, port,
                  _split_uri_params(params) if semi else EMPTY, headers, password, raw=text)


def _split_hostport(hostport: str, text: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        host = hostport[:end + 1]
        portpart = hostport[end + 1:]
        if end < 0 or (portpart and not portpart.startswith(":")):
            raise ParseError(f"invalid IPv6 reference in {text[:80]!r}")
        portpart = portpart[1:]
        has_port = bool(hostport[end + 1:])
    else:
        host, colon, portpart = hostport.partition(":")
        has_port = bool(colon)
    if HOST_RE.fullmatch(host) is None:
        raise ParseError(f"invalid host in URI {text[:80]!r}")
    if not has_port:
        return host, None
    if (not portpart.isdigit() or not portpart.isascii() or len(portpart.lstrip("0")) > 5
            or int(portpart) > 65535):  # int() raises ValueError past 4300 digits
        raise ParseError(f"invalid port in URI {text[:80]!r}")
    return host, int(portpart)


def _split_uri_params(text: str) -> Params:
    items = []
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if not name or (eq and not value):
            raise ParseError(f"empty URI parameter in ';{text[:80]}'")
        items.append((unescape(name), unescape(value) if eq else None))
    return Params(items)


def _split_uri_headers(text: str, uri: str) -> tuple[tuple[str, str], ...]:
    items = []
    for part in text.split("&"):
        name, eq, value = part.partition("=")
        if not name or not eq or TOKEN_RE.fullmatch(unescape(name)) is None:
            raise ParseError(f"invalid header in URI {uri[:80]!r}")
        items.append((unescape(name), unescape(value)))
    return tuple(items)
