"""Notifications: what changed between two polls of the core, and sending it as SNMPv2c
traps (RFC 3416 SNMPv2-Trap-PDU) to the configured trap sink.

The agent polls (it does not wait for the core to push), so a destination that goes
down and up again within one poll interval (1 s) sends nothing; ds.list state is what
the dispatcher's probing decided, so a trap follows its dispatcher:dst-down event by at
most a poll. Contract of Watcher.events(snapshot): pure, no I/O:
- the first reachable snapshot gives geosipStart (the server is up; the agent starts
  with it), and records the destinations' states without traps;
- a destination seen before whose usable state flips gives geosipDsDestDown/Up;
- a threshold statistic reaching `rising` (from below) gives geosipThresholdRaised,
  falling back to `falling` or less afterwards gives geosipThresholdCleared;
- an unreachable snapshot changes nothing (the next reachable one is compared with
  the last reachable one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pysnmp.proto import rfc1902

from . import mib
from .settings import Threshold
from .source import Snapshot

log = logging.getLogger("geosip.snmp")

START, DS_DOWN, DS_UP, RAISED, CLEARED = (mib.NOTIFICATIONS + (n,) for n in range(1, 6))


@dataclass(frozen=True, slots=True)
class Event:
    trap: tuple[int, ...]                         # the NOTIFICATION-TYPE's OID
    varbinds: tuple[tuple[tuple[int, ...], Any], ...]


class Watcher:
    def __init__(self, thresholds: tuple[Threshold, ...] = ()) -> None:
        self.thresholds = thresholds
        self.started = False
        self.usable: dict[tuple[int, str], bool] = {}   # (setid, uri) -> usable
        self.raised: set[str] = set()

    def events(self, snap: Snapshot) -> list[Event]:
        if not snap.reachable:
            return []
        out: list[Event] = []
        if not self.started:
            self.started = True
            out.append(Event(START, (
                (mib.GENERAL + (1, 0), rfc1902.OctetString(snap.version)),
                (mib.GENERAL + (2, 0), rfc1902.TimeTicks(snap.uptime * 100 % 2**32)))))
        seen: dict[tuple[int, str], bool] = {}
        for dest in snap.dests:
            key = (dest.setid, dest.uri)
            seen[key] = dest.usable
            before = self.usable.get(key)
            if before is not None and before != dest.usable:
                out.append(Event(DS_UP if dest.usable else DS_DOWN,
                                 tuple(mib.ds_varbinds(dest))))
        self.usable = seen
        for limit in self.thresholds:
            value = snap.stats.get(limit.stat)
            if value is None:
                continue
            if limit.stat not in self.raised and value >= limit.rising:
                self.raised.add(limit.stat)
                out.append(_threshold(RAISED, limit.stat, value, limit.rising))
            elif limit.stat in self.raised and value <= limit.falling:
                self.raised.discard(limit.stat)
                out.append(_threshold(CLEARED, limit.stat, value, limit.falling))
        return out


def _threshold(trap: tuple[int, ...], stat: str, value: float, limit: int) -> Event:
    return Event(trap, ((mib.THRESHOLD + (1, 0), rfc1902.OctetString(stat)),
                        (mib.THRESHOLD + (2, 0), mib.gauge(value)),
                        (mib.THRESHOLD + (3, 0), mib.gauge(limit))))


class Sender:
    """Sends Events as v2c traps to host:port with `community` (pysnmp hlapi; an engine
    of its own, made on the running loop)."""

    def __init__(self, host: str, port: int, community: str) -> None:
        self.host, self.port, self.community = host, port, community
        self._engine: Any = None
        self._target: Any = None

    async def open(self) -> None:
        """Made when the agent starts: the traps' sysUpTime.0 counts from then."""
        from pysnmp.hlapi.v3arch.asyncio import SnmpEngine, UdpTransportTarget
        self._engine = SnmpEngine()
        self._target = await UdpTransportTarget.create((self.host, self.port))

    async def send(self, event: Event) -> None:
        from pysnmp.hlapi.v3arch.asyncio import (
            CommunityData, ContextData, NotificationType, ObjectIdentity, send_notification)
        if self._engine is None:
            await self.open()
        notification = NotificationType(ObjectIdentity(event.trap)).add_varbinds(
            *((rfc1902.ObjectName(oid), value) for oid, value in event.varbinds))
        error, *_ = await send_notification(
            self._engine, CommunityData(self.community, mpModel=1), self._target,
            ContextData(), "trap", notification)
        if error:
            log.warning("trap %s to %s:%d: %s", event.trap, self.host, self.port, error)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close_dispatcher()
