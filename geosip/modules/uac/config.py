"""uac's modparams, filled by mod.init (Kamailio's uac README §3)."""

from __future__ import annotations

from typing import Any

SETTINGS: dict[str, Any] = {}


def credentials() -> list[tuple[str, str, str]]:
    """The `credential` modparam as (user, realm, password) triples; a value may be
    one "user:realm:password" or a list of them (a modparam given several times).
    The password may contain ':' (only the first two separate)."""
    value = SETTINGS.get("credential") or ()
    items = [value] if isinstance(value, str) else list(value)
    out = []
    for item in items:
        user, _, rest = item.partition(":")
        realm, _, password = rest.partition(":")
        out.append((user, realm, password))
    return out


def check_credential(item: str) -> None:
    """ValueError unless `item` reads "user:realm:password" with a user and a realm."""
    user, colon1, rest = item.partition(":")
    realm, colon2, _ = rest.partition(":")
    if not (user and realm and colon1 and colon2):
        raise ValueError(f'uac.credential must be "user:realm:password", not {item!r}')
