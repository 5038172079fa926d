"""Via header values (RFC 3261 §20.42, §18.2.1; RFC 3581 rport; RFC 5118 IPv6).

LWS is allowed around the '/' of sent-protocol and before ':' of sent-by (RFC 4475
wsinv: `SIP  /   2.0 /UDP`). `received` is accepted with or without IPv6 brackets
(RFC 5118 §4.5). Unknown transport tokens are legal (RFC 4475 transports).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from .errors import ParseError
from .grammar import HOST_RE
from .params import EMPTY, Params, parse_params

_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_VIA_RE = re.compile(
    rf"({_TOKEN})[ \t]*/[ \t]*({_TOKEN})[ \t]*/[ \t]*({_TOKEN})[ \t]+"
    r"(\[[^\]\s]*\]|[^\s;:\[\]]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?")

# RFC 3261 §8.1.1.7: a branch starting with this cookie is RFC 3261 compliant.
MAGIC_COOKIE = "z9hG4bK"


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value. `transport` is upper-cased ('UDP', 'TCP', 'TLS', 'WS', 'WSS'...)."""

    transport: str
    host: str
    port: int | None = None
    params: Params = EMPTY
    protocol: str = "SIP/2.0"
    raw: str | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{self.params}"

    def replace(self, **changes: object) -> "Via":
        return dataclasses.replace(self, raw=None, **changes)  # type: ignore[arg-type]

    def with_param(self, name: str, value: str | None) -> "Via":
        return self.replace(params=self.params.set(name, value))

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> str | None:
        """The rport value as written; '' when the flag is present without a value."""
        if not self.params.has("rport"):
            return None
        return self.params.get("rport") or ""

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return self.host, self.port

    @property
    def rfc3261_branch(self) -> bool:
        """True when the branch carries the magic cookie and more (RFC 3261 §17.2.3)."""
        branch = self.branch
        return branch is not None and len(branch) > 7 and branch.startswith(MAGIC_COOKIE)


def parse_via(value: str) -> Via:
    """Parse one Via value; raises ParseError (400) when it is malformed."""
    text = value.strip()
    m = _VIA_RE.match(text)
    if m is None:
        raise ParseError(f"malformed Via {text[:80]!r}")
    name, version, transport, host, port = m.groups()
    if HOST_RE.fullmatch(host) is None:
        raise ParseError(f"malformed Via sent-by host {host[:80]!r}")
    if port is not None and int(port) > 65535:
        raise ParseError("Via port out of range")
    params = parse_params(text, m.end()) if m.end() < len(text) else EMPTY
    rport = params.get("rport")
    if rport is not None and not (rport.isdigit() and rport.isascii()):
        raise ParseError("Via rport must be a port number")
    protocol = "SIP/2.0" if name == "SIP" and version == "2.0" else f"{name.upper()}/{version}"
    return Via(transport.upper(), host, int(port) if port else None, params, protocol,
               raw=text)
