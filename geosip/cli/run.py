"""`geosip run`: build the server from the command line and serve until a signal.

The core (geosip.core) routes with the router named by --router (the Lua engine of a
later issue will be the default); the transport layer listens where -l says.
Exit codes: 0 on SIGTERM/SIGINT, 1 when a socket or the data dir cannot be had, 2 for
a bad config path, router or TLS setting. Imported only after gevent's
monkey-patching (main.py).
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import gevent
from gevent.event import Event

from geosip.cli.listen import Listen
from geosip.core.core import Core
from geosip.core.router import load_router
from geosip.core.routing import Myself
from geosip.tm.manager import TmConfig
from geosip.transport.config import TransportConfig
from geosip.transport.layer import TransportLayer

log = logging.getLogger("geosip")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What `geosip run` was asked for (main.py fills it from argparse)."""

    config: str | None
    listens: Sequence[Listen]
    data_dir: str
    log_level: str = "info"
    router: str = "relay"
    aliases: Sequence[str] = field(default_factory=tuple)
    fr_timer: float = 30.0
    fr_inv_timer: float = 120.0
    tls_certificate: str | None = None
    tls_private_key: str | None = None
    tls_ca_file: str | None = None
    tls_verify: bool = True
    accept_aliases: bool = False


def _fail(message: str, code: int) -> int:
    # One plain line, not a log record, so scripts and people read the reason at once.
    print(f"geosip: {message}", file=sys.stderr)
    return code


def _tune_gc() -> None:
    """Finished transactions are freed by reference counting (tests/unit/tm proves it),
    so the cyclic GC only has leaks to find. With its default thresholds it rescans the
    whole population of live transactions every second or so under load (profiled with
    bench/core_calls.py: a quarter of the CPU, in pauses of a few hundred ms). So move
    what start-up loaded out of its sight and collect young objects far less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def run(options: RunOptions) -> int:
    logging.basicConfig(
        level=options.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if options.config is not None:
        try:
            open(options.config, "rb").close()
        except OSError as e:
            return _fail(f"cannot read config {options.config}: {e.strerror or e}", 2)
    try:
        Path(options.data_dir).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return _fail(f"cannot create data dir {options.data_dir}: {e.strerror or e}", 1)
    try:
        router = load_router(options.router)
        transport_config = TransportConfig(
            tls_certificate=options.tls_certificate, tls_private_key=options.tls_private_key,
            tls_ca_file=options.tls_ca_file, tls_verify_server=options.tls_verify)
    except ValueError as e:
        return _fail(str(e), 2)

    core = Core(router, Myself(aliases={a.lower() for a in options.aliases}),
                accept_aliases=options.accept_aliases)
    core.tm.configure(TmConfig(fr_timer=options.fr_timer, fr_inv_timer=options.fr_inv_timer))
    transport = TransportLayer(core.on_message, transport_config)

    # Handlers first: a signal during start-up then stops cleanly instead of killing.
    stop = Event()
    stopped_by: list[str] = []

    def on_signal(signum: int) -> None:
        stopped_by.append(signal.Signals(signum).name)
        stop.set()

    handlers = [gevent.signal_handler(s, on_signal, s) for s in (signal.SIGTERM, signal.SIGINT)]
    try:
        for listen in options.listens:
            try:
                transport.listen(listen.proto, listen.host, listen.port)
            except ValueError as e:
                return _fail(f"cannot listen on {listen}: {e}", 2)
            except OSError as e:
                return _fail(f"cannot listen on {listen}: {e.strerror or e}", 1)
        core.myself.listeners = transport.listeners
        core.transport = transport
        core.tm.start()
        transport.start()
        if options.config is not None:
            log.warning("config %s is checked but not loaded: the Lua engine is not built "
                        "yet; routing with the %r router", options.config, options.router)
        _tune_gc()
        log.info("geosip ready: router %s", options.router)
        stop.wait()
        log.info("stopping on %s", stopped_by[0])
        return 0
    finally:
        transport.stop()
        core.tm.stop()
        for handler in handlers:
            handler.cancel()
