"""Object values the agent serves: a Snapshot of the core -> {oid: pysnmp value}.

Two trees. GEOSIP-MIB (GEOSIP-MIB.txt beside this file, under the placeholder
enterprise 99999) and the objects of RFC 4780's SIP-COMMON-MIB that geosip's counters
answer truthfully, for the one SIP entity applIndex 1:
- sipCommonSummaryInRequests = core:rcv_requests and sipCommonSummaryInResponses =
  core:rcv_replies ("including retransmissions", RFC 4780 section 7.2);
  sipCommonSummaryOutRequests = core:fwd_requests (every transmission is counted);
  sipCommonSummaryTotalTransactions = tm:UAS_transactions + tm:UAC_transactions
  (a forked branch is a transaction of its own, as there).
- sipCommonMethodStatsInbounds = core:rcv_requests_<method>.
- sipCommonTransCurrentactions = tm:inuse_transactions.
Not served, because no counter says it: sipCommonSummaryOutResponses (replies sent by
tm are not counted), sipCommonMethodStatsOutbounds (sent requests are not counted by
method), and sipCommonStatusCodeTable: the core counts replies by class
(core:rcv_replies_<N>xx), not by method and code, and that table's rows are created by
the manager (RowStatus), which needs write access the agent does not offer. GEOSIP-MIB's
geosipStatusClassTable serves the class counts instead.
"""

from __future__ import annotations

from typing import Any

from pysnmp.proto import rfc1902

from .source import Snapshot

ENTERPRISE = (1, 3, 6, 1, 4, 1, 99999)      # placeholder PEN (GEOSIP-MIB.txt)
NOTIFICATIONS = ENTERPRISE + (0,)
GENERAL = ENTERPRISE + (1, 1)
SUMMARY = ENTERPRISE + (1, 2)
METHOD_ENTRY = ENTERPRISE + (1, 3, 1)
STATUS_ENTRY = ENTERPRISE + (1, 4, 1)
STATE = ENTERPRISE + (1, 5)
DS_ENTRY = ENTERPRISE + (1, 6, 1)
GW_ENTRY = ENTERPRISE + (1, 7, 1)
THRESHOLD = ENTERPRISE + (1, 8)

SIP_COMMON = (1, 3, 6, 1, 2, 1, 149, 1)     # sipCommonMIBObjects (RFC 4780)
APPL_INDEX = 1
SIP_SUMMARY_ENTRY = SIP_COMMON + (3, 1, 1)  # sipCommonSummaryStatsEntry
SIP_METHOD_ENTRY = SIP_COMMON + (4, 1, 1)   # sipCommonMethodStatsEntry
SIP_TRANS_ENTRY = SIP_COMMON + (6, 1, 1)    # sipCommonTransCurrentEntry

SUMMARY_STATS = ("core:rcv_requests", "core:rcv_replies", "core:fwd_requests",
                 "core:fwd_replies", "core:drop_requests", "core:drop_replies",
                 "core:err_requests", "core:err_replies", "core:bad_msg_hdr",
                 "tm:UAS_transactions", "tm:UAC_transactions")
STATE_STATS = ("usrloc:registered_users", "usrloc:location-contacts",
               "tm:inuse_transactions", "dialog:active_dialogs", "dialog:early_dialogs")
DS_STATES = {"A": 1, "T": 2, "I": 3, "D": 4}   # geosipDsState
TRUE, FALSE = 1, 2                               # TruthValue (RFC 2579)
GATEWAY_PREFIX = "gateway:"
GATEWAY_SUFFIX = "_up"
# geosipGatewaySipIn/SipOut: gateway:<name>_<counter>; geosipGatewayLink: the first
# link state of these the gateway reports (geosip/rpc/commands/gateway.py)
GATEWAY_SIP_IN, GATEWAY_SIP_OUT = "sip_received", "sip_sent"
GATEWAY_LINKS = ("connected", "bound")

Oid = tuple[int, ...]


def counter(value: int | float) -> rfc1902.Counter32:
    return rfc1902.Counter32(int(value) % 2**32)   # Counter32 wraps (RFC 2578 7.1.6)


def gauge(value: int | float) -> rfc1902.Gauge32:
    return rfc1902.Gauge32(min(max(int(value), 0), 2**32 - 1))  # latches (RFC 2578 7.1.7)


def text_index(text: str) -> Oid:
    """A non-IMPLIED OCTET STRING index: length, then the octets (RFC 2578 7.7)."""
    raw = text.encode()
    return (len(raw), *raw)


def methods(stats: dict[str, Any]) -> dict[str, int | float]:
    """{"INVITE": count} from core:rcv_requests_<method>."""
    prefix = "core:rcv_requests_"
    return {name[len(prefix):].upper(): value for name, value in stats.items()
            if name.startswith(prefix)}


