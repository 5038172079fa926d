"""`geosip run`: build the server from the command line and serve until a signal.

The core (geosip.core) routes with the Lua script given by -c, or scripts/default.lua
without one (geosip.script: KSR holds the core exports and the modules the script's
`geosip` table names, else the default set); or with the Python router named by
--router, which wins when given (-c is then only checked). The script's `geosip` table
configures listen sockets, aliases, tm timers, TLS and the log level; what the command
line gives explicitly wins (script/config.py, merge). SIGHUP reloads the script: one
that does not load is refused with a logged reason and the old one keeps serving.
Exit codes: 0 on SIGTERM/SIGINT, 1 when a socket or the data dir cannot be had, 2 for
a bad config path, script, router or TLS setting. Imported only after gevent's
monkey-patching (main.py).
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import gevent
from gevent.event import Event

from geosip.cli.listen import Listen, parse_listen
from geosip.cli.services import ServiceError, start_services
from geosip.core.core import Core
from geosip.core.router import Router, load_router
from geosip.core.routing import Myself
from geosip.transport.config import TransportConfig
from geosip.transport.layer import TransportLayer
from geosip.transport.sockets import bind

if TYPE_CHECKING:
    from geosip.script.config import ScriptConfig
    from geosip.script.exports import ModuleExports

log = logging.getLogger("geosip")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What `geosip run` was asked for (main.py fills it from argparse)."""

    config: str | None
    listens: Sequence[Listen]
    data_dir: str
    log_level: str = "info"
    workers: int = 1
    router: str | None = None  # None: the -c script routes, or `relay` without one
    aliases: Sequence[str] = field(default_factory=tuple)
    fr_timer: float = 30.0
    fr_inv_timer: float = 120.0
    tls_certificate: str | None = None
    tls_private_key: str | None = None
    tls_ca_file: str | None = None
    tls_verify: bool = True
    accept_aliases: bool = False
    db_url: str | None = None  # --db: wins over the script's db_url
    rpc_socket: str | None = None  # --rpc-socket: wins over the script's rpc.socket
    rpc_http: str | None = None    # --rpc-http: wins over the script's rpc.http
    snmp: str | None = None        # --snmp ADDR:PORT: wins over the script's snmp.listen
    # RunOptions fields typed on the command line: they win over the script's table
    given: frozenset[str] = frozenset()


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


def _settings(options: RunOptions) -> tuple["ScriptConfig", Router, str]:
    """The effective configuration and the router. With --router, a Python router and
    the command line (plus defaults); otherwise the -c script (or scripts/default.lua):
    its `geosip` table, then the command line on top (RunOptions.given), and the modules
    the table names (or the default set) in its KSR. Raises ConfigError, ScriptError,
    ValueError with what to fix."""
    from geosip.script.config import ScriptConfig, default_script, merge, read_config
    from geosip.script.engine import Engine
    from geosip.script.registry import DEFAULT_MODULES, all_exports
    from geosip.script.router import LuaRouter

    if options.router is not None:
        config = merge(ScriptConfig(), options, options.given)
        return config, load_router(options.router), options.router
    script = options.config or str(default_script())
    config = merge(read_config(script), options, options.given)
    modules = tuple(config.modules) if config.modules is not None else DEFAULT_MODULES
    exports = all_exports(modules)
    for module in exports:  # Kamailio's modparam: each module applies its parameters
        if module.init is not None:
            module.init((config.modules or {}).get(module.name))
    return config, LuaRouter(Engine(script, exports)), f"lua {script}"


def _open_database(url: str | None, data_dir: str) -> None:
    """Open the database the modules use (geosip.db's models): --db, else the script's
    db_url, else an SQLite file in the data directory, whose tables are created on first
    use. PostgreSQL must be reachable now (a clear error at start, not on the first
    request); its tables come from `geosipctl db init`, so missing ones are only logged."""
    from geosip.db import schema
    from geosip.db.connect import default_url, mask_url, open_database, sqlite_path

    url = url or default_url(data_dir)
    database = open_database(url)
    schema.bind(database)
    if sqlite_path(url) is not None:
        created = schema.migrate(database).created
        if created:
            log.info("database %s: created %s", mask_url(url), ", ".join(created))
    else:
        with database.connection_context():
            absent = schema.missing(database)
        if absent:
            log.warning("database %s lacks %s: run `geosipctl --db URL db init`",
                        mask_url(url), ", ".join(absent))
    log.info("database %s", mask_url(url))


def _start_modules(router: Router, core: Core) -> list["ModuleExports"]:
    """Call each loaded module's start(core) (their timers and workers); returns the
    modules to stop at shutdown."""
    engine = getattr(router, "engine", None)
    modules = list(engine.modules) if engine is not None else []
    for module in modules:
        if module.start is not None:
            module.start(core)
    return modules


def _stop_module(module: "ModuleExports") -> None:
    if module.destroy is None:
        return
    try:
        module.destroy()
    except Exception:  # one module failing to stop must not keep the others running
        log.exception("module %s: destroy failed", module.name)


