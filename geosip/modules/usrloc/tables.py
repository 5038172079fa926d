"""usrloc's state: its parameters, the tables by name, and the expiry timer.

The timer is a gevent greenlet started lazily (by the first `table()` call after
init, so a script that never registers anything runs none) that sweeps every table
every timer_interval seconds. Expired bindings are also never returned by lookups,
so a binding is unusable from its expiry time on, whatever the timer's phase.
"""

from __future__ import annotations

import logging
from typing import Any

import gevent

from .location import Contact, Location

log = logging.getLogger("geosip.usrloc")

# modparams (Kamailio's names and defaults); mod.init() updates them
SETTINGS: dict[str, Any] = {"db_mode": 0, "timer_interval": 60, "use_domain": 0}

TABLES: dict[str, Location] = {}
_timer: list[gevent.Greenlet] = []


def table(name: str) -> Location:
    """The table called `name` (Kamailio's udomain), created on first use."""
    found = TABLES.get(name)
    if found is None:
        found = TABLES[name] = Location(name)
    if not _timer:
        _timer.append(gevent.spawn(_sweep_forever))
    return found


def sweep() -> list[Contact]:
    """Remove the expired bindings of every table now; return them."""
    gone: list[Contact] = []
    for location in list(TABLES.values()):
        gone.extend(location.sweep())
    for contact in gone:
        log.debug("usrloc: %s expired for %s", contact.contact, contact.aor)
    return gone


def _sweep_forever() -> None:
    while True:
        gevent.sleep(float(SETTINGS["timer_interval"]))
        try:
            sweep()
        except Exception:  # the timer must outlive a bug in one sweep
            log.exception("usrloc: expiry sweep failed")


def reset() -> None:
    """Stop the timer and forget every binding (module destroy; tests)."""
    while _timer:
        _timer.pop().kill(block=False)
    TABLES.clear()


def registered_users() -> int:
    """usrloc:registered_users, computed when read."""
    return sum(t.users() for t in TABLES.values())


def location_contacts() -> int:
    """usrloc:location-contacts, computed when read."""
    return sum(t.contacts() for t in TABLES.values())


STATS = {"usrloc:registered_users": registered_users,
         "usrloc:location-contacts": location_contacts}
