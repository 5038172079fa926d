"""KSR.dispatcher: marking destinations, membership tests, call load and reload
(Kamailio's dispatcher README §4.9-4.15).

ds_mark_dst acts on the candidate in use (the request's first $xavp(_dsdst_) item);
a change that makes it (un)selectable runs dispatcher:dst-down/up through
event_callback in a greenlet of its own. ds_is_from_list compares the request's
source (or a URI's address) with the addresses the destinations resolved to at load.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from geosip.core.resolve import ResolveError, resolve
from geosip.script import pv as pvs
from geosip.script.exports import ksr
from geosip.sip import ParseError, SipUri, parse_uri

from .destinations import Destination
from .select import _field, candidates
from .state import PROBE_ALL, mark, parse_state
from .store import STORE

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

log = logging.getLogger("geosip.dispatcher")

# ds_is_from_list's mode bits (README §4.11)
IGNORE_PORT = 1
IGNORE_PROTO = 2
ACTIVE_ONLY = 4


def mark_current(ctx: "RequestContext", state: int) -> int:
    settings = STORE.settings
    if not settings.failover:
        log.warning("dispatcher: ds_mark_dst needs failover (flags bit 2)")
        return -1
    items = candidates(ctx)
    if not items:
        return -1
    dest = STORE.find(_field(items[0], "grp"), _field(items[0], "uri"))
    if dest is None:
        return -1
    STORE.announce(dest, mark(dest, state, settings.thresholds))
    return 1


@ksr("ds_mark_dst", returns="1 marked, -1 no destination in use (or failover is off)")
def ds_mark_dst(ctx: "RequestContext", state: str | None = None) -> int:
    """Mark the destination in use inactive (and probing when ds_probing_mode is 1);
    geosip also takes Kamailio's cfg-script form ds_mark_dst(state): see
    ds_mark_dst_state."""
    if state is not None:
        return ds_mark_dst_state.fn(ctx, state)
    flags = parse_state("ip" if STORE.settings.thresholds.mode == PROBE_ALL else "i")
    assert flags is not None
    return mark_current(ctx, flags)


@ksr("ds_mark_dst_state", "s", returns="1 marked, -1 bad state or no destination in use")
def ds_mark_dst_state(ctx: "RequestContext", state: str) -> int:
    """state: "a" active, "i" inactive, "t" trying (a failure toward
    ds_probing_threshold), "d" disabled; "p" after a/i/t adds probing ("ip")."""
    flags = parse_state(state)
    if flags is None:
        log.error("dispatcher: bad state %r", state)
        return -1
    return mark_current(ctx, flags)


# ---- membership -----------------------------------------------------------------------

def _matches(dest: Destination, proto: str, host: str, port: int, mode: int) -> bool:
    if mode & ACTIVE_ONLY and not dest.usable:
        return False
    for d_proto, d_host, d_port in dest.addresses:
        if d_host == host and (mode & IGNORE_PORT or d_port == port) and \
                (mode & IGNORE_PROTO or d_proto == proto):
            return True
    return False


def from_list(ctx: "RequestContext", group: int, mode: int,
              where: tuple[str, str, int]) -> int:
    proto, host, port = where
    sets = STORE.sets.values() if group == -1 else \
        [s for s in (STORE.sets.get(group),) if s is not None]
    settings = STORE.settings
    for dset in sets:
        for dest in dset.dests:
            if _matches(dest, proto, host, port, mode):
                if settings.setid_pvname:
                    pvs.parse(settings.setid_pvname).set(ctx, dest.setid)
                if settings.attrs_pvname:
                    pvs.parse(settings.attrs_pvname).set(ctx, dest.attrs.body)
                return 1
    return -1


def _source(ctx: "RequestContext") -> tuple[str, str, int]:
    source = ctx.inbound.source
    return source.proto, source.host, source.port


_FROM_RET = "1 it matches a destination (setid_pvname/attrs_pvname are set), -1 not"


@ksr("ds_is_from_lists", returns=_FROM_RET)
def ds_is_from_lists(ctx: "RequestContext") -> int:
    """Whether the request comes from (IP and port of) a destination of any set."""
    return from_list(ctx, -1, IGNORE_PROTO, _source(ctx))


@ksr("ds_is_from_list", returns=_FROM_RET)
def ds_is_from_list(ctx: "RequestContext", group: int = -1, mode: int | None = None) -> int:
    """ds_is_from_list([group [, mode]]): from a destination of set `group` (-1 or
    none: any set)? mode bits: 1 ignore the port, 2 ignore the protocol, 4 only
    active destinations; without mode IP and port are compared (Kamailio's
    backward-compatible match)."""
    return from_list(ctx, int(group), IGNORE_PROTO if mode is None else int(mode),
                     _source(ctx))


@ksr("ds_is_from_list_mode", "ii", returns=_FROM_RET)
def ds_is_from_list_mode(ctx: "RequestContext", group: int, mode: int) -> int:
    """ds_is_from_list(group, mode)."""
    return from_list(ctx, int(group), int(mode), _source(ctx))


@ksr("ds_is_from_list_uri", "iis", blocking=True, returns=_FROM_RET + " (or a bad URI)")
def ds_is_from_list_uri(ctx: "RequestContext", group: int, mode: int, uri: str) -> int:
    """As ds_is_from_list_mode for the address of `uri` instead of the source (a host
    name is looked up in DNS: this call may wait)."""
    try:
        parsed = parse_uri(uri)
    except ParseError:
        return -1
    if not isinstance(parsed, SipUri):
        return -1
    try:
        endpoints = resolve(parsed)
    except ResolveError:
        return -1
    for endpoint in endpoints:
        if from_list(ctx, int(group), int(mode),
                     (endpoint.proto, endpoint.host, endpoint.port)) > 0:
            return 1
    return -1


@ksr("ds_list_exists", "i", returns="1 the set exists, -1 not")
def ds_list_exists(ctx: "RequestContext", group: int) -> int:
    """Whether set `group` is loaded (alias ds_list_exist)."""
    return 1 if int(group) in STORE.sets else -1


ds_list_exist = ksr("ds_list_exist", "i", returns="as ds_list_exists")(ds_list_exists.fn)


@ksr("ds_is_active", "i", returns="1 the set has a selectable destination, -1 not")
def ds_is_active(ctx: "RequestContext", group: int) -> int:
    """Whether set `group` has a destination neither inactive nor disabled."""
    dset = STORE.sets.get(int(group))
    return 1 if dset is not None and any(d.usable for d in dset.dests) else -1


@ksr("ds_is_active_uri", "is", returns="1 that destination is selectable, -1 not")
def ds_is_active_uri(ctx: "RequestContext", group: int, uri: str) -> int:
    """Whether destination `uri` of set `group` is neither inactive nor disabled."""
    dest = STORE.find(int(group), uri)
    return 1 if dest is not None and dest.usable else -1


# ---- call load (alg 10) ----------------------------------------------------------------

@ksr("ds_load_update", returns="1 updated, -1 the call is not counted")
def ds_load_update(ctx: "RequestContext") -> int:
    """BYE or CANCEL: the call no longer counts; a 2xx reply to the INVITE (in a reply
    route): the call is confirmed (it then expires after ds_hash_expire, not
    ds_hash_initexpire)."""
    callid = ctx.msg.call_id.strip()
    reply = ctx.script.reply
    if reply is not None:
        if ctx.msg.method == "INVITE" and 200 <= reply.status < 300:
            return 1 if STORE.loads.confirm(callid) else -1
        return -1
    if ctx.msg.method in ("BYE", "CANCEL"):
        return 1 if STORE.loads.remove(callid) else -1
    return -1


@ksr("ds_load_unset", returns="1 removed, -1 the call is not counted")
def ds_load_unset(ctx: "RequestContext") -> int:
    """The call no longer counts (its INVITE failed)."""
    return 1 if STORE.loads.remove(ctx.msg.call_id.strip()) else -1


@ksr("ds_reload", blocking=True, returns="1 reloaded, -1 the list could not be read "
                                          "(the sets in force stay)")
def ds_reload(ctx: "RequestContext") -> int:
    """Read the list file (or the table) again; destinations that stay keep their
    state, calls in progress keep their candidates."""
    try:
        STORE.load()
    except ValueError as exc:
        log.error("dispatcher: reload failed: %s", exc)
        return -1
    return 1


FUNCTIONS = (ds_mark_dst, ds_mark_dst_state, ds_is_from_lists, ds_is_from_list,
             ds_is_from_list_mode, ds_is_from_list_uri, ds_list_exists, ds_list_exist,
             ds_is_active, ds_is_active_uri, ds_load_update, ds_load_unset, ds_reload)
