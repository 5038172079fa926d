"""What the agent knows about the core: one JSON-RPC batch per poll (DESIGN.md: the agent
reads statistics from the core over the control interface).

The batch asks stats.fetch all, core.uptime, core.version and ds.list in one
connection (a batch counts as one request on the Unix socket, geosip/rpc/README.md).
ds.list is absent when the dispatcher module is not loaded (-32601): no destinations
then. geosip.rpc.client is blocking: the agent runs `fetch` in a thread
(asyncio.to_thread) so the SNMP loop keeps answering meanwhile.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from geosip.rpc.client import Unreachable, exchange

TIMEOUT = 5.0
BATCH = (("stats.fetch", ["all"]), ("core.uptime", []), ("core.version", []),
         ("ds.list", []))


@dataclass(frozen=True, slots=True)
class Dest:
    """A dispatcher destination as ds.list shows it: FLAGS are kamcmd's two letters
    (A/T/I/D, then P probing or X)."""

    setid: int
    index: int          # 1-based position in its set
    uri: str
    flags: str

    @property
    def usable(self) -> bool:
        """Selectable: neither inactive nor disabled (Kamailio's ds_skip_dst)."""
        return self.flags[:1] in ("A", "T")


@dataclass(frozen=True, slots=True)
class Snapshot:
    reachable: bool
    stats: dict[str, int | float] = field(default_factory=dict)  # "group:name" -> value
    uptime: int = 0           # seconds since the core started
    version: str = ""
    dests: tuple[Dest, ...] = ()
    taken: float = 0.0        # time.monotonic() of the fetch


def _number(text: Any) -> int | float:
    try:
        return int(text)
    except (TypeError, ValueError):
        try:
            return float(text)
        except (TypeError, ValueError):
            return 0


def _dests(result: Any) -> tuple[Dest, ...]:
    out = []
    for record in (result or {}).get("RECORDS") or ():
        dset = record.get("SET", {})
        for i, target in enumerate(dset.get("TARGETS") or (), 1):
            dest = target.get("DEST", {})
            out.append(Dest(int(dset.get("ID", 0)), i, str(dest.get("URI", "")),
                            str(dest.get("FLAGS", ""))))
    return tuple(out)


def parse(answer: bytes) -> Snapshot:
    """The batch's answer -> Snapshot. Raises Unreachable when it is not a JSON-RPC
    batch answer, or when stats.fetch itself failed."""
    try:
        replies = json.loads(answer)
    except ValueError:
        raise Unreachable(f"not JSON-RPC: {answer[:80]!r}") from None
    if not isinstance(replies, list):
        raise Unreachable(f"not a batch answer: {str(replies)[:80]}")
    by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
    results = {}
    for rid, (method, _) in enumerate(BATCH, 1):
        reply = by_id.get(rid, {})
        if "result" in reply:
            results[method] = reply["result"]
    if "stats.fetch" not in results:
        raise Unreachable(f"stats.fetch failed: {by_id.get(1)}")
    stats = {name.replace(".", ":", 1): _number(value)
             for name, value in results["stats.fetch"].items()}
    uptime = results.get("core.uptime") or {}
    return Snapshot(True, stats, int(uptime.get("uptime", 0)),
                    str(results.get("core.version", "")), _dests(results.get("ds.list")),
                    time.monotonic())


def fetch(target: str, timeout: float = TIMEOUT) -> Snapshot:
    """Ask the core at `target` (socket path or http://...); never raises: a core that
    cannot be asked gives Snapshot(reachable=False)."""
    request = json.dumps([{"jsonrpc": "2.0", "method": method, "params": params, "id": i}
                          for i, (method, params) in enumerate(BATCH, 1)]).encode()
    try:
        return parse(exchange(target, request, timeout))
    except Unreachable:
        return Snapshot(False, taken=time.monotonic())