def _reload(router: Router) -> None:
    """SIGHUP: load the script again; a refused script leaves the old one serving."""
    from geosip.script.engine import ScriptError

    engine = getattr(router, "engine", None)
    if engine is None:
        log.info("SIGHUP: no script to reload (routing with a Python router)")
        return
    try:
        engine.reload()
    except ScriptError as e:
        log.error("script reload refused, the old script keeps serving: %s", e)


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
    from geosip.script.config import ConfigError
    from geosip.script.engine import ScriptError

    try:
        config, router, router_name = _settings(options)
        listens = [parse_listen(spec) for spec in config.listen]
        transport_config = TransportConfig(
            tls_certificate=config.tls.certificate, tls_private_key=config.tls.private_key,
            tls_ca_file=config.tls.ca_file, tls_verify_server=config.tls.verify,
            tls_require_client_cert=config.tls.require_client_cert)
    except (ValueError, ScriptError, ConfigError) as e:
        return _fail(str(e), 2)
    logging.getLogger().setLevel(config.log_level.upper())
    if config.workers > 1:
        refused = _workers_refused(config)
        if refused:
            return _fail(refused, 2)
        for listen in listens:  # the parent finds a port in use; the workers share them
            try:
                bind(listen.host, listen.port, datagram=listen.proto == "udp",
                     reuse_port=True).close()
            except OSError as e:
                return _fail(f"cannot listen on {listen}: {e.strerror or e}", 1)
        failed = _database(options, config)  # made once, before the workers race for it
        if failed is not None:
            return failed
        _release_connections()
        from geosip.cli.workers import supervise
        return supervise(config.workers, lambda index, ready: _serve(
            options, config, router, router_name, listens, transport_config, index, ready))
    return _serve(options, config, router, router_name, listens, transport_config, None)


def _database(options: RunOptions, config: "ScriptConfig") -> int | None:
    """Open (and on SQLite complete) the database; the exit code when that fails."""
    try:  # after the sockets: a refused start leaves no database file behind
        _open_database(options.db_url or config.db_url, options.data_dir)
    except ValueError as e:  # a malformed URL: what to type instead
        return _fail(str(e), 2)
    except Exception as e:  # DatabaseUnavailable, a file that cannot be made
        return _fail(str(e), 1)
    return None


def _release_connections() -> None:
    """Close the parent's database connections: a forked worker must open its own (two
    processes on one connection would interleave their queries)."""
    from playhouse.pool import PooledDatabase

    from geosip.db import models
    database = models.database.obj
    if isinstance(database, PooledDatabase):
        database.close_all()
    elif database is not None:
        database.close()


def _workers_refused(config: "ScriptConfig") -> str | None:
    """Why this configuration cannot run in several workers, or None."""
    usrloc = (config.modules or {}).get("usrloc")
    if usrloc is not None and usrloc.get("db_mode", 0) != 3:
        return (f"workers = {config.workers} needs usrloc db_mode 3 (registrations in the "
                "database, seen by every worker); with db_mode "
                f"{usrloc.get('db_mode', 0)} each worker would know only its own")
    return None


def _serve(options: RunOptions, config: "ScriptConfig", router: Router, router_name: str,
           listens: list[Listen], transport_config: TransportConfig,
           worker: int | None, ready: Callable[[], None] | None = None) -> int:
    """Serve until a signal: one process, or worker `worker` of several (it shares the
    ports with SO_REUSEPORT and sends requests from sockets of its own, and calls
    `ready` once it serves)."""
    core = Core(router, Myself(aliases=set(config.alias)), accept_aliases=options.accept_aliases)
    core.tm.configure(config.tm)
    transport = TransportLayer(core.on_message, transport_config)

    # Handlers first: a signal during start-up then stops cleanly instead of killing.
    stop = Event()
    stopped_by: list[str] = []

    def on_signal(signum: int) -> None:
        stopped_by.append(signal.Signals(signum).name)
        stop.set()

    handlers = [gevent.signal_handler(s, on_signal, s) for s in (signal.SIGTERM, signal.SIGINT)]
    handlers.append(gevent.signal_handler(signal.SIGHUP, _reload, router))
    started: list["ModuleExports"] = []  # modules whose start() ran: destroy() them
    stopping: list[Callable[[], None]] = []  # services' stop() (cli/services.py)
    try:
        for listen in listens:
            try:
                transport.listen(listen.proto, listen.host, listen.port,
                                 reuse_port=worker is not None)
            except ValueError as e:
                return _fail(f"cannot listen on {listen}: {e}", 2)
            except OSError as e:
                return _fail(f"cannot listen on {listen}: {e.strerror or e}", 1)
        failed = _database(options, config)
        if failed is not None:
            return failed
        if worker is not None:
            try:
                transport.add_worker_sockets()
            except OSError as e:
                return _fail(f"worker {worker}: cannot open its own socket: "
                             f"{e.strerror or e}", 1)
        core.myself.listeners = transport.listeners
        core.transport = transport
        core.worker = worker
        core.tm.start()
        transport.start()
        started.extend(_start_modules(router, core))
        if not worker:  # the only process, or worker 0 of several
            try:
                start_services(core, router, config, options, stopping)
            except ServiceError as e:
                return _fail(str(e), e.code)
        if options.config is not None and options.router is not None:
            log.warning("config %s is checked but not loaded: routing with the %r router",
                        options.config, router_name)
        _tune_gc()
        log.info("geosip ready: router %s", router_name)
        if ready is not None:
            ready()
        stop.wait()
        log.info("stopping on %s", stopped_by[0])
        return 0
    finally:
        for stop_service in stopping:
            stop_service()
        for module in started:
            _stop_module(module)
        transport.stop()
        core.tm.stop()
        for handler in handlers:
            handler.cancel()
