"""usrloc's database modes (Kamailio's db_mode), as tables with Location's interface
(lookup, get, save, remove/delete, delete_uri, sweep, aors, users, contacts).

  0 Location      memory only (location.py).
  1 WriteThrough  memory serves lookups; every change is written to the database
                  first, then to memory, so a database that fails leaves both as
                  they were (and the request gets 500).
  2 WriteBack     changes go to memory and are remembered; flush() (the timer, every
                  timer_interval, and destroy at shutdown) writes them. A flush that
                  fails keeps them for the next one.
  3 DbOnly        no memory: every call reads or writes the database, so several
                  geosip processes (or nodes) on one database share registrations.
Modes 1 and 2 load the table's live rows when the table is made (usrloc's start, or
first use). Database failures raise store.DatabaseError (a ValueError).
Calls that reach the database may wait (PostgreSQL): they run only from KSR
functions declared blocking, the timer greenlet, or RPC.
"""

from __future__ import annotations

import time

from . import store
from .location import Contact, Location, new_ruid, q_order


class WriteThrough(Location):
    """db_mode 1."""

    __slots__ = ("use_domain",)

    def __init__(self, name: str, use_domain: bool) -> None:
        super().__init__(name)
        self.use_domain = use_domain
        now = time.time()
        for contact in store.load(name, use_domain):
            if contact.alive(now):
                Location.save(self, contact)

    def save(self, contact: Contact) -> Contact:
        old = self.get(contact.aor, contact.key)
        if not contact.ruid:
            contact = contact.with_(ruid=old.ruid if old is not None else new_ruid())
        if old is not None and old.ruid == contact.ruid:
            if not store.update(self.name, contact, self.use_domain):
                store.insert(self.name, [contact], self.use_domain)
        else:
            store.insert(self.name, [contact], self.use_domain)
        return Location.save(self, contact)

    def remove(self, aor: str, key: tuple[str, ...] | None = None) -> list[Contact]:
        record = self.records.get(aor, {})
        going = list(record.values()) if key is None else \
            [c for k, c in record.items() if k == key]
        store.delete(self.name, (c.ruid for c in going))
        return Location.remove(self, aor, key)

    def sweep(self, now: float | None = None) -> list[Contact]:
        gone = Location.sweep(self, now)
        store.delete(self.name, (c.ruid for c in gone))
        return gone


class WriteBack(Location):
    """db_mode 2: `dirty` ruid -> binding to write, `dropped` ruids to delete."""

    __slots__ = ("use_domain", "dirty", "dropped")

    def __init__(self, name: str, use_domain: bool) -> None:
        super().__init__(name)
        self.use_domain = use_domain
        self.dirty: dict[str, Contact] = {}
        self.dropped: set[str] = set()
        now = time.time()
        for contact in store.load(name, use_domain):
            if contact.alive(now):
                Location.save(self, contact)

    def save(self, contact: Contact) -> Contact:
        stored = Location.save(self, contact)
        self.dirty[stored.ruid] = stored
        return stored

    def remove(self, aor: str, key: tuple[str, ...] | None = None) -> list[Contact]:
        gone = Location.remove(self, aor, key)
        self._drop(gone)
        return gone

    def sweep(self, now: float | None = None) -> list[Contact]:
        gone = Location.sweep(self, now)
        self._drop(gone)
        return gone

    def _drop(self, gone: list[Contact]) -> None:
        for contact in gone:
            self.dirty.pop(contact.ruid, None)
            self.dropped.add(contact.ruid)

    def flush(self) -> None:
        """Write what changed since the last flush; on failure keep it for the next."""
        dropped, dirty = set(self.dropped), dict(self.dirty)
        if dropped:
            store.delete(self.name, dropped)
            self.dropped -= dropped
        for ruid, contact in dirty.items():
            store.upsert(self.name, contact, self.use_domain)
            if self.dirty.get(ruid) is contact:  # not changed again meanwhile
                del self.dirty[ruid]


class DbOnly(Location):
    """db_mode 3: the database is the store; `records` stays empty."""

    __slots__ = ("use_domain",)

    def __init__(self, name: str, use_domain: bool) -> None:
        super().__init__(name)
        self.use_domain = use_domain

    def _rows(self, aor: str) -> list[Contact]:
        return store.lookup(self.name, aor, self.use_domain)

    def lookup(self, aor: str, now: float | None = None) -> list[Contact]:
        now = time.time() if now is None else now
        return q_order([c for c in self._rows(aor) if c.alive(now)])

    def get(self, aor: str, key: tuple[str, ...]) -> Contact | None:
        return next((c for c in self._rows(aor) if c.key == key), None)

    def save(self, contact: Contact) -> Contact:
        old = self.get(contact.aor, contact.key) if not contact.ruid else None
        if old is not None:
            contact = contact.with_(ruid=old.ruid)
            store.update(self.name, contact, self.use_domain)
            return contact
        if not contact.ruid:
            contact = contact.with_(ruid=new_ruid())
        store.upsert(self.name, contact, self.use_domain)
        return contact

    def remove(self, aor: str, key: tuple[str, ...] | None = None) -> list[Contact]:
        found = [c for c in self._rows(aor) if key is None or c.key == key]
        if key is None:
            store.delete_aor(self.name, aor, self.use_domain)
        else:
            store.delete(self.name, (c.ruid for c in found))
        return found

    def delete_uri(self, aor: str, uri: str) -> int:
        found = [c for c in self._rows(aor) if c.contact == uri]
        return store.delete(self.name, (c.ruid for c in found))

    def sweep(self, now: float | None = None) -> list[Contact]:
        """Delete the expired rows; return those this process deleted."""
        now = time.time() if now is None else now
        return [c for c in store.expired(self.name, now, self.use_domain)
                if store.claim(self.name, c)]

    def aors(self) -> list[str]:
        return store.aors(self.name, time.time(), self.use_domain)

    def users(self) -> int:
        return len(self.aors())

    def contacts(self) -> int:
        return store.count(self.name, time.time())


MODES: dict[int, type[Location]] = {1: WriteThrough, 2: WriteBack, 3: DbOnly}


def make(name: str, db_mode: int, use_domain: bool) -> Location:
    """The table `name` for db_mode (0: memory only). Raises DatabaseError when a
    mode that loads the table (1, 2) cannot read it."""
    if db_mode == 0:
        return Location(name)
    return MODES[db_mode](name, use_domain)  # type: ignore[call-arg]
