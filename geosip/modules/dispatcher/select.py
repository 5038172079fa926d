"""KSR.dispatcher: choosing destinations (Kamailio's dispatcher README §4.1-4.8).

Where the choice goes (`mode`): "dst" sets $du (ds_select_dst, ds_next_dst), "ruri"
rewrites the R-URI's host and port (ds_select_domain, ds_next_domain), "xavp" only
records it (ds_select). A destination's `socket` attribute becomes the send socket.

The candidates travel with the request, in its $xavp (Kamailio's xavp_dst, default
`_dsdst_`): item 0 is the destination in use, then the failover candidates in order,
each with fields grp, uri, attrs, sock and (alg 10) dstid; `_dsctx_=>cnt` is how many
were selected. They are kept only with the failover bit (2) of the `flags` modparam,
as in Kamailio; without it ds_next_dst and ds_mark_dst have nothing to work on and
return -1. A failure route sees the same context, so a reload of the sets between
the first attempt and the failover changes nothing for a call in progress.

None of these functions blocks: they run with Lua on the stack.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from geosip.script import pv as pvs
from geosip.script.exports import ksr
from geosip.script.pvformat import expand
from geosip.sip import ParseError, SipUri, parse_uri

from .algorithms import choose, ds_hash
from .destinations import Destination
from .store import STORE, USER_ONLY

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

log = logging.getLogger("geosip.dispatcher")

DST, RURI, XAVP = "dst", "ruri", "xavp"


# ---- the hash keys ---------------------------------------------------------------------

def _uri_keys(uri: Any, user_only: bool) -> tuple[str | None, str | None]:
    """Kamailio's get_uri_hash_keys: the user, and host[:port] (a port other than
    5060/5061 only), or the user alone with flags bit 1."""
    if not isinstance(uri, SipUri):
        return (str(uri), None)
    if user_only:
        return (uri.user or "", None)
    host = uri.host if uri.port in (None, 5060, 5061) else f"{uri.host}:{uri.port}"
    return (uri.user or "", host)


def hash_key(ctx: "RequestContext", alg: int) -> tuple[int | None, bool]:
    """(hash, usable) for a hash algorithm: (None, True) means "no key, use round
    robin" (alg 5 without credentials); (None, False) a key that cannot be had."""
    msg = ctx.msg
    user_only = bool(STORE.settings.flags & USER_ONLY)
    try:
        if alg == 0:
            return ds_hash(msg.call_id.strip()), True
        if alg == 1:
            return ds_hash(*_uri_keys(msg.from_.uri, user_only)), True
        if alg == 2:
            return ds_hash(*_uri_keys(msg.to.uri, user_only)), True
        if alg == 3:
            return ds_hash(*_uri_keys(msg.uri, user_only)), True
        if alg == 5:
            user = pvs.parse("$au").get(ctx)
            return (ds_hash(str(user)) if user else None), True
        if alg == 7:
            fmt = STORE.settings.hash_pvar
            if not fmt:
                log.error("dispatcher: algorithm 7 needs the ds_hash_pvar parameter")
                return None, False
            return ds_hash(expand(fmt, ctx)), True
    except ParseError as exc:
        log.info("dispatcher: no hash key for algorithm %d: %s", alg, exc.reason)
        return None, False
    return None, True


# ---- the candidates in the request's context ----------------------------------------------

def _item(dest: Destination, alg: int) -> dict[str, list[object]]:
    item: dict[str, list[object]] = {"grp": [dest.setid], "uri": [dest.uri],
                                     "attrs": [dest.attrs.body]}
    if dest.attrs.socket:
        item["sock"] = [dest.attrs.socket]
    if alg == 10:
        item["dstid"] = [dest.attrs.duid or dest.uri]
    return item


def _field(item: Any, name: str) -> Any:
    values = item.get(name) if isinstance(item, dict) else None
    return values[0] if values else None


def candidates(ctx: "RequestContext") -> list[dict[str, list[object]]]:
    """The request's remaining candidates (item 0: the one in use)."""
    return ctx.script.xavps.get(STORE.settings.xavp_dst, [])  # type: ignore[return-value]


def _apply(ctx: "RequestContext", uri: str, sock: str | None, mode: str) -> bool:
    if mode == DST:
        ctx.dst_uri = uri
    elif mode == RURI:
        current = ctx.msg.uri
        target = parse_uri(uri)
        if not isinstance(current, SipUri) or not isinstance(target, SipUri):
            return False
        ctx.msg.uri = parse_uri(str(current.replace(host=target.host, port=target.port)))
    if sock and mode != XAVP and not pvs.set_send_socket(ctx, sock):
        log.warning("dispatcher: %s: no socket of ours matches %s", uri, sock)
    return True


