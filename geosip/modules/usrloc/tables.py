"""usrloc's state: its parameters, the tables by name, the timer, and the expiry event.

A table (Kamailio's udomain) is made on first use, or at start for the tables to
preload ("location" and the `preload` parameter) in db modes 1-3; modes 1 and 2 load
its rows then (modes.py). The timer is a gevent greenlet (started by start(core), or
by the first table() when nothing called start, as in tests) that every
timer_interval seconds removes the expired bindings of every table, runs the
`usrloc:contact-expired` event callback once per binding removed (Kamailio's
event_route[usrloc:contact-expired]; $ulc(exp=>...) reads the binding, ulc.py), then
writes back what changed in db_mode 2. Expired bindings are also never returned by
lookups, so a binding is unusable from its expiry time on, whatever the timer's phase.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import gevent

from . import modes
from .location import Contact, Location
from .store import DatabaseError

if TYPE_CHECKING:
    from geosip.core.core import Core

log = logging.getLogger("geosip.usrloc")

EXPIRED_EVENT = "usrloc:contact-expired"
ULC_EXP = "ulc:exp"   # ctx.script.extra: (table name, Contact) while the event runs

# modparams (Kamailio's names and defaults); mod.init() updates them
SETTINGS: dict[str, Any] = {"db_mode": 0, "timer_interval": 60, "use_domain": 0,
                            "event_callback": "", "preload": ""}

TABLES: dict[str, Location] = {}
_timer: list[gevent.Greenlet] = []
_core: list["Core"] = []   # set by start(): runs the expiry event


def table(name: str) -> Location:
    """The table called `name` (Kamailio's udomain), made on first use. Raises
    DatabaseError when db_mode 1 or 2 cannot load it (it is tried again next time)."""
    found = TABLES.get(name)
    if found is None:
        found = modes.make(name, int(SETTINGS["db_mode"]), bool(SETTINGS["use_domain"]))
        TABLES[name] = found
    if not _timer:
        _timer.append(gevent.spawn(_sweep_forever))
    return found


def start(core: "Core") -> None:
    """Once the server and its database are up: keep the core for the expiry event,
    load the preloaded tables (db modes 1-3: a database that cannot be read is logged,
    and the table is loaded on first use), start the timer."""
    _core[:] = [core]
    if SETTINGS["db_mode"]:
        names = ["location", *(n.strip() for n in str(SETTINGS["preload"]).split(",")
                               if n.strip())]
        for name in dict.fromkeys(names):
            try:
                location = table(name)
            except DatabaseError as exc:
                log.error("usrloc: table %s not loaded at start: %s", name, exc)
                continue
            if SETTINGS["db_mode"] != 3:
                log.info("usrloc: %s loaded, %d bindings of %d AORs", name,
                         location.contacts(), location.users())
    if not _timer:
        _timer.append(gevent.spawn(_sweep_forever))


def sweep() -> list[Contact]:
    """Remove the expired bindings of every table now, run the expiry event for each
    (when start() gave a core and event_callback names a function), and return them.
    Call it from a greenlet of its own (the timer, a test), never from Lua."""
    gone: list[tuple[str, Contact]] = []
    for name, location in list(TABLES.items()):
        try:
            gone.extend((name, c) for c in location.sweep())
        except DatabaseError:
            continue  # logged by the store; the next sweep tries again
    for name, contact in gone:
        log.debug("usrloc: %s expired for %s", contact.contact, contact.aor)
        _expired_event(name, contact)
    return [c for _, c in gone]


def _expired_event(table_name: str, contact: Contact) -> None:
    fname = str(SETTINGS["event_callback"] or "")
    if not fname or not _core:
        return
    core = _core[0]
    ctx = core.local_context()
    ctx.script.extra[ULC_EXP] = (table_name, contact)
    core.run_event(fname, EXPIRED_EVENT, ctx)


def flush() -> None:
    """db_mode 2: write back what changed (also at shutdown)."""
    for location in list(TABLES.values()):
        if isinstance(location, modes.WriteBack):
            try:
                location.flush()
            except DatabaseError:
                pass  # logged by the store; kept for the next flush


def _sweep_forever() -> None:
    while True:
        gevent.sleep(float(SETTINGS["timer_interval"]))
        try:
            sweep()
            flush()
        except Exception:  # the timer must outlive a bug in one sweep
            log.exception("usrloc: timer run failed")


def reset() -> None:
    """Stop the timer and forget every binding (module destroy; tests)."""
    while _timer:
        _timer.pop().kill(block=False)
    _core.clear()
    TABLES.clear()


def _count(method: str) -> int:
    total = 0
    for location in list(TABLES.values()):
        try:
            total += getattr(location, method)()
        except DatabaseError:
            pass  # db_mode 3 with the database down: what can be counted
    return total


def registered_users() -> int:
    """usrloc:registered_users, computed when read (db_mode 3: from the database)."""
    return _count("users")


def location_contacts() -> int:
    """usrloc:location-contacts, computed when read."""
    return _count("contacts")


STATS = {"usrloc:registered_users": registered_users,
         "usrloc:location-contacts": location_contacts}
