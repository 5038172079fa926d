"""dispatcher's exports (STYLE.md item 4): parameters (Kamailio's modparams), KSR
functions (select.py, checks.py), RPC commands (rpc.py, under Kamailio's
dispatcher.* names and the ds.* ones), statistics, and the lifecycle: init reads the
list file (a bad one stops `geosip run` at start), start reads the table when
db_url is set and starts probing (probe.py), destroy stops it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geosip.script.exports import ModuleExports, Param, Stat
from geosip.script.exports import rpc as command

from . import checks, probe, rpc, select, store
from .state import Thresholds

PARAMS = (
    Param("list_file", "", "the destination list file (setid destination [flags "
          "[priority [attrs [description]]]] per line)"),
    Param("db_url", "", "non-empty: read the `dispatcher` table of the database geosip "
          "run opened (--db or the script's db_url) instead of list_file"),
    Param("flags", 0, "bit 1: URI hashes over the user only; bit 2: failover (keep the "
          "other candidates in $xavp(_dsdst_) for ds_next_dst/ds_mark_dst)"),
    Param("use_default", 0, "1: the last destination of a set is only used when no other is"),
    Param("force_dst", 1, "0: ds_select_dst fails when $du is already set"),
    Param("xavp_dst", "_dsdst_", "the $xavp holding the candidates"),
    Param("xavp_ctx", "_dsctx_", "the $xavp holding the selection context (cnt)"),
    Param("hash_pvar", "", "the format hashed by algorithm 7, e.g. \"$fU@$ci\""),
    Param("setid_pvname", "", "PV set to the matching set by ds_is_from_list"),
    Param("attrs_pvname", "", "PV set to the matching attrs by ds_is_from_list"),
    Param("ds_ping_method", "OPTIONS", "the keepalive method"),
    Param("ds_ping_from", "sip:dispatcher@localhost", "the keepalive From URI"),
    Param("ds_ping_interval", 0.0, "seconds between keepalive rounds (0: none)"),
    Param("ds_probing_threshold", 1, "failures in a row that make a destination inactive"),
    Param("ds_inactive_threshold", 1, "successes in a row that make an inactive "
          "destination active again"),
    Param("ds_ping_reply_codes", "", "replies that count as up besides 200: "
          "\"code=404;class=2\""),
    Param("ds_probing_mode", 0, "0 PROBING ones (cleared on success), 1 all, 2 INACTIVE "
          "and PROBING ones, 3 PROBING ones (never cleared)"),
    Param("ds_ping_latency_stats", 0, "1: keep probe round-trip statistics (algorithm 13)"),
    Param("ds_latency_estimator_alpha", 900, "the latency EWMA's alpha, in thousandths"),
    Param("ds_hash_expire", 7200, "seconds after which a confirmed call stops counting "
          "for algorithm 10"),
    Param("ds_hash_initexpire", 7200, "seconds after which an unconfirmed call stops "
          "counting for algorithm 10"),
    Param("outbound_proxy", "", "SIP URI the keepalives are sent through"),
    Param("event_callback", "", "Lua function run with \"dispatcher:dst-down\" or "
          "\"dispatcher:dst-up\""),
    Param("reload_delta", 5, "seconds between two accepted dispatcher.reload"),
)


def _int(settings: Mapping[str, Any], name: str, low: int, high: int | None = None) -> int:
    value = int(settings[name])
    if value < low or (high is not None and value > high):
        raise ValueError(f"dispatcher.{name}: {value} is out of range")
    return value


def settings_from(params: Mapping[str, Any] | None) -> store.Settings:
    """Settings from the modparams; ValueError for a value that cannot be used."""
    raw = {p.name: p.default for p in PARAMS} | dict(params or {})
    if float(raw["ds_ping_interval"]) < 0:
        raise ValueError("dispatcher.ds_ping_interval must not be negative")
    return store.Settings(
        list_file=str(raw["list_file"]), db_url=str(raw["db_url"]),
        flags=_int(raw, "flags", 0), use_default=bool(_int(raw, "use_default", 0, 1)),
        force_dst=bool(_int(raw, "force_dst", 0, 1)), xavp_dst=str(raw["xavp_dst"]),
        xavp_ctx=str(raw["xavp_ctx"]), hash_pvar=str(raw["hash_pvar"]),
        setid_pvname=str(raw["setid_pvname"]), attrs_pvname=str(raw["attrs_pvname"]),
        ping_method=str(raw["ds_ping_method"]), ping_from=str(raw["ds_ping_from"]),
        ping_interval=float(raw["ds_ping_interval"]),
        thresholds=Thresholds(probing=_int(raw, "ds_probing_threshold", 1),
                              inactive=_int(raw, "ds_inactive_threshold", 1),
                              mode=_int(raw, "ds_probing_mode", 0, 3)),
        reply_codes=store.ReplyCodes.parse(str(raw["ds_ping_reply_codes"])),
        latency_stats=bool(_int(raw, "ds_ping_latency_stats", 0, 1)),
        alpha=_int(raw, "ds_latency_estimator_alpha", 0, 1000) / 1000,
        hash_expire=_int(raw, "ds_hash_expire", 1),
        hash_initexpire=_int(raw, "ds_hash_initexpire", 1),
        event_callback=str(raw["event_callback"]),
        outbound_proxy=str(raw["outbound_proxy"]),
        reload_delta=float(raw["reload_delta"]))


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the modparams and read the list file. ValueError for a bad parameter or
    an unreadable or malformed list file."""
    settings = settings_from(params)
    store.reset(settings)
    if not settings.db_url:
        store.STORE.load()


def start(core: Any) -> None:
    """Read the table (db_url) now that the database is open; start probing."""
    if store.STORE.settings.db_url:
        store.STORE.load()
    probe.start(core)


def destroy() -> None:
    store.reset()


def _destinations() -> int:
    return sum(len(s.dests) for s in store.STORE.sets.values())


def _active() -> int:
    return sum(1 for s in store.STORE.sets.values() for d in s.dests if d.usable)


def _commands() -> tuple[Any, ...]:
    out = []
    for kamailio, short in (("dispatcher.list", "ds.list"),
                            ("dispatcher.reload", "ds.reload"),
                            ("dispatcher.set_state", "ds.set_state"),
                            ("dispatcher.ping_active", "ds.ping_active")):
        fn = getattr(rpc, short.replace(".", "_"))
        params = {"ds.list": "[full]", "ds.reload": "", "ds.set_state": "state group address",
                  "ds.ping_active": "[0|1]"}[short]
        out += [command(kamailio, params, context=False)(fn),
                command(short, params, context=False)(fn)]
    return tuple(out)


EXPORTS = ModuleExports(
    name="dispatcher",
    params=PARAMS,
    ksr=(*select.FUNCTIONS, *checks.FUNCTIONS),
    rpc=_commands(),
    stats=(Stat("dispatcher:destinations", _destinations, "destinations loaded"),
           Stat("dispatcher:active_destinations", _active,
                "destinations neither inactive nor disabled")),
    init=init,
    start=start,
    destroy=destroy,
    doc="Load balancing over destination sets, with failover and OPTIONS probing.",
)
