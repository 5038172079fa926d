"""The SNMP agent process: pysnmp on asyncio (its own process: DESIGN.md, Processes).

Theory of operation. A poll task asks the core (source.fetch, in a thread) every
POLL seconds and swaps in a new table {oid: value} (mib.values) with its sorted keys;
GET/GETNEXT/GETBULK are answered from the current table by a custom instrumentation
controller (STACK-NOTES section 4), so answers are at most one poll old: the "cached
for a second" of issue 8. The same poll feeds traps.Watcher, whose events are sent to
the trap sink. Access: SNMPv2c with the configured community and, when configured,
one SNMPv3 USM user (RFC 3414), both with read access to the whole tree (VACM, RFC
3415); a wrong community or user gets no answer at all (RFC 3584 / RFC 3414 say to
drop and count it).

The agent ends when its parent (geosip run) is gone, so a killed geosip leaves no
agent behind.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto import rfc1902
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchObject
from pysnmp.smi import instrum

from . import mib, source
from .settings import SnmpSettings, parse_address
from .traps import Sender, Watcher

log = logging.getLogger("geosip.snmp")

POLL = 1.0
AUTH = {"MD5": config.USM_AUTH_HMAC96_MD5, "SHA": config.USM_AUTH_HMAC96_SHA,
        "SHA224": config.USM_AUTH_HMAC128_SHA224, "SHA256": config.USM_AUTH_HMAC192_SHA256,
        "SHA384": config.USM_AUTH_HMAC256_SHA384, "SHA512": config.USM_AUTH_HMAC384_SHA512}
PRIV = {"DES": config.USM_PRIV_CBC56_DES, "AES": config.USM_PRIV_CFB128_AES,
        "AES192": config.USM_PRIV_CFB192_AES, "AES256": config.USM_PRIV_CFB256_AES}


class Table:
    """The current answers, replaced whole at each poll."""

    def __init__(self) -> None:
        self.set(mib.values(source.Snapshot(False)))

    def set(self, values: dict[tuple[int, ...], Any]) -> None:
        self.values, self.keys = values, sorted(values)

    def get(self, oid: tuple[int, ...]) -> Any:
        return self.values.get(oid, NoSuchObject())

    def next(self, oid: tuple[int, ...]) -> tuple[tuple[int, ...] | None, Any]:
        i = bisect.bisect_right(self.keys, oid)
        if i == len(self.keys):
            return None, EndOfMibView()
        key = self.keys[i]
        return key, self.values[key]


class Controller(instrum.AbstractMibInstrumController):
    """Serves reads from a Table; no static MIB tree needed (STACK-NOTES section 4)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def read_variables(self, *var_binds: Any, **ctx: Any) -> list[tuple[Any, Any]]:
        return [(oid, self.table.get(tuple(oid))) for oid, _ in var_binds]

    def read_next_variables(self, *var_binds: Any, **ctx: Any) -> list[tuple[Any, Any]]:
        out = []
        for oid, _ in var_binds:
            key, value = self.table.next(tuple(oid))
            out.append((rfc1902.ObjectName(key) if key is not None else oid, value))
        return out


def build_engine(settings: SnmpSettings, table: Table) -> engine.SnmpEngine:
    """An engine answering on settings.listen; call on the running loop (pysnmp opens
    the asyncio transport there). Raises OSError when the port cannot be had."""
    eng = engine.SnmpEngine()
    host, port = parse_address(settings.listen or "127.0.0.1")
    if ":" in host:
        transport = udp6.Udp6Transport().open_server_mode((host, port))
        config.add_transport(eng, udp6.DOMAIN_NAME, transport)
    else:
        transport = udp.UdpTransport().open_server_mode((host, port))
        config.add_transport(eng, udp.DOMAIN_NAME, transport)
    _drop_undecodable(transport)
    config.add_v1_system(eng, "geosip-area", settings.community)
    config.add_vacm_user(eng, 2, "geosip-area", "noAuthNoPriv", (1, 3, 6))
    user = settings.v3
    if user is not None:
        if user.auth_key is None:
            config.add_v3_user(eng, user.user)
            level = "noAuthNoPriv"
        elif user.priv_key is None:
            config.add_v3_user(eng, user.user, AUTH[user.auth_protocol], user.auth_key)
            level = "authNoPriv"
        else:
            config.add_v3_user(eng, user.user, AUTH[user.auth_protocol], user.auth_key,
                               PRIV[user.priv_protocol], user.priv_key)
            level = "authPriv"
        config.add_vacm_user(eng, 3, user.user, level, (1, 3, 6))
    snmp_context = context.SnmpContext(eng)
    snmp_context.unregister_context_name(b"")
    snmp_context.register_context_name(b"", Controller(table))
    for responder in (cmdrsp.GetCommandResponder, cmdrsp.NextCommandResponder,
                      cmdrsp.BulkCommandResponder):
        responder(eng, snmp_context)
    eng.open_dispatcher()
    return eng


def _drop_undecodable(transport: Any) -> None:
    """Some malformed BER makes pyasn1's decoder raise TypeError, which pysnmp does not
    catch (it expects PyAsn1Error): the traceback reached the log through asyncio for
    every such datagram. Such a datagram is dropped like any other that does not
    decode (RFC 3417 §8: silently discarded)."""
    receive = transport._callback_function  # the dispatcher's, set by add_transport

    def guarded(*args: Any) -> None:
        try:
            receive(*args)
        except Exception as exc:
            log.debug("snmp: dropped a datagram that does not decode: %r", exc)

    transport.unregister_callback()
    transport.register_callback(guarded)


async def serve(settings: SnmpSettings, rpc_target: str, parent: int | None = None) -> None:
    """Answer SNMP and send traps until cancelled or the parent process is gone."""
    table = Table()
    eng = build_engine(settings, table)
    watcher = Watcher(settings.thresholds)
    sender = None
    if settings.trap_sink:
        host, port = parse_address(settings.trap_sink, default_port=162)
        sender = Sender(host, port, settings.trap_community or settings.community)
        await sender.open()
    log.info("snmp agent on %s (core at %s)", settings.listen, rpc_target)
    try:
        while parent is None or os.getppid() == parent:
            snap = await asyncio.to_thread(source.fetch, rpc_target)
            table.set(mib.values(snap))
            for event in watcher.events(snap):
                if sender is not None:
                    try:
                        await sender.send(event)
                    except Exception:  # a sink that is down must not stop the agent
                        log.exception("trap %s not sent", event.trap)
            await asyncio.sleep(POLL)
        log.info("snmp agent: geosip (pid %d) is gone, stopping", parent)
    finally:
        if sender is not None:
            sender.close()
        eng.close_dispatcher()
