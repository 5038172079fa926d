"""KSR.rr: Record-Route and loose routing (Kamailio's rr module: rr_mod.c, loose.c),
RFC 3261 §16.4, §16.6 item 4, §16.12.

record_route() asks the core for our Record-Route on every branch sent (the core writes
it when the outbound socket is known, twice when the transport or address family
changes: RFC 5658). Its URI carries, after ";lr", the From tag as ";ftag=" (Kamailio's
append_fromtag, on by default; the To tag for a request flowing upstream) and the
parameters of add_rr_param()/record_route_params(), in both entries of a double
Record-Route, as Kamailio's rr writes them. record_route_preset() gives the values
whole (rr's record.c record_route_preset: "sip:" + address + ftag + ";lr").

loose_route() follows Kamailio's algorithm and return codes:
- no Route header: -1;
- in-dialog request whose Request-URI is ours (the previous hop was a strict router):
  the Request-URI comes back from the route set (§16.4);
- else the top Route values that are ours are removed (two for a double
  Record-Route); if a next Route remains and is a loose router it becomes $du (as
  Kamailio's set_dst_uri); a strict next hop is handled by the core when sending
  (§16.6 item 6), so $ru only changes then;
- 1 when the request follows a route set, -3 for an initial request whose only Route
  values were ours (Kamailio's RR_PRELOADED, "false").
The Route URI of ours that was consumed is kept per request for check_route_param() and
is_direction() (Kamailio's "routed params").
"""

from __future__ import annotations

import logging

from geosip.core.context import RequestContext
from geosip.sip import Address, ParseError, Request, SipUri, parse_uri
from geosip.sip.grammar import split_commas
from geosip.sip.headers import Field
from geosip.sip.uri import Uri
from geosip.script.exports import ksr
from geosip.script.ksr.hdr import set_fields
from geosip.modules.textops.api import compile_posix

log = logging.getLogger("geosip.modules.rr")

ADDED = "rr:added"        # ctx.script.extra: record_route() was called (no double RR)
LOCAL = "rr:local"        # ctx.script.extra: our Route URI consumed by loose_route()
NEXT_HOP = "rr:next_hop"  # ctx.script.extra: a Route header gives the next hop
FTAG = "rr:ftag"          # ctx.script.extra: ";ftag=..." of our Record-Route
PARAMS = "rr:params"      # ctx.script.extra: add_rr_param()'s parameters
RR_DRIVEN, RR_NOT_DRIVEN, RR_PRELOADED = 1, -1, -3
E_CFG = -6                # Kamailio's error code for a bad argument (core/error.h)

SETTINGS = {"append_fromtag": 1}   # the module parameters (mod.py init)
# Characters that would break out of the Record-Route URI (<...>, a list, the line).
_UNSAFE = frozenset('<>,"\r\n \t')


def _ftag(ctx: RequestContext) -> str:
    """";ftag=<From tag>" (the To tag for a request flowing upstream, as Kamailio's
    record_route_advertised_address picks it), "" when off or tagless."""
    if not SETTINGS["append_fromtag"]:
        return ""
    try:
        msg = ctx.msg
        tag = msg.to_tag if _flow(ctx) == "upstream" else msg.from_tag
    except ParseError:
        return ""
    return f";ftag={tag}" if tag else ""


def _apply_params(ctx: RequestContext) -> None:
    extra = ctx.script.extra
    ctx.record_route_params = f"{extra.get(FTAG, '')}{extra.get(PARAMS, '')}"


def _safe_params(text: str) -> bool:
    return text.startswith(";") and len(text) > 1 and not _UNSAFE & set(text)


def _add(ctx: RequestContext, params: str = "") -> int:
    extra = ctx.script.extra
    if extra.get(ADDED):
        log.error("rr: double attempt to record-route")
        return -1
    if params and not _safe_params(params):
        log.error("rr: bad Record-Route parameters %r (;name=value wanted)", params[:80])
        return -1
    ctx.record_route()
    extra[ADDED] = True
    extra[FTAG] = _ftag(ctx) + params   # record_route(params): right after the ftag
    _apply_params(ctx)
    return 1


@ksr("record_route", returns="1 the request will be record-routed, -1 already asked")
def record_route(ctx: RequestContext) -> int:
    """Put our Record-Route in the request when it is forwarded (with ;ftag= when
    append_fromtag is on, and the add_rr_param() parameters)."""
    return _add(ctx)


@ksr("record_route_params", "s", returns="1 the request will be record-routed, -1 already "
                                         "asked or parameters not ;name=value")
def record_route_params(ctx: RequestContext, params: str) -> int:
    """record_route() with `params` (";name=value...") added to our Record-Route URI."""
    return _add(ctx, params)


