"""`geosip run` at this stage: check the config, open the sockets, count and drop.

Routing is not built yet (README, Status), so what arrives is counted, logged at debug
and dropped. Imported only after gevent's monkey-patching (main.py). Exit codes: 0 on
SIGTERM/SIGINT, 1 when a socket or the data dir cannot be had, 2 for a bad config path
or a transport that is not built yet.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import gevent
from gevent.baseserver import BaseServer
from gevent.event import Event

from geosip.cli.listen import Listen
from geosip.transport.listen import open_listener

log = logging.getLogger("geosip")

BUILT = ("udp", "tcp")


def _fail(message: str, code: int) -> int:
    # One plain line, not a log record, so scripts and people read the reason at once.
    print(f"geosip: {message}", file=sys.stderr)
    return code


def run(config: str | None, listens: Sequence[Listen], data_dir: str, log_level: str) -> int:
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if config is not None:
        try:
            open(config, "rb").close()
        except OSError as e:
            return _fail(f"cannot read config {config}: {e.strerror or e}", 2)

    for listen in listens:
        if listen.proto not in BUILT:
            return _fail(f"cannot listen on {listen}: tls/ws/wss transports are not built yet", 2)

    try:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return _fail(f"cannot create data dir {data_dir}: {e.strerror or e}", 1)

    received = 0

    def on_data(proto: str, peer: tuple[str, int], data: bytes) -> None:
        nonlocal received
        received += 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug("dropped %d bytes from %s", len(data), Listen(proto, peer[0], peer[1]))

    # Handlers first: a signal during start-up then stops cleanly instead of killing.
    stop = Event()
    stopped_by: list[str] = []

    def on_signal(signum: int) -> None:
        stopped_by.append(signal.Signals(signum).name)
        stop.set()

    handlers = [gevent.signal_handler(s, on_signal, s) for s in (signal.SIGTERM, signal.SIGINT)]
    servers: list[BaseServer] = []
    try:
        for listen in listens:
            try:
                servers.append(open_listener(listen.proto, listen.host, listen.port, on_data))
            except OSError as e:
                return _fail(f"cannot listen on {listen}: {e.strerror or e}", 1)
            log.info("listening on %s", listen)

        if config is not None:
            log.warning("config %s is checked but not loaded: the Lua engine is not built yet", config)
        log.warning("routing is not built yet: received messages are counted and dropped")

        stop.wait()
        log.info("stopping on %s: %d messages received and dropped", stopped_by[0], received)
        return 0
    finally:
        for server in servers:
            server.stop()
        for handler in handlers:
            handler.cancel()