def _limited(order: list[Destination], limit: int, use_default: bool) -> list[Destination]:
    """At most `limit` (>0), keeping the selected one and the default (README §4.1)."""
    if limit <= 0 or len(order) <= limit:
        return order
    if use_default and limit >= 2:
        return [*order[:limit - 1], order[-1]]
    return order[:limit]


def _store(ctx: "RequestContext", order: list[Destination], alg: int) -> None:
    settings = STORE.settings
    xavps = ctx.script.xavps
    if settings.failover:
        xavps[settings.xavp_dst] = [_item(d, alg) for d in order]  # type: ignore[assignment,misc]
        xavps[settings.xavp_ctx] = [{"cnt": [len(order)], "alg": [alg]}]  # type: ignore[list-item]
    else:
        xavps.pop(settings.xavp_dst, None)


def _count_call(ctx: "RequestContext", dest: Destination) -> None:
    if STORE.load_source is None:
        STORE.loads.add(ctx.msg.call_id.strip(), dest.setid, dest.attrs.duid or dest.uri)


def select(ctx: "RequestContext", setid: int, alg: int, limit: int, mode: str) -> int:
    """ds_select*: 1 chosen, -1 no such set, no usable destination, or no key."""
    settings = STORE.settings
    if mode == DST and ctx.dst_uri and not settings.force_dst:
        log.error("dispatcher: $du is set already and force_dst is 0")
        return -1
    dset = STORE.sets.get(int(setid))
    if dset is None:
        log.error("dispatcher: destination set %s not found", setid)
        return -1
    alg = int(alg)
    if alg == 10 and ctx.msg.method != "INVITE":
        log.error("dispatcher: call load distribution (10) is for INVITE only")
        return -1
    key, ok = hash_key(ctx, alg)
    if not ok:
        return -1
    order = choose(dset, alg, key, use_default=settings.use_default, rng=STORE.rng,
                   load=STORE.load_of, use_latency=settings.latency_stats)
    if not order:
        return -1
    order = _limited(order, int(limit), settings.use_default)
    first = order[0]
    if not _apply(ctx, first.uri, first.attrs.socket or None, mode):
        return -1
    if alg == 10:
        _count_call(ctx, first)
    _store(ctx, order, alg)
    return 1


def advance(ctx: "RequestContext", mode: str, use_next: bool = True) -> int:
    """ds_next_*: drop the candidate in use and take the next that is still usable
    (one marked down meanwhile is skipped; one a reload removed is still tried);
    ds_set_* (use_next False): apply the one in use again. -1 when none is left."""
    settings = STORE.settings
    items = candidates(ctx)
    if use_next and items:
        del items[0]
        while items:
            dest = STORE.find(_field(items[0], "grp"), _field(items[0], "uri"))
            if dest is None or dest.usable:
                break
            del items[0]
    if not items:
        ctx.script.xavps.pop(settings.xavp_dst, None)
        return -1
    uri, sock = _field(items[0], "uri"), _field(items[0], "sock")
    if not isinstance(uri, str) or not _apply(ctx, uri, sock, mode):
        return -1
    duid = _field(items[0], "dstid")
    if use_next and duid is not None and STORE.load_source is None:
        STORE.loads.add(ctx.msg.call_id.strip(), int(_field(items[0], "grp")), str(duid))
    return 1


_ROUTE_MODES = {"0": DST, "d": DST, "1": RURI, "r": RURI, "2": XAVP, "x": XAVP}


def select_routes(ctx: "RequestContext", rules: str, mode: str, limit: int) -> int:
    """ds_select_routes("1=4;2=0", "ruri"|"dst"|"xavp", limit): the candidates of
    each group in turn, each chosen by its algorithm; -1 when none."""
    where = _ROUTE_MODES.get(expand(mode, ctx)[:1].lower())
    if where is None:
        log.error("dispatcher: ds_select_routes: bad mode %r", mode)
        return -1
    settings = STORE.settings
    order: list[Destination] = []
    first_alg = 0
    for rule in filter(None, expand(rules, ctx).split(";")):
        group, _, alg_text = rule.partition("=")
        try:
            setid, alg = int(group), int(alg_text)
        except ValueError:
            log.error("dispatcher: ds_select_routes: bad rule %r", rule)
            return -1
        dset = STORE.sets.get(setid)
        if dset is None or (alg == 10 and ctx.msg.method != "INVITE"):
            continue
        key, ok = hash_key(ctx, alg)
        if not ok:
            continue
        found = choose(dset, alg, key, use_default=settings.use_default, rng=STORE.rng,
                       load=STORE.load_of, use_latency=settings.latency_stats)
        if found and not order:
            first_alg = alg
        order += found
    if not order:
        return -1
    if limit > 0:
        order = order[:limit]
    first = order[0]
    if not _apply(ctx, first.uri, first.attrs.socket or None, where):
        return -1
    if first_alg == 10:
        _count_call(ctx, first)
    _store(ctx, order, first_alg)
    return 1


