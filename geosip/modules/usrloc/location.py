"""The user location store in memory (Kamailio's usrloc, db_mode 0; modes 1 and 2
keep it too, see modes.py).

Contract: a `Location` is one table ("location"): AOR key -> bindings (`Contact`,
frozen). Each binding is keyed within its AOR by its +sip.instance and reg-id when it
has an instance (RFC 5626 §6: one binding per instance and flow), else by its contact
URI as received (Kamailio's matching_mode 0). Expired bindings are never returned and
are removed by `sweep(now)`, which the module's timer greenlet calls every
timer_interval seconds. Times are absolute (seconds since the epoch), as Kamailio
stores them. Nothing here sends or waits.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, replace

# Kamailio's ul flags on a binding (FL_MEM: never written to a database).
FL_MEM = 1

# ruids as Kamailio's sruid makes them ("uloc-<start>-<pid>-<n>"): unique per process
# run, cheap (a counter), and what db_ops_ruid updates and deletes rows by.
_RUID_PREFIX = f"uloc-{int(time.time()):x}-{os.getpid():x}-"
_ruids = itertools.count(1)


def new_ruid() -> str:
    return f"{_RUID_PREFIX}{next(_ruids):x}"


@dataclass(frozen=True, slots=True)
class Contact:
    """One binding of an AOR (a row of Kamailio's location table)."""

    aor: str
    contact: str                   # the Contact URI as received
    expires: float                 # absolute time; 0 = permanent (ul.add)
    q: float = -1.0                # 0..1, -1 unspecified
    callid: str = ""
    cseq: int = 0
    received: str | None = None    # sip:ip:port;transport=x when behind NAT
    path: tuple[str, ...] = ()     # Path header values (RFC 3327), in order
    user_agent: str = ""
    socket: str = ""               # proto:host:port the REGISTER came in on
    instance: str | None = None    # +sip.instance (RFC 5626)
    reg_id: int = 0                # reg-id (RFC 5626)
    flags: int = 0
    last_modified: float = 0.0
    methods: frozenset[str] | None = None   # None: every method
    ruid: str = ""                 # record unique id, set when first stored

    @property
    def key(self) -> tuple[str, ...]:
        if self.instance is not None:
            return ("instance", self.instance, str(self.reg_id))
        return ("uri", self.contact)

    def remaining(self, now: float) -> int:
        """Seconds left (what the 200 to a REGISTER lists); permanent: 0."""
        return 0 if self.expires == 0 else max(0, int(self.expires - now + 0.5))

    def alive(self, now: float) -> bool:
        return self.expires == 0 or self.expires > now

    def with_(self, **changes: object) -> "Contact":
        return replace(self, **changes)  # type: ignore[arg-type]


def q_order(contacts: list[Contact]) -> list[Contact]:
    """Highest q first, unspecified (-1) last; equal q: the most recently modified
    first (usrloc's order)."""
    return sorted(contacts, key=lambda c: (-c.q, -c.last_modified))


class Location:
    """One usrloc table (Kamailio's udomain)."""

    __slots__ = ("name", "records")

    def __init__(self, name: str) -> None:
        self.name = name
        self.records: dict[str, dict[tuple[str, ...], Contact]] = {}

    def lookup(self, aor: str, now: float | None = None) -> list[Contact]:
        """The AOR's live bindings, highest q first ([] when none)."""
        now = time.time() if now is None else now
        return q_order([c for c in self.records.get(aor, {}).values() if c.alive(now)])

    def get(self, aor: str, key: tuple[str, ...]) -> Contact | None:
        return self.records.get(aor, {}).get(key)

    def save(self, contact: Contact) -> Contact:
        """Insert or replace the binding with contact's key; returns it as stored (a
        replaced binding keeps its ruid, a new one gets one)."""
        record = self.records.setdefault(contact.aor, {})
        if not contact.ruid:
            old = record.get(contact.key)
            contact = replace(contact, ruid=old.ruid if old is not None else new_ruid())
        record[contact.key] = contact
        return contact

    def remove(self, aor: str, key: tuple[str, ...] | None = None) -> list[Contact]:
        """Remove one binding (key) or the whole AOR (None); return what went."""
        record = self.records.get(aor)
        if record is None:
            return []
        if key is None:
            del self.records[aor]
            return list(record.values())
        gone = record.pop(key, None)
        if not record:
            del self.records[aor]
        return [] if gone is None else [gone]

    def delete(self, aor: str, key: tuple[str, ...] | None = None) -> int:
        """remove(), counted."""
        return len(self.remove(aor, key))

    def delete_uri(self, aor: str, uri: str) -> int:
        """Remove the bindings of `aor` whose contact URI is `uri`."""
        keys = [k for k, c in self.records.get(aor, {}).items() if c.contact == uri]
        return sum(self.delete(aor, k) for k in keys)

    def sweep(self, now: float | None = None) -> list[Contact]:
        """Remove expired bindings; return them."""
        now = time.time() if now is None else now
        gone: list[Contact] = []
        for aor in list(self.records):
            record = self.records[aor]
            for key in [k for k, c in record.items() if not c.alive(now)]:
                gone.append(record.pop(key))
            if not record:
                del self.records[aor]
        return gone

    def aors(self) -> list[str]:
        return list(self.records)

    def users(self) -> int:
        return len(self.records)

    def contacts(self) -> int:
        return sum(len(r) for r in self.records.values())
