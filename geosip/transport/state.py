"""What every reader greenlet shares: config, counters, connections, the greenlet group
and the core's callback. One instance per TransportLayer."""

from __future__ import annotations

import logging
from typing import Any

from gevent.pool import Group

from .base import Endpoint, Inbound, Listener, OnMessage
from .config import TransportConfig
from .connections import Connection, ConnectionTable

log = logging.getLogger("geosip.transport")

STATS = ("udp_datagrams", "stream_messages", "bad_frames", "keepalives", "stun_ignored",
         "connections_opened", "connections_closed", "connections_refused", "send_errors")


class TransportState:
    __slots__ = ("config", "stats", "table", "group", "_on_message")

    def __init__(self, on_message: OnMessage, config: TransportConfig) -> None:
        self.config = config
        self.stats: dict[str, int] = dict.fromkeys(STATS, 0)
        self.table = ConnectionTable(config)
        self.group = Group()  # every reader and accept loop, so stop() can end them
        self._on_message = on_message

    def deliver(self, inbound: Inbound) -> None:
        """Hand one message to the core, inline: on_message must not block (see
        layer.py). Its exceptions are logged here so that a reader never dies of them."""
        try:
            self._on_message(inbound)
        except Exception:
            log.exception("on_message failed for a message from %s", inbound.source)

    def register(self, sock: Any, peer: Endpoint, listener: Listener,
                 inbound: bool) -> Connection:
        """Add a new connection to the table (findable once published) and count it."""
        conn = self.table.add(sock, peer, listener, inbound)
        self.stats["connections_opened"] += 1
        return conn

    def drop(self, conn: Connection) -> None:
        """Close a connection and forget it (its reader's last act). Idempotent."""
        conn.close()
        if self.table.remove(conn):
            self.stats["connections_closed"] += 1
