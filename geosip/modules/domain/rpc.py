"""domain.reload and domain.dump (Kamailio's domain RPC commands) as plain functions."""

from __future__ import annotations

from typing import Any

from . import cache


def domain_reload() -> None:
    """Read the domain and domain_attrs tables again; the old cache stays when they
    cannot be read (DatabaseError)."""
    cache.load()


def domain_dump() -> dict[str, Any]:
    """The cached domains, each with its did and attributes."""
    return {"Domains": [
        {"Domain": name, "DID": did,
         "Attributes": [{"Name": n, "Value": v} for n, v in cache.ATTRS.get(did, [])]}
        for name, did in sorted(cache.CACHE.items())]}
