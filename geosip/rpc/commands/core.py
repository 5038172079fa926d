"""core.version, core.uptime, core.info, core.ps, core.tcp_info with the result
shapes of Kamailio's core RPC commands (src/core/core_cmd.c: uptime is a struct of
now, up_since and uptime; ps a flat array of pid, description pairs)."""

from __future__ import annotations

import os
import platform
import sys
import time
from typing import Any

from geosip import __version__
from geosip.script.exports import rpc

NAME = "geosip"


def version_string() -> str:
    return (f"{NAME} {__version__} ({platform.machine()}/{sys.platform}) "
            f"python {platform.python_version()}")


@rpc("core.version")
def version(ctx: Any) -> str:
    """The server's version string (as kamailio -v's first line)."""
    return version_string()


@rpc("core.uptime")
def uptime(ctx: Any) -> dict[str, Any]:
    """{now, up_since, uptime}: the current time, the start time (ctime strings) and the
    seconds since the start."""
    now = time.time()
    return {"now": time.ctime(now), "up_since": time.ctime(ctx.started),
            "uptime": int(now - ctx.started)}


@rpc("core.info")
def info(ctx: Any) -> dict[str, Any]:
    """{version, id, compiler, compiled, flags} as Kamailio's core.info."""
    return {"version": f"{NAME} {__version__}", "id": "python",
            "compiler": f"{platform.python_implementation()} {platform.python_version()}",
            "compiled": "interpreted", "flags": "gevent, lupa (Lua 5.4)"}


@rpc("core.ps")
def ps(ctx: Any) -> list[Any]:
    """The server's processes: a flat array of pid, description pairs: this one (every
    greenlet lives in it; with --workers, worker 0, which serves this interface), then
    the child processes it runs (SNMP agent, gateways) while they are up."""
    worker = getattr(ctx.core, "worker", None)
    role = "main process" if worker is None else f"worker {worker}"
    out: list[Any] = [os.getpid(), f"{role} - SIP core, routing and control interface"]
    for child in ctx.children.status() if ctx.children is not None else ():
        if child["running"]:
            out += [child["pid"], child["name"]]
    return out


@rpc("core.tcp_info")
def tcp_info(ctx: Any) -> dict[str, int]:
    """{readers, max_connections, max_tls_connections, opened_connections,
    opened_tls_connections, write_queued_bytes} for the stream transports."""
    transport = ctx.core.transport
    config = getattr(transport, "config", None)
    limit = getattr(config, "max_connections", 0)
    # TransportLayer has no public per-protocol count yet: read its connection table.
    table = getattr(getattr(transport, "_state", None), "table", ())
    conns = list(table)
    tls = sum(1 for c in conns if getattr(c, "proto", "") in ("tls", "wss"))
    return {"readers": 1, "max_connections": limit, "max_tls_connections": limit,
            "opened_connections": len(conns) - tls, "opened_tls_connections": tls,
            "write_queued_bytes": 0}


COMMANDS = (version, uptime, info, ps, tcp_info)
