"""The local domains, cached from the `domain` and `domain_attrs` tables (Kamailio's
domain module reads both into memory at start; domain.reload reads them again).

Contract: `CACHE` maps each domain (lowercased: hosts compare without case, RFC 3261
§19.1.4) to its did (the `did` column, or the domain itself when NULL, as Kamailio);
`ATTRS` maps a did to its attributes as (name, value) with value an int for type 0
and a str otherwise (Kamailio: 0 integer, 2 string). `load()` replaces both at once,
so a lookup never sees half a reload; it raises DatabaseError (a RuntimeError) and
leaves the old cache when the tables cannot be read. Reads never touch the database.
"""

from __future__ import annotations

import logging
from typing import Any

import peewee as pw

from geosip.db import models

log = logging.getLogger("geosip.domain")

CACHE: dict[str, str] = {}
ATTRS: dict[str, list[tuple[str, int | str]]] = {}
STATE: dict[str, Any] = {"loaded": False}


class DatabaseError(RuntimeError):
    """The domain tables could not be read."""


def _value(kind: int, text: str) -> int | str:
    if kind == 0:
        try:
            return int(text)
        except ValueError:
            log.warning("domain: attribute value %r of type 0 is not an integer", text)
    return text


def load() -> int:
    """Read both tables into the cache; how many domains. DatabaseError on failure."""
    try:
        with models.database.connection_context():
            domains = list(models.Domain.select(models.Domain.domain, models.Domain.did))
            attrs = list(models.DomainAttrs.select(
                models.DomainAttrs.did, models.DomainAttrs.name, models.DomainAttrs.type,
                models.DomainAttrs.value).order_by(models.DomainAttrs.id))
    except (pw.PeeweeException, AttributeError) as exc:  # AttributeError: proxy unset
        reason = " ".join(str(exc).split()) or type(exc).__name__
        log.error("domain: cannot read the domain tables: %s", reason)
        raise DatabaseError(f"cannot read the domain tables: {reason}") from None
    cache = {row.domain.lower(): row.did or row.domain.lower() for row in domains}
    by_did: dict[str, list[tuple[str, int | str]]] = {}
    for row in attrs:
        by_did.setdefault(row.did, []).append((row.name, _value(row.type, row.value)))
    CACHE.clear()
    CACHE.update(cache)
    ATTRS.clear()
    ATTRS.update(by_did)
    STATE["loaded"] = True
    return len(cache)


def did(domain: str | None) -> str | None:
    """The did of a local domain, None when the domain is not local."""
    return CACHE.get(domain.lower()) if domain else None


def reset() -> None:
    CACHE.clear()
    ATTRS.clear()
    STATE["loaded"] = False
