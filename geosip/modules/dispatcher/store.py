"""dispatcher's state: its settings (the modparams), the destination sets in force,
the call load, and the core it runs in once started. One module-level STORE, reset by
mod.init()/destroy() (as usrloc's tables).

Loading: `load()` reads the list file, or the `dispatcher` table when db_url is set,
resolves the destinations (ds_is_from_list matches their addresses) and swaps the new
sets in whole; on any error the sets in force stay (raises ValueError). Reading and
resolving may block: call it from a greenlet (init, start, ds.reload, ds_reload).

Events: `announce(dest, event, probe)` runs the script's event_callback in a greenlet
of its own (KSR functions and the probe callback must not run Lua themselves).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent

from geosip.core.resolve import ResolveError, resolve
from geosip.sip import Request, SipUri

from .calls import CallLoad
from .destinations import (DISABLED, PROBING, DestSet, Destination, ListError, Row, build_sets,
                           parse_list)
from .state import PROBE_ALL, Thresholds, flags_text

log = logging.getLogger("geosip.dispatcher")

FAILOVER = 2    # the `flags` modparam bit that keeps the other candidates (xavp)
USER_ONLY = 1   # the `flags` bit: URI hashes over the user part only


@dataclass(frozen=True, slots=True)
class ReplyCodes:
    """ds_ping_reply_codes: "code=404;class=2"; 200 always counts (README §3.24)."""

    codes: frozenset[int] = frozenset({200})
    classes: frozenset[int] = frozenset()

    @classmethod
    def parse(cls, text: str) -> "ReplyCodes":
        codes, classes = {200}, set()
        for item in filter(None, (p.strip() for p in text.split(";"))):
            name, _, value = item.partition("=")
            try:
                number = int(value)
            except ValueError:
                raise ValueError(f"dispatcher.ds_ping_reply_codes: bad item {item!r}") from None
            if name.strip() == "code" and 100 <= number <= 699:
                codes.add(number)
            elif name.strip() == "class" and 1 <= number <= 6:
                classes.add(number)
            else:
                raise ValueError(f"dispatcher.ds_ping_reply_codes: bad item {item!r}")
        return cls(frozenset(codes), frozenset(classes))

    def accepts(self, status: int) -> bool:
        return status in self.codes or status // 100 in self.classes


@dataclass(frozen=True, slots=True)
class Settings:
    list_file: str = ""
    db_url: str = ""
    flags: int = 0
    use_default: bool = False
    force_dst: bool = True
    xavp_dst: str = "_dsdst_"
    xavp_ctx: str = "_dsctx_"
    hash_pvar: str = ""
    setid_pvname: str = ""
    attrs_pvname: str = ""
    ping_method: str = "OPTIONS"
    ping_from: str = "sip:dispatcher@localhost"
    ping_interval: float = 0.0
    thresholds: Thresholds = Thresholds()
    reply_codes: ReplyCodes = ReplyCodes()
    latency_stats: bool = False
    alpha: float = 0.9
    hash_expire: float = 7200
    hash_initexpire: float = 7200
    event_callback: str = ""
    outbound_proxy: str = ""
    reload_delta: float = 5.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def failover(self) -> bool:
        return bool(self.flags & FAILOVER)


class Store:
    def __init__(self) -> None:
        self.settings = Settings()
        self.sets: dict[int, DestSet] = {}
        self.core: Any = None          # the Core, from start()
        self.ping_active = True        # dispatcher.ping_active
        self.loads = CallLoad()
        self.load_source: Any = None   # api.set_load_source (the dialog module's counts)
        self.rng = random.Random()
        self.workers: list[gevent.Greenlet] = []
        self.last_reload = 0.0

    def find(self, setid: int, uri: str) -> Destination | None:
        dset = self.sets.get(setid)
        if dset is None:
            return None
        return next((d for d in dset.dests if d.uri == uri), None)

    def load_of(self, dest: Destination) -> int:
        source = self.load_source
        key = dest.attrs.duid or dest.uri
        return int(source.load(key)) if source is not None else self.loads.load(key)

    # ---- loading -----------------------------------------------------------------------

    def rows(self) -> list[Row]:
        """The configured destinations: the table when db_url is set, else the file."""
        settings = self.settings
        if settings.db_url:
            return _table_rows()
        if not settings.list_file:
            return []
        path = Path(settings.list_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ListError(f"dispatcher: cannot read {path}: {exc}") from None
        return parse_list(text, str(path))

    def load(self) -> int:
        """Read, resolve and swap in the sets; their number. Raises ValueError."""
        sets = build_sets(self.rows(), self.sets, resolver=addresses)
        if self.settings.thresholds.mode == PROBE_ALL:  # Kamailio probes them all: "AP"
            for dest in (d for s in sets.values() for d in s.dests):
                if not dest.flags & DISABLED:
                    dest.flags |= PROBING
        self.sets = sets
        self.last_reload = time.monotonic()
        log.info("dispatcher: %d set(s), %d destination(s)", len(sets),
                 sum(len(s.dests) for s in sets.values()))
        return len(sets)

    # ---- events ------------------------------------------------------------------------

    def announce(self, dest: Destination, event: str | None, probe: Request | None = None) -> None:
        """Log a state change and run event_callback(event) on the probe request (else
        Kamailio's faked one) with $du the destination, in a greenlet of its own."""
        if event is None:
            return
        log.info("dispatcher: %s %s (set %d) now %s", event, dest.uri, dest.setid,
                 flags_text(dest.flags))
        core, fname = self.core, self.settings.event_callback
        if core is None or not fname:
            return
        gevent.spawn(_run_event, core, fname, event, dest.uri, probe)


def _run_event(core: Any, fname: str, event: str, uri: str, probe: Request | None) -> None:
    try:
        ctx = core.local_context(probe)
        ctx.dst_uri = uri
        core.run_event(fname, event, ctx)
    except Exception:
        log.exception("dispatcher: event %s for %s failed", event, uri)


def addresses(uri: SipUri) -> list[tuple[str, str, int]]:
    """(proto, ip, port) a destination resolves to (A/AAAA, SRV: core.resolve)."""
    try:
        return [(e.proto, e.host, e.port) for e in resolve(uri)]
    except ResolveError as exc:
        raise ListError(str(exc)) from None


def _table_rows() -> list[Row]:
    from geosip.db import models  # peewee only when the table is used

    try:
        with models.database.connection_context():
            found = list(models.Dispatcher.select().order_by(models.Dispatcher.id).tuples())
    except Exception as exc:  # peewee's errors, or no database opened
        raise ListError(f"dispatcher: cannot read the dispatcher table: {exc}") from None
    return [Row(int(r[1]), str(r[2]), int(r[3] or 0), int(r[4] or 0), str(r[5] or ""),
                str(r[6] or "")) for r in found]


STORE = Store()


def reset(settings: Settings | None = None) -> None:
    """A fresh store (init/destroy): workers stopped, no sets, these settings."""
    for worker in STORE.workers:
        worker.kill(block=False)
    STORE.__init__()  # type: ignore[misc]
    if settings is not None:
        STORE.settings = settings
        STORE.loads = CallLoad(settings.hash_expire, settings.hash_initexpire)


__all__ = ["FAILOVER", "STORE", "USER_ONLY", "ReplyCodes", "Settings",
           "Store", "addresses", "reset"]
