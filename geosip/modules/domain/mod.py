"""domain's exports (STYLE.md item 4): KSR.domain (functions.py) over the cached
domain/domain_attrs tables (cache.py), the domain.reload/domain.dump RPC commands, and
start/destroy. Load it in geosip.modules; add domains with `geosipctl domain add`, then
`geosipctl domain.reload` (or restart)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import gevent

from geosip.script.exports import ModuleExports
from geosip.script.exports import rpc as command

from . import cache, functions, rpc

if TYPE_CHECKING:
    from geosip.core.core import Core

log = logging.getLogger("geosip.domain")

RETRY = 5.0   # seconds between attempts to load the tables while the database is down
_loader: list[gevent.Greenlet] = []


def _load_until_done() -> None:
    while True:
        try:
            log.info("domain: %d local domains loaded", cache.load())
            return
        except cache.DatabaseError:
            gevent.sleep(RETRY)


def start(core: "Core") -> None:
    """Load the tables once the database is open; while it cannot be read, no domain
    is local and a greenlet tries again every RETRY seconds."""
    _loader.append(gevent.spawn(_load_until_done))


def destroy() -> None:
    while _loader:
        _loader.pop().kill(block=False)
    cache.reset()


EXPORTS = ModuleExports(
    name="domain",
    ksr=functions.FUNCTIONS,
    rpc=(command("domain.reload", context=False)(rpc.domain_reload),
         command("domain.dump", context=False)(rpc.domain_dump)),
    start=start,
    destroy=destroy,
    doc="Local domains (the domain and domain_attrs tables, cached; domain.reload).",
)
