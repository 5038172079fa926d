"""msilo's RPC commands (geosip's: Kamailio's msilo exports none), plain functions
served by geosip/rpc: the stored messages, and how many there are."""

from __future__ import annotations

from typing import Any

from geosip.sip import parse_uri
from geosip.sip.errors import ParseError
from geosip.sip.uri import SipUri

from . import store


def _owner(aor: str | None) -> tuple[str | None, str | None]:
    """(user, domain) of "sip:user@domain" or "user@domain"; (None, None) for every
    user. ValueError (400) for anything else, a number or a list too."""
    if aor is None or aor == "":
        return (None, None)
    if not isinstance(aor, str):  # JSON gives any type: a 400, not an AttributeError
        raise ValueError(f"not a SIP AOR: {aor!r}")
    text = aor if aor.startswith(("sip:", "sips:")) else f"sip:{aor}"
    try:
        uri = parse_uri(text)
    except ParseError:
        raise ValueError(f"not a SIP AOR: {aor!r}") from None
    if not isinstance(uri, SipUri) or not uri.user:
        raise ValueError(f"not a SIP AOR: {aor!r}")
    return (uri.user, uri.host)


def msilo_dump(aor: str | None = None) -> list[dict[str, Any]]:
    """The stored messages (of one AOR, user@domain), oldest first, field by field as
    the silo table holds them (the body as text)."""
    user, domain = _owner(aor)
    return [row.to_rpc() for row in store.rows(user, domain)]


def msilo_count(aor: str | None = None) -> dict[str, Any]:
    """How many messages are stored (for one AOR, user@domain, or in all)."""
    user, domain = _owner(aor)
    found = store.count(user, domain)
    return {"AoR": aor, "messages": found} if aor else {"messages": found}
