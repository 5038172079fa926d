"""usrloc's rows in the database: Kamailio's `location` table (geosip.db.models.Location,
version 9), so that Kamailio reads geosip's rows and geosip reads Kamailio's.

Column use as Kamailio's usrloc (ucontact.c, db_insert_ucontact / db_ops_ruid 1):
username and, with use_domain 1, domain (the AOR split at its '@'; NULL otherwise);
expires and last_modified as DATETIME in local time, whole seconds (a permanent
binding, expires 0, is the epoch); q as a REAL (-1 unspecified); methods as Kamailio's
method bit mask (NULL: every method); path as the Path header values, comma-joined in
<>; rows are updated and deleted by ruid. Columns geosip does not use keep their
defaults (cflags, server_id, connection_id, keepalive, partition).

Every function opens its own connection context and raises DatabaseError (a
ValueError: at a KSR call the route fails and the request gets 500) when the database
cannot be used. Each statement runs on its own (autocommit): nothing waits inside an
SQLite write transaction (STACK-NOTES.md §6).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from typing import Any

import peewee as pw

from geosip.db import models

from .location import Contact

log = logging.getLogger("geosip.usrloc")

# Kamailio's method bits (core/parser/msg_parser.h METHOD_*), for the methods column.
METHOD_BITS = {"INVITE": 1, "CANCEL": 2, "ACK": 4, "BYE": 8, "INFO": 16, "REGISTER": 32,
               "SUBSCRIBE": 64, "NOTIFY": 128, "MESSAGE": 256, "OPTIONS": 512,
               "PRACK": 1024, "UPDATE": 2048, "REFER": 4096, "PUBLISH": 8192,
               "KDMQ": 16384, "GET": 32768, "POST": 65536, "PUT": 131072,
               "DELETE": 262144}
METHOD_OTHER = 524288
ALL_METHODS = 0xFFFFFFFF
_PATH = re.compile(r"<([^>]*)>")


class DatabaseError(ValueError):
    """The location table could not be read or written."""


def model(table: str) -> type[models.Location]:
    """Location bound to `table` (registrar's functions name their table); ValueError
    for a name that is not an identifier."""
    try:
        return models.on_table(models.Location, table)  # type: ignore[return-value]
    except ValueError:
        raise ValueError(f"bad usrloc table name {table!r}") from None


def _when(seconds: float) -> dt.datetime:
    # whole seconds, as Kamailio writes them; rounded so that a 300 s binding read
    # back at once still shows expires=300
    return dt.datetime.fromtimestamp(round(seconds))


def _seconds(value: Any) -> float:
    if isinstance(value, str):  # SQLite hands back what another writer stored as text
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        return 0.0
    stamp = value.timestamp()
    return 0.0 if stamp <= 0 else stamp


def method_mask(methods: frozenset[str] | None) -> int | None:
    if methods is None:
        return None
    mask = 0
    for method in methods:
        mask |= METHOD_BITS.get(method, METHOD_OTHER)
    return mask


def method_set(mask: int | None) -> frozenset[str] | None:
    if mask is None or mask < 0 or mask & ALL_METHODS == ALL_METHODS:
        return None
    return frozenset(m for m, bit in METHOD_BITS.items() if mask & bit)


def split_aor(aor: str, use_domain: bool) -> tuple[str, str | None]:
    if not use_domain:
        return aor, None
    user, at, domain = aor.partition("@")
    return user, (domain if at else None)


def to_row(c: Contact, use_domain: bool) -> dict[str, Any]:
    username, domain = split_aor(c.aor, use_domain)
    return {
        "ruid": c.ruid, "username": username, "domain": domain, "contact": c.contact,
        "received": c.received, "path": ",".join(f"<{p}>" for p in c.path) or None,
        "expires": _when(c.expires), "q": c.q, "callid": c.callid, "cseq": c.cseq,
        "last_modified": _when(c.last_modified), "flags": c.flags,
        "user_agent": c.user_agent, "socket": c.socket or None,
        "methods": method_mask(c.methods), "instance": c.instance, "reg_id": c.reg_id,
    }


def from_row(row: Any, use_domain: bool) -> Contact:
    aor = row.username if not (use_domain and row.domain) else f"{row.username}@{row.domain}"
    return Contact(
        aor=aor.lower(), contact=row.contact, expires=_seconds(row.expires),
        q=float(row.q if row.q is not None else -1), callid=row.callid or "",
        cseq=int(row.cseq or 0), received=row.received or None,
        path=tuple(_PATH.findall(row.path or "")), user_agent=row.user_agent or "",
        socket=row.socket or "", instance=row.instance or None, reg_id=int(row.reg_id or 0),
        flags=int(row.flags or 0), last_modified=_seconds(row.last_modified),
        methods=method_set(row.methods), ruid=row.ruid)


def _run(table: str, what: str, work: Any) -> Any:
    """work() inside a connection context; DatabaseError when the database fails."""
    try:
        with models.database.connection_context():
            return work()
    except (pw.PeeweeException, AttributeError) as exc:  # AttributeError: proxy unset
        reason = " ".join(str(exc).split()) or type(exc).__name__
        log.error("usrloc: cannot %s %s: %s", what, table, reason)
        raise DatabaseError(f"database unavailable ({what} {table}): {reason}") from None


def _where_aor(m: type[models.Location], aor: str, use_domain: bool) -> Any:
    username, domain = split_aor(aor, use_domain)
    clause = m.username == username
    if use_domain:
        clause &= (m.domain == domain) if domain is not None else m.domain.is_null()
    return clause


def load(table: str, use_domain: bool) -> list[Contact]:
    """Every row of the table (live or not: the caller drops the expired)."""
    m = model(table)
    return _run(table, "load", lambda: [from_row(r, use_domain) for r in m.select()])


def lookup(table: str, aor: str, use_domain: bool) -> list[Contact]:
    m = model(table)
    return _run(table, "read", lambda: [
        from_row(r, use_domain) for r in m.select().where(_where_aor(m, aor, use_domain))])


def insert(table: str, contacts: Iterable[Contact], use_domain: bool) -> None:
    m = model(table)
    rows = [to_row(c, use_domain) for c in contacts]
    if rows:
        _run(table, "write", lambda: m.insert_many(rows).execute())


def update(table: str, contact: Contact, use_domain: bool) -> int:
    """Update the row with contact's ruid; how many rows changed (0: none had it)."""
    m = model(table)
    row = to_row(contact, use_domain)
    del row["ruid"]
    return int(_run(table, "write",
                    lambda: m.update(**row).where(m.ruid == contact.ruid).execute()))


def upsert(table: str, contact: Contact, use_domain: bool) -> None:
    if not update(table, contact, use_domain):
        insert(table, [contact], use_domain)


def delete(table: str, ruids: Iterable[str]) -> int:
    m = model(table)
    chosen = list(ruids)
    if not chosen:
        return 0
    return int(_run(table, "delete", lambda: m.delete().where(m.ruid.in_(chosen)).execute()))


def delete_aor(table: str, aor: str, use_domain: bool) -> int:
    m = model(table)
    return int(_run(table, "delete",
                    lambda: m.delete().where(_where_aor(m, aor, use_domain)).execute()))


def expired(table: str, now: float, use_domain: bool) -> list[Contact]:
    """The rows whose expires is past (the epoch, a permanent binding, is not)."""
    m = model(table)
    return _run(table, "read", lambda: [
        from_row(r, use_domain) for r in m.select().where(
            (m.expires <= _when(now)) & (m.expires > _when(0)))])


def claim(table: str, contact: Contact) -> bool:
    """Delete one expired row; True when this call deleted it (with several servers
    on one database, only the one that removes a row reports it expired)."""
    return delete(table, [contact.ruid]) == 1


def aors(table: str, now: float, use_domain: bool) -> list[str]:
    """The AORs with a live row."""
    m = model(table)
    live = (m.expires > _when(now)) | (m.expires <= _when(0))

    def work() -> list[str]:
        rows = m.select(m.username, m.domain).where(live).distinct()
        return sorted({(r.username if not (use_domain and r.domain)
                        else f"{r.username}@{r.domain}").lower() for r in rows})
    return _run(table, "read", work)


def count(table: str, now: float) -> int:
    m = model(table)
    live = (m.expires > _when(now)) | (m.expires <= _when(0))
    return int(_run(table, "read", lambda: m.select().where(live).count()))