@ksr("add_rr_param", "s", returns="1 added, -1 not ;name=value")
def add_rr_param(ctx: RequestContext, param: str) -> int:
    """Add `param` (";name=value") to our Record-Route URI, before or after
    record_route() (both entries of a double Record-Route get it)."""
    if not _safe_params(param):
        log.error("rr.add_rr_param: bad parameter %r (;name=value wanted)", param[:80])
        return -1
    extra = ctx.script.extra
    extra[PARAMS] = f"{extra.get(PARAMS, '')}{param}"
    _apply_params(ctx)
    return 1


def _preset_value(ctx: RequestContext, address: str) -> str | None:
    """"<sip:" + address + ftag + ";lr>" (a sip:/sips: address is kept as given)."""
    text = address.strip()
    if not text.lower().startswith(("sip:", "sips:")):
        text = f"sip:{text}"
    value = f"{text}{_ftag(ctx)};lr"
    try:
        uri = parse_uri(value)
    except ParseError:
        uri = None
    if not isinstance(uri, SipUri) or _UNSAFE & set(value):
        log.error("rr.record_route_preset: bad address %r", address[:80])
        return None
    return f"<{value}>"


@ksr("record_route_preset", "ss", returns="1 the request will be record-routed with these "
                                          "values, -1 already asked or a bad address")
def record_route_preset(ctx: RequestContext, addr1: str, addr2: str) -> int:
    """Record-Route with the given address (host[:port][;params], or a sip: URI)
    instead of our socket's; with `addr2` not empty, two entries: `addr1` facing the
    next hop (on top), `addr2` the previous one. ftag and lr are added; add_rr_param()
    parameters are not (as in Kamailio)."""
    extra = ctx.script.extra
    if extra.get(ADDED):
        log.error("rr.record_route_preset: double attempt to record-route")
        return -1
    values = [_preset_value(ctx, addr) for addr in ((addr1, addr2) if addr2 else (addr1,))]
    if None in values:
        return -1
    ctx.record_route()
    ctx.record_route_preset = tuple(v for v in values if v is not None)
    extra[ADDED] = True
    return 1


@ksr("record_route_preset_one", "s", returns="1 the request will be record-routed with "
                                             "this value, -1 already asked or a bad address")
def record_route_preset_one(ctx: RequestContext, addr1: str) -> int:
    """record_route_preset(addr1, "")."""
    return int(record_route_preset.fn(ctx, addr1, ""))


@ksr("remove_record_route", returns="1 (takes back record_route)")
def remove_record_route(ctx: RequestContext) -> int:
    """Take back an earlier record_route() (and its parameters and preset)."""
    ctx.record_route_wanted = False
    ctx.record_route_params = ""
    ctx.record_route_preset = ()
    for key in (ADDED, FTAG, PARAMS):
        ctx.script.extra.pop(key, None)
    return 1


def _is_ours(ctx: RequestContext, uri: Uri) -> bool:
    """Kamailio's is_myself for Route URIs: our host and port, and not a GRUU."""
    if isinstance(uri, SipUri) and uri.params.has("gr"):
        return False
    return ctx.core.myself.is_myself(uri)


def _is_strict(uri: Uri) -> bool:
    return not (isinstance(uri, SipUri) and uri.lr)


def _next_hop_uri(uri: Uri) -> str:
    """What $du becomes for a loose next hop: the URI, or sip:maddr[:port] (loose.c
    get_maddr_uri)."""
    maddr = uri.params.get("maddr") if isinstance(uri, SipUri) else None
    if maddr:
        port = f":{uri.port}" if isinstance(uri, SipUri) and uri.port is not None else ""
        return f"sip:{maddr}{port}"
    return str(uri)


def _drop_last_route(request: Request) -> None:
    """Remove the last Route value (the field keeps the values before it)."""
    fields = list(request.fields)
    last = max(i for i, f in enumerate(fields) if f.key == "route")
    values = split_commas(fields[last].value)
    if len(values) > 1:
        fields[last] = Field.new(fields[last].name, ", ".join(values[:-1]))
    else:
        del fields[last]
    set_fields(request, fields)


def _after_strict(ctx: RequestContext, routes: list[Address]) -> int:
    """The previous hop was a strict router: our Record-Route URI is the Request-URI."""
    request = ctx.msg
    ctx.script.extra[LOCAL] = request.uri
    while routes and _is_ours(ctx, routes[0].uri):   # the second of a double RR
        request.pop_value("Route")
        routes = routes[1:]
    if not routes:
        return RR_NOT_DRIVEN
    ctx.script.extra[NEXT_HOP] = True
    top = routes[0]
    if _is_strict(top.uri):
        request.pop_value("Route")      # the next strict router becomes the R-URI
        request.uri = top.uri
        return RR_DRIVEN
    last = routes[-1]                   # the real Request-URI was saved as the last Route
    _drop_last_route(request)
    request.uri = last.uri
    ctx.dst_uri = _next_hop_uri(top.uri)
    return RR_DRIVEN


