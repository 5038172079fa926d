"""A gateway's counters, pushed to the core it runs under (DESIGN.md, Processes: a
gateway is an asyncio process of its own; `geosip run` keeps each gateway's latest
report and serves it as gateway:<name>_<counter> statistics, geosip/rpc/commands/gateway.py).

    report = Report("xmpp", ("sip_received", "xmpp_sent"),
                    read={"reconnects": lambda: component.reconnects},
                    state={"connected": lambda: int(component.online)})
    report.inc("sip_received")
    report.start(settings.control_socket)   # inside the running loop; None: no reports
    ...
    await report.stop()                     # one last push, then no more

Every INTERVAL seconds one JSON-RPC 2.0 notification (no "id": the core answers
nothing) goes to the control socket, one request per connection as
geosip/rpc/server.py serves it:
    {"jsonrpc": "2.0", "method": "gateway.report",
     "params": {"name": "xmpp", "counters": {...}, "state": {...}}}
Counters only grow, from 0 when the process starts (a restarted gateway starts again
from 0, as a restarted Kamailio does); `read` counters are kept by someone else and
read at each push, as are `state` values (0/1 link levels).

Reporting never blocks or breaks the gateway: a push that does not get through within
TIMEOUT seconds (socket missing, core busy or stopping) is dropped; the first failure
is logged, then nothing until a push gets through again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping

from geosip.rpc.address import short_path

log = logging.getLogger("geosip.gateways.report")

INTERVAL = 1.0   # seconds between pushes (the core calls a gateway down after 5 s)
TIMEOUT = 0.5    # seconds one push may take before it is dropped
METHOD = "gateway.report"

Read = Callable[[], "int | float"]


class Report:
    """See the module doc. `inc()` is a dict update: cheap on any path."""

    def __init__(self, name: str, counters: Iterable[str], *,
                 read: Mapping[str, Read] | None = None,
                 state: Mapping[str, Read] | None = None,
                 interval: float = INTERVAL, timeout: float = TIMEOUT) -> None:
        self.name = name
        self.counters: dict[str, int] = dict.fromkeys(counters, 0)
        self.read = dict(read or {})
        self.state = dict(state or {})
        self.interval = interval
        self.timeout = timeout
        self.target: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def inc(self, name: str, by: int = 1) -> None:
        """Raises KeyError for a counter not declared (a typo shows in the tests)."""
        self.counters[name] += by

    def params(self) -> dict[str, object]:
        """What the next push says: name, counters (own and read), state (read now)."""
        counters: dict[str, int | float] = dict(self.counters)
        counters.update((key, read()) for key, read in self.read.items())
        return {"name": self.name, "counters": counters,
                "state": {key: read() for key, read in self.state.items()}}

    def start(self, target: str | None) -> None:
        """Push every `interval` seconds to the control socket `target` (nothing when
        None: a gateway run by hand has no core to tell)."""
        self.target = target
        if target is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._every())

    async def stop(self) -> None:
        """Stop pushing, after a last push of the final values (best effort)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self.push(quiet=True)  # the core may be stopping too: no news

    async def _every(self) -> None:
        while True:
            await self.push()
            await asyncio.sleep(self.interval)

    async def push(self, *, quiet: bool = False) -> bool:
        """Send one report now; False (and logged on the first failure of a run, unless
        `quiet`) when it could not be sent. Never raises but CancelledError."""
        if self.target is None:
            return False
        try:
            data = json.dumps({"jsonrpc": "2.0", "method": METHOD,
                               "params": self.params()}).encode()
            async with asyncio.timeout(self.timeout):
                await _send(short_path(self.target), data)
        except (OSError, ValueError, TimeoutError) as exc:
            if not self._failing and not quiet:
                self._failing = True
                log.warning("%s gateway: cannot report to geosip at %s (%s): reports "
                            "are dropped until it answers", self.name, self.target,
                            exc or type(exc).__name__)
            return False
        except Exception:  # a reader that raises: a bug, but never the gateway's end
            if not self._failing and not quiet:
                self._failing = True
                log.exception("%s gateway: report failed", self.name)
            return False
        if self._failing and not quiet:
            self._failing = False
            log.info("%s gateway: reporting to geosip at %s again", self.name, self.target)
        return True


async def _send(path: str, data: bytes) -> None:
    """One notification on its own connection: write it, half-close, wait for the core
    to close (it has read the request by then; a notification gets no answer)."""
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        writer.write(data)
        await writer.drain()
        writer.write_eof()
        await reader.read(65536)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


__all__ = ["INTERVAL", "METHOD", "Report"]
