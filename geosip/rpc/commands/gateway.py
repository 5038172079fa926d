"""gateway.list and gateway.report: what the gateway processes `geosip run` supervises
are doing (issue 8 item 3, "gateway counters").

Each gateway (geosip/gateways/report.py) pushes its counters every second as a
JSON-RPC notification `gateway.report {name, counters, state}` on the control socket.
GatewayReports keeps the latest values of each and serves them as gauges
`gateway:<name>_<key>` (Kamailio's group:name; gauges, because the gateway counts and
the core only relays: a restarted gateway starts again from 0), which stats.*,
/metrics and the SNMP agent read like any other statistic. `gateway:<name>_up` is 1
while the gateway's process runs and its last report is at most `stale` seconds old;
a gateway that stops reporting keeps showing its last values, with up 0.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from geosip.script.exports import rpc

STALE = 5.0      # seconds without a report before a gateway counts as down (5 pushes)
MAX_KEYS = 64    # keys one gateway may report (each becomes a statistic)
_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
CHILD_PREFIX = "gateway "  # cli/children.py names a gateway's Child "gateway <name>"


class GatewayReports:
    """The gateways' latest reports, and their statistics in `stats`. `supervisor`
    (cli/children.py) says whether a gateway's process runs; without one, only the
    reports' age counts."""

    def __init__(self, stats: Any, names: Iterable[str], supervisor: Any = None, *,
                 stale: float = STALE, clock: Callable[[], float] = time.monotonic) -> None:
        self.stats = stats
        self.supervisor = supervisor
        self.stale = stale
        self.clock = clock
        self._values: dict[str, dict[str, int | float]] = {}
        self._groups: dict[str, dict[str, list[str]]] = {}   # name -> counters/state keys
        self._when: dict[str, float] = {}
        for name in names:
            self._values[name] = {}
            self._groups[name] = {"counters": [], "state": []}
            stats.gauge(f"gateway:{name}_up", lambda name=name: int(self.up(name)))

    @property
    def names(self) -> list[str]:
        return sorted(self._values)

    def running(self, name: str) -> bool:
        if self.supervisor is None:
            return True
        return any(c["name"] == CHILD_PREFIX + name and c["running"]
                   for c in self.supervisor.status())

    def age(self, name: str) -> float | None:
        """Seconds since `name`'s last report, None before the first."""
        when = self._when.get(name)
        return None if when is None else self.clock() - when

    def up(self, name: str) -> bool:
        age = self.age(name)
        return age is not None and age <= self.stale and self.running(name)

    def report(self, name: str, counters: Mapping[str, Any],
               state: Mapping[str, Any]) -> None:
        """Take a report. LookupError for a gateway geosip does not run, ValueError for
        keys or values that are not statistics (nothing is taken then)."""
        values = self._values.get(name)
        if values is None:
            raise LookupError(f"no gateway {name!r} here (known: "
                              f"{', '.join(self.names) or 'none'})")
        groups = {"counters": _checked(counters, "counters"),
                  "state": _checked(state, "state")}
        if set(groups["counters"]) & set(groups["state"]):
            raise ValueError("a key is both a counter and a state")
        known = self._groups[name]
        new = [k for g in groups.values() for k in g if k not in values]
        if len(values) + len(new) > MAX_KEYS:
            raise ValueError(f"more than {MAX_KEYS} keys for gateway {name}")
        for group, items in groups.items():
            for key, value in items.items():
                if key not in values:
                    known[group].append(key)
                    self.stats.gauge(f"gateway:{name}_{key}",
                                     lambda v=values, k=key: v[k])
                values[key] = value
        self._when[name] = self.clock()

    def entry(self, name: str) -> dict[str, Any]:
        """gateway.list's additions for `name`: up, counters, state, and report_age
        (seconds, -1 before the first report)."""
        values, keys = self._values[name], self._groups[name]
        age = self.age(name)
        return {"up": self.up(name), "report_age": -1 if age is None else round(age, 1),
                "counters": {k: values[k] for k in keys["counters"]},
                "state": {k: values[k] for k in keys["state"]}}


def _checked(items: Any, what: str) -> dict[str, int | float]:
    if not isinstance(items, Mapping):
        raise ValueError(f"{what} must be an object of name: number")
    out: dict[str, int | float] = {}
    for key, value in items.items():
        if not isinstance(key, str) or not _KEY.match(key) or key == "up":
            raise ValueError(f"{what}: {key!r} is not a statistic name "
                             "([a-z][a-z0-9_]*, at most 32, not 'up')")
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise ValueError(f"{what}: {key} must be a number, not {value!r}")
        out[key] = value
    return out


@rpc("gateway.list")
def gateway_list(ctx: Any) -> list[dict[str, Any]]:
    """The child processes geosip run keeps running (gateways, the SNMP agent): name,
    pid (0 while down), running, restarts, uptime (seconds); a gateway also up (running
    and reporting), report_age (seconds, -1 before its first report), counters and
    state (its latest report)."""
    if ctx.children is None:
        return []
    reports = ctx.gateways
    out = []
    for child in ctx.children.status():
        name = str(child["name"]).removeprefix(CHILD_PREFIX)
        if reports is not None and child["name"] != name and name in reports.names:
            child = {**child, **reports.entry(name)}
        out.append(child)
    return out


@rpc("gateway.report", "name counters state")
def gateway_report(ctx: Any, name: str, counters: dict[str, Any],
                   state: dict[str, Any] | None = None) -> None:
    """A gateway's latest counters (a notification each gateway sends every second,
    geosip/gateways/report.py): served as gauges gateway:<name>_<key>. 404 for a
    gateway geosip does not run, 400 for what is not a name: number object."""
    if ctx.gateways is None:
        raise LookupError("geosip runs no gateways")
    ctx.gateways.report(str(name), counters, state or {})


COMMANDS = (gateway_list, gateway_report)