def _after_loose(ctx: RequestContext, routes: list[Address], preloaded: bool) -> int:
    request = ctx.msg
    if _is_ours(ctx, routes[0].uri):
        ctx.script.extra[LOCAL] = routes[0].uri
        request.pop_value("Route")
        routes = routes[1:]
        if routes and _is_ours(ctx, routes[0].uri):   # double Record-Route (RFC 5658)
            request.pop_value("Route")
            routes = routes[1:]
        if not routes:
            return RR_PRELOADED if preloaded else RR_DRIVEN
        ctx.script.extra[NEXT_HOP] = True
    if not _is_strict(routes[0].uri):
        ctx.dst_uri = _next_hop_uri(routes[0].uri)
    return RR_DRIVEN


def _loose_route(ctx: RequestContext, mode: int) -> int:
    extra = ctx.script.extra
    extra.pop(LOCAL, None)
    extra.pop(NEXT_HOP, None)
    request = ctx.msg
    try:
        routes = request.route
        if not routes:
            return RR_NOT_DRIVEN
        preloaded = request.to_tag is None
        if not preloaded and mode == 0 and _is_ours(ctx, request.uri):
            return _after_strict(ctx, routes)
        return _after_loose(ctx, routes, preloaded)
    except ParseError as exc:
        log.info("rr.loose_route: %s", exc.reason)
        return RR_NOT_DRIVEN


@ksr("loose_route", returns="1 the request follows its route set, -1 no route set, "
                            "-3 an initial request whose Route was only us")
def loose_route(ctx: RequestContext) -> int:
    """Process the Route set (RFC 3261 §16.4, §16.12)."""
    return _loose_route(ctx, 0)


@ksr("loose_route_mode", "i", returns="as loose_route")
def loose_route_mode(ctx: RequestContext, vmode: int) -> int:
    """loose_route; with vmode 1 a Request-URI that is ours is not taken for the mark of
    a strict router (only loose routing is done)."""
    return _loose_route(ctx, int(vmode))


@ksr("loose_route_preloaded", returns="1 an initial request whose Route was only us, "
                                      "-1 anything else")
def loose_route_preloaded(ctx: RequestContext) -> int:
    """loose_route, true only for a pre-loaded Route set that pointed at us."""
    return 1 if _loose_route(ctx, 0) == RR_PRELOADED else -1


@ksr("next_hop_route", returns="1 after loose_route a Route header gives the next hop, -1")
def next_hop_route(ctx: RequestContext) -> int:
    return 1 if ctx.script.extra.get(NEXT_HOP) else -1


def _local_route(ctx: RequestContext) -> Uri | None:
    """Our Route URI of this request: the one loose_route() consumed, else the top Route
    when it is ours (Kamailio's redo_route_params)."""
    local = ctx.script.extra.get(LOCAL)
    if isinstance(local, SipUri):
        return local
    try:
        routes = ctx.msg.route
    except ParseError:
        return None
    if routes and _is_ours(ctx, routes[0].uri):
        return routes[0].uri
    return None


@ksr("check_route_param", "s", returns="1 the parameters of our Route match, -1 not")
def check_route_param(ctx: RequestContext, sre: str) -> int:
    """Match a regex against the parameters (";lr;ftag=...") of our Route URI."""
    uri = _local_route(ctx)
    if not isinstance(uri, SipUri) or not uri.params:
        return -1
    try:
        regex = compile_posix(sre)
    except ValueError as exc:
        log.error("rr.check_route_param: %s", exc)
        return -1
    return 1 if regex.search(str(uri.params)) else -1


def _flow(ctx: RequestContext) -> str:
    """"upstream" when the ftag of our Route differs from the From tag, else
    "downstream" (also without ftag or Route, as Kamailio's is_direction)."""
    uri = _local_route(ctx)
    ftag = uri.params.get("ftag") if isinstance(uri, SipUri) else None
    if not ftag:
        return "downstream"
    try:
        tag = ctx.msg.from_tag
    except ParseError:
        tag = None
    return "upstream" if tag and tag != ftag else "downstream"


@ksr("is_direction", "s", returns="1 the request flows that way, -1 not, -6 (Kamailio's "
                                   "E_CFG) not downstream/upstream")
def is_direction(ctx: RequestContext, direction: str) -> int:
    """"downstream" (caller to callee) or "upstream", from the ftag parameter of our
    Route (record_route() puts it there): upstream when it differs from the From tag,
    downstream otherwise (also when there is no ftag, as in Kamailio)."""
    want = direction.lower()
    if want not in ("downstream", "upstream"):
        log.error("rr.is_direction: unknown direction %r", direction)
        return E_CFG
    return 1 if _flow(ctx) == want else -1


FUNCTIONS = (record_route, record_route_params, add_rr_param, record_route_preset,
             record_route_preset_one, remove_record_route, loose_route, loose_route_mode,
             loose_route_preloaded, next_hop_route, check_route_param, is_direction)
