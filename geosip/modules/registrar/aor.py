"""AOR keys (Kamailio's extract_aor): the user part of a SIP/SIPS URI, lowercased
(case_sensitive 0), with @host when usrloc's use_domain is 1. A tel: URI's number
stands for the user."""

from __future__ import annotations

from typing import Any

from geosip.modules.usrloc import api as ul
from geosip.sip import parse_uri
from geosip.sip.errors import ParseError
from geosip.sip.uri import SipUri, TelUri

SETTINGS: dict[str, Any] = {}   # registrar's modparams, filled by mod.init()


def aor_key(uri: Any) -> str | None:
    """The AOR of `uri` (a Uri or its text); None when it names no user."""
    if isinstance(uri, str):
        try:
            uri = parse_uri(uri)
        except ParseError:
            return None
    if isinstance(uri, TelUri):
        user, host = uri.number, ""
    elif isinstance(uri, SipUri) and uri.user:
        user, host = uri.user, uri.host
    else:
        return None
    key = user if not ul.SETTINGS.get("use_domain") or not host else f"{user}@{host}"
    return key.lower()
