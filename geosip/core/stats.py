"""Statistics named like Kamailio's (group:name), served by the control interface
(stats.get_statistics, /metrics; geosip/rpc).

Two kinds. Counters are a plain dict of ints, incremented on the hot path with
`inc("core:rcv_requests")` (one dict update, nothing else). Gauges are functions read
when someone asks (tm:inuse_transactions, usrloc:registered_users, shmem:*), so they
cost nothing until then. Declared counters exist with 0 before their first increment,
so `stats.get_statistics all` lists what Kamailio lists; undeclared names (e.g. a
rcv_requests_<method> of an unusual method) appear once counted.

Kamailio's names: core (core/stats / core's rcv_requests...), tm and tmx, sl, usrloc,
shmem (here the process's memory, from /proc/self/status: Python has no shared pool).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

# Kamailio's core counters (kamcmd stats.get_statistics core:).
CORE_METHODS = ("invite", "cancel", "ack", "bye", "info", "register", "subscribe", "notify",
                "message", "options", "prack", "update", "refer", "publish")
CORE = ("core:rcv_requests", "core:rcv_replies", "core:fwd_requests", "core:fwd_replies",
        "core:drop_requests", "core:drop_replies", "core:err_requests", "core:err_replies",
        "core:bad_URIs_rcvd", "core:unsupported_methods", "core:bad_msg_hdr",
        *(f"core:rcv_requests_{m}" for m in CORE_METHODS),
        *(f"core:rcv_replies_{n}xx" for n in range(1, 7)))
# tm (UAS/UAC) and tmx (Nxx_transactions) counters; inuse/active are gauges.
TM = ("tm:UAS_transactions", "tm:UAC_transactions",
      *(f"tm:{n}xx_transactions" for n in range(2, 7)))
# sl: replies sent statelessly, by class (Kamailio's sl module statistics).
SL = tuple(f"sl:{n}xx_replies" for n in range(1, 7))
COUNTERS = CORE + TM + SL

Reader = Callable[[], "int | float"]


class Stats:
    """`inc(name)` on the hot path; `declare`/`gauge` at start-up; `values(which)` and
    `reset()` for the control interface."""

    __slots__ = ("counters", "gauges")

    def __init__(self, declared: Iterable[str] = COUNTERS) -> None:
        self.counters: defaultdict[str, int] = defaultdict(int)
        self.gauges: dict[str, Reader] = {}
        self.declare(declared)

    def inc(self, name: str, by: int = 1) -> None:
        self.counters[name] += by

    def final_reply(self, status: int) -> None:
        """tm:Nxx_transactions, counted once per transaction's final response."""
        self.counters[f"tm:{status // 100}xx_transactions"] += 1

    def declare(self, names: Iterable[str]) -> None:
        """Counters that exist (as 0) before their first increment."""
        for name in names:
            self.counters.setdefault(name, 0)

    def gauge(self, name: str, read: Reader) -> None:
        """A value computed by `read()` when asked (replaces a counter of that name)."""
        self.counters.pop(name, None)
        self.gauges[name] = read

    def is_gauge(self, name: str) -> bool:
        return name in self.gauges

    def get(self, name: str) -> int | float:
        read = self.gauges.get(name)
        return read() if read is not None else self.counters.get(name, 0)

    def snapshot(self) -> dict[str, int | float]:
        """Every statistic, sorted by name (gauges read now)."""
        out: dict[str, int | float] = dict(self.counters)
        for name, read in self.gauges.items():
            out[name] = read()
        return dict(sorted(out.items()))

    def values(self, which: str = "all") -> dict[str, int | float]:
        """Kamailio's selectors: "all", "group:" (every statistic of a group) or
        "group:name" / "name" (one; a bare name is looked up in every group).
        Unknown ones give {} (Kamailio answers them with nothing too)."""
        if which == "all":
            return self.snapshot()
        if which.endswith(":"):
            return {k: v for k, v in self.snapshot().items() if k.startswith(which)}
        if ":" in which:
            known = which in self.counters or which in self.gauges
            return {which: self.get(which)} if known else {}
        return {k: v for k, v in self.snapshot().items() if k.split(":", 1)[1] == which}

    def groups(self) -> list[str]:
        return sorted({name.split(":", 1)[0] for name in (*self.counters, *self.gauges)})

    def reset(self, which: str = "all") -> None:
        """Zero the counters `which` selects (as values()); gauges are not counters and
        keep reading the live value (Kamailio's STAT_NO_RESET)."""
        for name in self.values(which):
            if name in self.counters:
                self.counters[name] = 0
