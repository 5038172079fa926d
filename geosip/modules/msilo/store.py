"""The silo table (db/models.py Silo, Kamailio's msilo table version 8) as msilo reads
and writes it. Every function opens its own connection context and runs one short
statement, so no greenlet switch happens inside an SQLite write (STACK-NOTES.md §6).
They are called from blocking KSR functions and from msilo's own greenlets, never
with Lua on the stack. A database that fails raises peewee's errors (pw.PeeweeException
and the driver's DatabaseError): callers log them and answer -1, or retry later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import peewee as pw

from geosip.db import models

Silo = models.Silo

# what a database failure looks like to callers (peewee's own errors and the drivers')
DB_ERRORS: tuple[type[BaseException], ...] = (pw.PeeweeException, pw.DatabaseError)


@dataclass(frozen=True, slots=True)
class Stored:
    """One row, as m_dump and the RPC read it."""

    id: int
    src_addr: str
    dst_addr: str
    username: str
    domain: str
    inc_time: int
    exp_time: int
    snd_time: int
    ctype: str
    body: bytes
    extra_hdrs: str
    callid: str

    @property
    def owner(self) -> tuple[str, str]:
        return (self.username, self.domain)

    def to_rpc(self) -> dict[str, Any]:
        return {"id": self.id, "src_addr": self.src_addr, "dst_addr": self.dst_addr,
                "username": self.username, "domain": self.domain,
                "inc_time": self.inc_time, "exp_time": self.exp_time,
                "snd_time": self.snd_time, "ctype": self.ctype,
                "body": self.body.decode("utf-8", "replace"),
                "extra_hdrs": self.extra_hdrs, "callid": self.callid}


def _stored(row: Silo) -> Stored:
    body = row.body
    return Stored(row.id, row.src_addr, row.dst_addr, row.username, row.domain,
                  int(row.inc_time), int(row.exp_time), int(row.snd_time), row.ctype,
                  bytes(body) if body is not None else b"", row.extra_hdrs or "",
                  row.callid or "")


def insert(**columns: Any) -> int:
    """A new row; its id."""
    with models.database.connection_context():
        return int(Silo.insert(**columns).execute())


def count(username: str | None = None, domain: str | None = None) -> int:
    """Rows of one AOR (every row when username is None)."""
    with models.database.connection_context():
        query = Silo.select()
        if username is not None:
            query = query.where((Silo.username == username) & (Silo.domain == domain))
        return int(query.count())


def pending(username: str, domain: str, now: int) -> list[Stored]:
    """The AOR's messages waiting for delivery (not reminders, not expired), oldest
    first (Kamailio's m_dump orders by the message id)."""
    with models.database.connection_context():
        return [_stored(r) for r in Silo.select().where(
            (Silo.username == username) & (Silo.domain == domain) & (Silo.snd_time == 0)
            & (Silo.exp_time > now)).order_by(Silo.id)]


def owners(now: int) -> list[tuple[str, str]]:
    """Every AOR with messages waiting for delivery."""
    with models.database.connection_context():
        return [(r.username, r.domain) for r in Silo.select(Silo.username, Silo.domain)
                .where((Silo.snd_time == 0) & (Silo.exp_time > now)).distinct()]


def reminders_due(now: int) -> list[Stored]:
    """Reminders whose send time has come (Kamailio's m_send_ontimer)."""
    with models.database.connection_context():
        return [_stored(r) for r in Silo.select().where(
            (Silo.snd_time != 0) & (Silo.snd_time <= now)).order_by(Silo.id)]


def rows(username: str | None = None, domain: str | None = None) -> list[Stored]:
    """Every row (of one AOR), oldest first: the RPC's view."""
    with models.database.connection_context():
        query = Silo.select().order_by(Silo.id)
        if username is not None:
            query = query.where((Silo.username == username) & (Silo.domain == domain))
        return [_stored(r) for r in query]


def delete(message_id: int) -> int:
    with models.database.connection_context():
        return int(Silo.delete().where(Silo.id == message_id).execute())


def delete_expired(now: int) -> int:
    """Rows whose exp_time has passed (Kamailio's m_clean_silo: exp_time <= now)."""
    with models.database.connection_context():
        return int(Silo.delete().where(Silo.exp_time <= now).execute())


def reset_snd_time(message_id: int) -> None:
    """A reminder that could not be sent becomes an ordinary stored message (Kamailio's
    ms_reset_stime): m_dump delivers it at the next registration."""
    with models.database.connection_context():
        Silo.update(snd_time=0).where(Silo.id == message_id).execute()
