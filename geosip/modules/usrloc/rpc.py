"""ul.dump, ul.lookup, ul.rm, ul.add as plain functions (Kamailio's usrloc RPC
commands); the control interface issue serves them over JSON-RPC. Each returns a
JSON-ready value and raises LookupError (Kamailio: 404 AOR not found) or ValueError
(400, bad argument)."""

from __future__ import annotations

import time
from typing import Any

from .location import FL_MEM, Contact, Location
from .tables import SETTINGS, TABLES, flush, table


def _existing(name: str) -> Location | None:
    """The table if it has bindings to show: made already, or in the database."""
    if name in TABLES:
        return TABLES[name]
    return table(name) if SETTINGS["db_mode"] else None


def _row(c: Contact, now: float) -> dict[str, Any]:
    return {"Address": c.contact, "Expires": "permanent" if c.expires == 0
            else c.remaining(now), "Q": c.q, "Call-ID": c.callid, "CSeq": c.cseq,
            "User-Agent": c.user_agent, "Received": c.received or "[not set]",
            "Path": ",".join(c.path) or "[not set]", "Socket": c.socket or "[not set]",
            "Instance": c.instance or "[not set]", "Reg-Id": c.reg_id, "Flags": c.flags,
            "Methods": sorted(c.methods) if c.methods is not None else "all",
            "Last-Modified": int(c.last_modified)}


def ul_dump() -> dict[str, Any]:
    """Every table, AOR and live binding."""
    now = time.time()
    return {"Domains": [{"Domain": name, "AoRs": [
        {"AoR": aor, "Contacts": [_row(c, now) for c in location.lookup(aor, now)]}
        for aor in location.aors() if location.lookup(aor, now)]}
        for name, location in TABLES.items()]}


def ul_lookup(table_name: str, aor: str) -> dict[str, Any]:
    """The live bindings of one AOR; LookupError when it has none."""
    now = time.time()
    location = _existing(table_name)
    found = location.lookup(aor, now) if location is not None else []
    if not found:
        raise LookupError(f"AOR {aor} not found in {table_name}")
    return {"AoR": aor, "Contacts": [_row(c, now) for c in found]}


def ul_rm(table_name: str, aor: str, contact: str | None = None) -> int:
    """Remove an AOR (or one of its contact URIs); how many bindings went.
    LookupError when nothing matched."""
    location = _existing(table_name)
    gone = 0
    if location is not None:
        gone = location.delete(aor) if contact is None else location.delete_uri(aor, contact)
    if not gone:
        raise LookupError(f"AOR {aor} not found in {table_name}")
    return gone


def ul_add(table_name: str, aor: str, contact: str, expires: int, q: float = -1.0,
           flags: int = 0, methods: list[str] | None = None) -> None:
    """Add (or replace) a binding; expires 0 makes it permanent (Kamailio's ul.add).
    ValueError for a negative expires or a q outside 0..1 (or -1)."""
    if expires < 0:
        raise ValueError("expires must be >= 0")
    if not (q == -1 or 0 <= q <= 1):
        raise ValueError("q must be 0..1 (or -1, unspecified)")
    now = time.time()
    table(table_name).save(Contact(
        aor=aor, contact=contact, expires=0 if expires == 0 else now + expires, q=q,
        callid="dfjrewr12386fd-ul-add", cseq=1, flags=flags | FL_MEM, last_modified=now,
        user_agent="SIP Router MI Server",
        methods=None if methods is None else frozenset(m.upper() for m in methods)))


def ul_flush() -> None:
    """Write db_mode 2's changes to the database now (Kamailio's ul.flush)."""
    flush()