# ---- KSR functions -------------------------------------------------------------------------

_SELECT_RET = "1 a destination was chosen, -1 no such set, none usable, or no hash key"


@ksr("ds_select_dst", "ii", returns=_SELECT_RET)
def ds_select_dst(ctx: "RequestContext", setid: int, alg: int) -> int:
    """Choose a destination of set `setid` with algorithm `alg` and set $du to it."""
    return select(ctx, setid, alg, 0, DST)


@ksr("ds_select_dst_limit", "iii", returns=_SELECT_RET)
def ds_select_dst_limit(ctx: "RequestContext", setid: int, alg: int, limit: int) -> int:
    """ds_select_dst keeping at most `limit` candidates for failover (0: all)."""
    return select(ctx, setid, alg, limit, DST)


@ksr("ds_select_domain", "ii", returns=_SELECT_RET)
def ds_select_domain(ctx: "RequestContext", setid: int, alg: int) -> int:
    """Choose as ds_select_dst and put its host and port in the R-URI."""
    return select(ctx, setid, alg, 0, RURI)


@ksr("ds_select_domain_limit", "iii", returns=_SELECT_RET)
def ds_select_domain_limit(ctx: "RequestContext", setid: int, alg: int, limit: int) -> int:
    """ds_select_domain keeping at most `limit` candidates."""
    return select(ctx, setid, alg, limit, RURI)


@ksr("ds_select", "ii", returns=_SELECT_RET)
def ds_select(ctx: "RequestContext", setid: int, alg: int) -> int:
    """Choose and only record the candidates (neither $du nor the R-URI changes); use
    ds_set_dst/ds_set_domain or ds_next_* afterwards."""
    return select(ctx, setid, alg, 0, XAVP)


@ksr("ds_select_limit", "iii", returns=_SELECT_RET)
def ds_select_limit(ctx: "RequestContext", setid: int, alg: int, limit: int) -> int:
    """ds_select keeping at most `limit` candidates."""
    return select(ctx, setid, alg, limit, XAVP)


@ksr("ds_select_routes", "ss", returns="1 a destination was chosen, -1 none (or bad rules)")
def ds_select_routes(ctx: "RequestContext", rules: str, mode: str) -> int:
    """rules "grp=alg;grp=alg" (PVs allowed): the candidates of each group in turn;
    mode "dst"/"0", "ruri"/"1" or "xavp"/"2" says where the first one goes."""
    return select_routes(ctx, rules, mode, 0)


@ksr("ds_select_routes_limit", "ssi", returns="as ds_select_routes")
def ds_select_routes_limit(ctx: "RequestContext", rules: str, mode: str, limit: int) -> int:
    """ds_select_routes keeping at most `limit` candidates (0: all)."""
    return select_routes(ctx, rules, mode, int(limit))


_NEXT_RET = "1 the next candidate is in use, -1 none is left (or failover is off)"


@ksr("ds_next_dst", returns=_NEXT_RET)
def ds_next_dst(ctx: "RequestContext") -> int:
    """Set $du to the next candidate (a failure route's failover)."""
    return advance(ctx, DST)


@ksr("ds_next_domain", returns=_NEXT_RET)
def ds_next_domain(ctx: "RequestContext") -> int:
    """Put the next candidate's host and port in the R-URI."""
    return advance(ctx, RURI)


@ksr("ds_set_dst", returns="1, or -1 when no candidate is recorded")
def ds_set_dst(ctx: "RequestContext") -> int:
    """Set $du to the candidate in use (after ds_select)."""
    return advance(ctx, DST, use_next=False)


@ksr("ds_set_domain", returns="1, or -1 when no candidate is recorded")
def ds_set_domain(ctx: "RequestContext") -> int:
    """Put the candidate in use in the R-URI's host and port (after ds_select)."""
    return advance(ctx, RURI, use_next=False)


FUNCTIONS = (ds_select_dst, ds_select_dst_limit, ds_select_domain, ds_select_domain_limit,
             ds_select, ds_select_limit, ds_select_routes, ds_select_routes_limit,
             ds_next_dst, ds_next_domain, ds_set_dst, ds_set_domain)
