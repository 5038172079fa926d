"""Counters named like Kamailio's statistics (group:name), cheap on the hot path:
a plain dict of ints. The control interface (a later issue) serves them by RPC, SNMP
and Prometheus.
"""

from __future__ import annotations

from collections import defaultdict


class Stats:
    """`inc("core:rcv_requests")`; `get(name)`; `snapshot()` for readers."""

    __slots__ = ("counters",)

    def __init__(self) -> None:
        self.counters: defaultdict[str, int] = defaultdict(int)

    def inc(self, name: str, by: int = 1) -> None:
        self.counters[name] += by

    def get(self, name: str) -> int:
        return self.counters.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        return dict(self.counters)

    def final_reply(self, status: int) -> None:
        """tm:Nxx_transactions, counted once per transaction's final response."""
        self.counters[f"tm:{status // 100}xx_transactions"] += 1
