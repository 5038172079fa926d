"""htable's state: the tables (set by init), the expiry timer (started by start(core))
and persistence to a table shaped like Kamailio's `htable`.

The timer runs every timer_interval seconds; for each item past its expiry it runs
the event callback `event_callback("htable:expired:<table>")` on a local context
whose $shtrecord(key)/$shtrecord(value) name the item (Kamailio's event_route of the
same name), one item after another, from the timer's greenlet (never inside Lua).
"""

from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING, Any

import gevent
import peewee as pw

from geosip.db import models

from .table import Definition, HTable, parse_definitions

if TYPE_CHECKING:
    from geosip.core.core import Core

log = logging.getLogger("geosip.htable")

RECORD = "htable_record"   # ctx.script.extra[RECORD] = (key, value) while an expiry event runs
STRING, INTEGER = 0, 1     # Kamailio's value_type column

SETTINGS: dict[str, Any] = {"timer_interval": 20, "event_callback": "", "db_expires": 0}
TABLES: dict[str, HTable] = {}
_timer: list[gevent.Greenlet] = []
_core: list["Core"] = []
_loaded: set[str] = set()    # tables whose dbtable was read (start, htable.reload)


def configure(htable: Any, settings: dict[str, Any]) -> None:
    """Define the tables (ValueError for a malformed definition)."""
    definitions = parse_definitions(htable)
    reset()
    SETTINGS.update(settings)
    for name, definition in definitions.items():
        TABLES[name] = HTable(definition)


def table(name: str) -> HTable:
    """The table `name`; LookupError for one the configuration does not define."""
    found = TABLES.get(name)
    if found is None:
        raise LookupError(f"htable {name!r} is not defined (modparam htable)")
    return found


def start(core: "Core") -> None:
    """Load the tables with a dbtable, then run the expiry timer when any expires."""
    _core[:] = [core]
    for ht in TABLES.values():
        if ht.definition.dbtable:
            load(ht)
    if any(ht.definition.autoexpire for ht in TABLES.values()) and not _timer:
        _timer.append(gevent.spawn(_expire_forever))


def stop() -> None:
    """Write dbmode=1 tables back (those loaded at start: one never loaded must not
    wipe its rows), stop the timer, forget everything."""
    for ht in TABLES.values():
        if ht.definition.dbtable and ht.definition.dbmode == 1 and ht.name in _loaded:
            save(ht)
    reset()


def reset() -> None:
    while _timer:
        _timer.pop().kill(block=False)
    TABLES.clear()
    _core.clear()
    _loaded.clear()


# -- expiry ------------------------------------------------------------------------------

def expire(now: float | None = None) -> int:
    """Remove expired items now, raising the event for each; returns how many."""
    count = 0
    for ht in list(TABLES.values()):
        for key, value in ht.expired(now):
            count += 1
            _event(ht.name, key, value)
    return count


def _event(table_name: str, key: str, value: Any) -> None:
    callback = SETTINGS.get("event_callback") or ""
    if not callback or not _core:
        return
    core = _core[0]
    ctx = core.local_context()
    ctx.script.extra[RECORD] = (key, value)
    core.run_event(callback, f"htable:expired:{table_name}", ctx)


def _expire_forever() -> None:
    while True:
        gevent.sleep(float(SETTINGS["timer_interval"]))
        try:
            expire()
        except Exception:  # the timer must outlive a bug in one sweep
            log.exception("htable: expiry sweep failed")


# -- persistence (Kamailio's htable table: key_name, key_type, value_type, key_value,
#    expires) -------------------------------------------------------------------------

@functools.lru_cache(maxsize=16)
def model(dbtable: str) -> type[models.Htable]:
    if dbtable == models.Htable._meta.table_name:
        return models.Htable
    meta = type("Meta", (), {"table_name": dbtable})
    return type(f"Htable_{dbtable}", (models.Htable,), {"Meta": meta})


def load(ht: HTable) -> int:
    """Replace the items of `ht` with the rows of its dbtable; returns how many (an
    unreadable table is logged and leaves the items as they were: -1)."""
    rows_model = model(ht.definition.dbtable)
    try:
        with models.database.connection_context():
            rows = list(rows_model.select().tuples().iterator())
    except (pw.PeeweeException, AttributeError) as exc:  # AttributeError: no database
        log.error("htable %s: cannot load %s: %s", ht.name, ht.definition.dbtable, exc)
        return -1
    ht.reset()
    _loaded.add(ht.name)
    now = time.time()
    keep_expires = SETTINGS.get("db_expires")
    for _id, key, _key_type, value_type, text, expires in rows:
        value: str | int = text
        if value_type == INTEGER:
            try:
                value = int(text)
            except ValueError:
                log.warning("htable %s: %s is not an integer: %r", ht.name, key, text)
        if keep_expires and expires:
            if expires <= now:
                continue
            ht.set(key, value, float(expires))
        else:
            ht.set(key, value)
    log.info("htable %s: %d items loaded from %s", ht.name, len(rows), ht.definition.dbtable)
    return len(ht.items)


def save(ht: HTable) -> bool:
    """Write the live items of `ht` to its dbtable in place of its rows (Kamailio's
    ht_db_sync_tables). One transaction with no network I/O: safe on SQLite."""
    rows_model = model(ht.definition.dbtable)
    keep_expires = SETTINGS.get("db_expires")
    rows = [{"key_name": key, "key_type": 0,
             "value_type": INTEGER if isinstance(item.value, int) else STRING,
             "key_value": str(item.value),
             "expires": int(item.expires) if keep_expires and item.expires else 0}
            for key, item in ht.live()]
    try:
        with models.database.connection_context(), models.database.atomic():
            rows_model.delete().execute()
            for start in range(0, len(rows), 200):
                rows_model.insert_many(rows[start:start + 200]).execute()
    except (pw.PeeweeException, AttributeError) as exc:
        log.error("htable %s: cannot write %s: %s", ht.name, ht.definition.dbtable, exc)
        return False
    return True


__all__ = ["Definition", "RECORD", "SETTINGS", "TABLES", "configure", "expire", "load",
           "reset", "save", "start", "stop", "table"]