def gateways(stats: dict[str, Any]) -> list[tuple[str, bool]]:
    """[(name, up)] from gateway:<name>_up statistics, by name."""
    out = []
    for name, value in stats.items():
        if name.startswith(GATEWAY_PREFIX) and name.endswith(GATEWAY_SUFFIX):
            out.append((name[len(GATEWAY_PREFIX):-len(GATEWAY_SUFFIX)], bool(value)))
    return sorted(out)


def ds_varbinds(snap_dest: Any) -> list[tuple[Oid, Any]]:
    """geosipDsUri and geosipDsState of one destination (also a trap's varbinds)."""
    index = (snap_dest.setid, snap_dest.index)
    return [(DS_ENTRY + (3, *index), rfc1902.OctetString(snap_dest.uri)),
            (DS_ENTRY + (4, *index), rfc1902.Integer32(DS_STATES.get(snap_dest.flags[:1], 3)))]


def values(snap: Snapshot) -> dict[Oid, Any]:
    """Every object instance the agent answers for this snapshot. Statistics the core
    does not have (a module not loaded) are left out: noSuchObject, not a made-up 0."""
    v: dict[Oid, Any] = {
        GENERAL + (1, 0): rfc1902.OctetString(snap.version),
        GENERAL + (2, 0): rfc1902.TimeTicks(snap.uptime * 100 % 2**32),
        GENERAL + (3, 0): rfc1902.Integer32(1 if snap.reachable else 2),
    }
    if not snap.reachable:
        return v
    stats = snap.stats
    for i, name in enumerate(SUMMARY_STATS, 1):
        if name in stats:
            v[SUMMARY + (i, 0)] = counter(stats[name])
    for i, name in enumerate(STATE_STATS, 1):
        if name in stats:
            v[STATE + (i, 0)] = gauge(stats[name])
    per_method = methods(stats)
    for method, count in per_method.items():
        v[METHOD_ENTRY + (2, *text_index(method))] = counter(count)
    for n in range(1, 7):
        v[STATUS_ENTRY + (2, n)] = counter(stats.get(f"core:rcv_replies_{n}xx", 0))
        v[STATUS_ENTRY + (3, n)] = counter(stats.get(f"tm:{n}xx_transactions", 0))
        v[STATUS_ENTRY + (4, n)] = counter(stats.get(f"sl:{n}xx_replies", 0))
    for dest in snap.dests:
        index = (dest.setid, dest.index)
        v.update(ds_varbinds(dest))
        v[DS_ENTRY + (5, *index)] = rfc1902.Integer32(TRUE if dest.flags[1:2] == "P"
                                                      else FALSE)
        v[DS_ENTRY + (6, *index)] = rfc1902.OctetString(dest.flags)
    for i, (name, up) in enumerate(gateways(stats), 1):
        v[GW_ENTRY + (2, i)] = rfc1902.OctetString(name)
        v[GW_ENTRY + (3, i)] = rfc1902.Integer32(1 if up else 2)
        v.update(_gateway_counts(stats, GATEWAY_PREFIX + name + "_", i))
    v.update(_sip_common(stats, per_method))
    return v


def _gateway_counts(stats: dict[str, Any], prefix: str, row: int) -> dict[Oid, Any]:
    """The columns a gateway's reports fill (none before its first report)."""
    v: dict[Oid, Any] = {}
    for column, key in ((4, GATEWAY_SIP_IN), (5, GATEWAY_SIP_OUT)):
        if prefix + key in stats:
            v[GW_ENTRY + (column, row)] = counter(stats[prefix + key])
    link = next((stats[prefix + k] for k in GATEWAY_LINKS if prefix + k in stats), None)
    if link is not None:
        v[GW_ENTRY + (6, row)] = rfc1902.Integer32(1 if link else 2)  # up(1), down(2)
    return v


def _sip_common(stats: dict[str, Any], per_method: dict[str, int | float]) -> dict[Oid, Any]:
    """The SIP-COMMON-MIB (RFC 4780) instances listed in the module docstring."""
    v: dict[Oid, Any] = {}
    pairs = ((1, "core:rcv_requests"), (2, "core:fwd_requests"), (3, "core:rcv_replies"))
    for column, name in pairs:
        if name in stats:
            v[SIP_SUMMARY_ENTRY + (column, APPL_INDEX)] = counter(stats[name])
    if "tm:UAS_transactions" in stats:
        total = stats["tm:UAS_transactions"] + stats.get("tm:UAC_transactions", 0)
        v[SIP_SUMMARY_ENTRY + (5, APPL_INDEX)] = counter(total)
    for method, count in per_method.items():
        v[SIP_METHOD_ENTRY + (3, APPL_INDEX, *text_index(method))] = counter(count)
    if "tm:inuse_transactions" in stats:
        v[SIP_TRANS_ENTRY + (1, APPL_INDEX)] = gauge(stats["tm:inuse_transactions"])
    return v
