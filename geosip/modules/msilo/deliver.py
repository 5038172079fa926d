"""Delivering stored messages: one greenlet per user at a time, one message at a time.

Contract.
- dump(owner, first_hop, extra) starts the user's delivery unless one runs already
  (a registration refresh while it runs adds nothing: it re-reads the table before
  each message, so it also takes messages stored meanwhile).
- Each message is sent as a new MESSAGE (compose.deliver) to the user's highest-q
  binding in usrloc that accepts MESSAGE (its Path or NAT `received` address as the
  next hop, as registrar's lookup does), else to `first_hop` (the contact of the
  REGISTER that called m_dump, when usrloc knows none). Its row is deleted only after
  a 2xx (RFC 3428 §4: a 2xx says the message was delivered or accepted for delivery);
  any other final (480, tm's local 408 or 503) stops the delivery with the row kept,
  so the order is kept too: message n+1 is sent only after message n got its 2xx.
  Kamailio sends them all at once and counts on arrival order.
- The timer, every check_time seconds, starts the delivery of every user with stored
  messages who has a binding (a failed delivery is tried again this way, and messages
  stored while geosip was down reach users whose registrations survived it), and
  every clean_period runs deletes expired rows. With send_time and reminder set, a
  second timer sends due reminders (Kamailio's m_send_ontimer); one that fails becomes
  an ordinary stored message (snd_time 0).
- Everything here runs in msilo's own greenlets (never inside Lua). A database that
  fails is logged; the rows stay and the next run tries again.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import gevent

from geosip.modules.registrar import api as registrar
from geosip.modules.usrloc import api as ul
from geosip.script.pvformat import expand

from . import compose, store
from .config import CORE, SETTINGS, inc
from .store import DB_ERRORS, Stored

if TYPE_CHECKING:
    from geosip.core.core import Core
    from geosip.sip import Response

log = logging.getLogger("geosip.msilo")

Owner = tuple[str, str]        # (username, domain) as the silo table keys them
Hop = tuple[str, str | None]   # (R-URI, next hop or None)

RUNNING: dict[Owner, gevent.Greenlet] = {}
_timers: list[gevent.Greenlet] = []


def bindings(owner: Owner) -> list[Hop]:
    """Where the user's messages can go now: usrloc's live bindings that accept
    MESSAGE, highest q first. [] when none (or usrloc's database fails)."""
    aor = registrar.aor_key(f"sip:{owner[0]}@{owner[1]}")
    if aor is None:
        return []
    try:
        found = ul.table(str(SETTINGS["location_table"])).lookup(aor)
    except ul.DatabaseError as exc:
        log.error("msilo: cannot look %s up: %s", aor, exc)
        return []
    return [(c.contact, c.path[0] if c.path else c.received) for c in found
            if c.methods is None or "MESSAGE" in c.methods]


def dump(owner: Owner, first_hop: Hop | None = None, extra: str = "") -> None:
    """Start delivering the user's stored messages (no-op while a delivery runs)."""
    running = RUNNING.get(owner)
    if running is not None and not running.dead:
        return
    RUNNING[owner] = gevent.spawn(_deliver_all, owner, first_hop, extra)


def _send(core: "Core", row: Stored, hop: Hop, extra: str, reminder: bool = False) -> int:
    """Send one message and wait for its final status (a local 408/503 included);
    0 when the request cannot even be built."""
    try:
        request = compose.deliver(row, hop[0], extra, reminder=reminder)
    except ValueError as exc:
        log.error("msilo: message %d for %s@%s cannot be sent: %s", row.id, row.username,
                  row.domain, exc)
        return 0
    response: Response = core.tm.send_local(request, hop[1]).result.get()
    return response.status


def _deliver_all(owner: Owner, first_hop: Hop | None, extra: str) -> None:
    try:
        _deliver(owner, first_hop, extra)
    except DB_ERRORS as exc:
        log.error("msilo: delivery to %s@%s stopped, database failed: %s", *owner, exc)
    finally:
        if RUNNING.get(owner) is gevent.getcurrent():
            del RUNNING[owner]


def _deliver(owner: Owner, first_hop: Hop | None, extra: str) -> None:
    if not CORE:
        return
    core = CORE[0]
    while True:
        rows = store.pending(*owner, int(time.time()))
        if not rows:
            return
        hops = bindings(owner) or ([first_hop] if first_hop else [])
        if not hops:
            log.info("msilo: %s@%s is not reachable now; %d messages kept", *owner,
                     len(rows))
            return
        row = rows[0]
        status = _send(core, row, hops[0], extra)
        if not 200 <= status < 300:
            inc("msilo:failed_messages")
            log.info("msilo: message %d to %s got %s; kept for a later try", row.id,
                     hops[0][0], status or "no request")
            return
        store.delete(row.id)
        inc("msilo:dumped_messages")
        log.info("msilo: message %d delivered to %s", row.id, hops[0][0])


def run_timer_once(tick: int) -> None:
    """One check_time run: expired rows (every clean_period runs), then deliveries to
    users who have stored messages and a binding."""
    now = int(time.time())
    try:
        if tick % int(SETTINGS["clean_period"]) == 0:
            gone = store.delete_expired(now)
            if gone:
                log.info("msilo: %d expired messages removed", gone)
        for owner in store.owners(now):
            if owner not in RUNNING and bindings(owner):
                dump(owner, None, _extra_outside_requests())
    except DB_ERRORS as exc:
        log.error("msilo: timer run failed, database: %s", exc)


def send_reminders() -> None:
    """Due reminders to their users' bindings, from the `reminder` address."""
    if not CORE or not SETTINGS["reminder"]:
        return
    core = CORE[0]
    try:
        for row in store.reminders_due(int(time.time())):
            hops = bindings(row.owner)
            if hops and 200 <= _send(core, row, hops[0], "", reminder=True) < 300:
                store.delete(row.id)
                inc("msilo:dumped_reminders")
            else:
                store.reset_snd_time(row.id)
                inc("msilo:failed_reminders")
    except DB_ERRORS as exc:
        log.error("msilo: reminder run failed, database: %s", exc)


def _extra_outside_requests() -> str:
    """extra_hdrs expanded on Kamailio's faked request (no REGISTER to read PVs from)."""
    text = str(SETTINGS["extra_hdrs"] or "")
    if not text or not CORE:
        return text
    return expand(text, CORE[0].local_context())


def _every(seconds: float, job: "object") -> None:
    tick = 0
    while True:
        gevent.sleep(seconds)
        tick += 1
        try:
            job(tick)  # type: ignore[operator]
        except Exception:  # the timer must outlive a bug in one run
            log.exception("msilo: timer run failed")


def start() -> None:
    _timers.append(gevent.spawn(_every, float(SETTINGS["check_time"]), run_timer_once))
    if int(SETTINGS["send_time"]) > 0 and SETTINGS["reminder"]:
        _timers.append(gevent.spawn(_every, float(SETTINGS["send_time"]),
                                    lambda tick: send_reminders()))


def stop() -> None:
    """Stop the timers and the deliveries (rows not yet acknowledged stay stored)."""
    for greenlet in [*_timers, *RUNNING.values()]:
        greenlet.kill(block=False)
    _timers.clear()
    RUNNING.clear()
