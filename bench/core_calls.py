"""CPU cost of one proxied call inside geosip, without sockets or sipp (issue 3).

Drives the real Core (parser, transaction layer, router) with a full call flow through
a transport stand-in that records what would be sent: INVITE -> 100/180/200 -> ACK ->
BYE -> 200, with Record-Route and the route set, as sipp's scenarios in bench/sipp do.
It prints CPU microseconds per call (geosip plus this harness's message building, which
is measured separately and subtracted) and, with --profile, where the time goes.
Routers: the Python one (`geosip run --router relay`), or with --lua bench/lua/proxy.lua
(bench/proxy.py's stateful-lua scenario) in the script engine with the default modules.
--register measures an authenticated REGISTER instead (REGISTER -> 401 -> REGISTER with
digest credentials -> 200, scripts/default.lua on an SQLite subscriber table, usrloc in
memory: bench/register.py's scenario). The garbage collector is tuned as `geosip run`
tunes it (cli/run.py _tune_gc), else its pauses swamp the profile.
This is a profiling aid; the figures that count come from bench/proxy.py (sipp).
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import pstats
import shutil
import tempfile
import time

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from geosip.cli.run import _tune_gc  # noqa: E402
from tests.support.callflow import (INVITE, IN_DIALOG, PROXY, UAC, answer,  # noqa: E402
                                    make_core, one_call)

from geosip.script.registry import DEFAULT_MODULES  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def harness_cost(calls: int) -> float:
    """CPU seconds this file spends building messages, without the core."""
    invite = INVITE.format(n=0).encode()
    start = time.process_time()
    for n in range(calls):
        for status in ("180 Ringing", "200 OK", "200 OK"):
            answer(invite, status, n)
        INVITE.format(n=n).encode()
        IN_DIALOG.format(method="ACK", n=n, cseq=1).encode()
        IN_DIALOG.format(method="BYE", n=n, cseq=2).encode()
    return time.process_time() - start


def lua_router(script: Path, modules: tuple[str, ...] | None = None) -> object:
    """The LuaRouter `geosip run -c script` builds: each module's init with its
    defaults (no parameters), the modules the script's geosip table names, else the
    default set."""
    from geosip.script.config import read_config
    from geosip.script.engine import Engine
    from geosip.script.registry import DEFAULT_MODULES, all_exports
    from geosip.script.router import LuaRouter

    if modules is None:
        config = read_config(str(script))
        modules = tuple(config.modules) if config.modules is not None else DEFAULT_MODULES
    exports = all_exports(modules)
    for module in exports:
        if module.init is not None:
            module.init(None)
    return LuaRouter(Engine(script, exports))


REGISTER = ("REGISTER sip:bench.example SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{n}-{cseq}\r\n"
            "From: <sip:user0@bench.example>;tag={n}SIPpTag00\r\n"
            "To: <sip:user0@bench.example>\r\n"
            "Call-ID: {n}-reg@127.0.0.1\r\nCSeq: {cseq} REGISTER\r\n"
            "Contact: <sip:user0@127.0.0.1:5070>\r\n{auth}"
            "Expires: 3600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


class Registrations:
    """An authenticated REGISTER as one "call" (bench/sipp/register_auth.xml)."""

    def __init__(self, core: object, out: object, folder: Path) -> None:
        from geosip.db import schema
        from geosip.db.connect import open_database
        from geosip.db.models import Subscriber
        from geosip.sip import digest

        database = open_database(f"sqlite:///{folder / 'geosip.sqlite'}")
        schema.bind(database)
        schema.migrate(database)
        with database.connection_context():
            Subscriber.create(username="user0", domain="bench.example", password="pw",
                              ha1=digest.ha1("user0", "bench.example", "pw"),
                              ha1b=digest.ha1("user0@bench.example", "bench.example", "pw"))
        core.myself.aliases.add("bench.example")  # type: ignore[attr-defined]  # --alias
        self.core, self.out = core, out

    def credentials(self, challenge_value: str) -> str:
        from geosip.sip import digest

        return digest.format_credentials(digest.build_credentials(
            digest.parse_challenge(challenge_value), username="user0", password="pw",
            method="REGISTER", uri="sip:bench.example", cnonce="c0ffee", nc=1))

    def reply(self, data: bytes) -> bytes:
        import gevent

        from geosip.transport.base import Inbound

        self.core.on_message(Inbound(data, UAC, PROXY))  # type: ignore[attr-defined]
        gevent.sleep(0)
        (reply, _dest), = self.out.sent  # type: ignore[attr-defined]
        self.out.sent.clear()  # type: ignore[attr-defined]
        return reply

    def one(self, n: int) -> None:
        first = self.reply(REGISTER.format(n=n, cseq=1, auth="").encode())
        assert first.startswith(b"SIP/2.0 401"), first[:60]
        value = next(line.split(b":", 1)[1].strip() for line in first.split(b"\r\n")
                     if line.lower().startswith(b"www-authenticate:"))
        auth = f"Authorization: {self.credentials(value.decode())}\r\n"
        second = self.reply(REGISTER.format(n=n, cseq=2, auth=auth).encode())
        assert second.startswith(b"SIP/2.0 200"), second[:60]

    def harness_cost(self, calls: int) -> float:
        """CPU seconds spent here building the messages and the client's digest."""
        value = ('Digest realm="bench.example", nonce="Zm9vYmFyYmF6cXV4cXV1eA", '
                 'qop="auth", algorithm=MD5')
        start = time.process_time()
        for n in range(calls):
            REGISTER.format(n=n, cseq=1, auth="").encode()
            auth = f"Authorization: {self.credentials(value)}\r\n"
            REGISTER.format(n=n, cseq=2, auth=auth).encode()
        return time.process_time() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--profile", action="store_true", help="print a cProfile summary")
    ap.add_argument("--lua", nargs="?", const=str(REPO / "bench/lua/proxy.lua"),
                    metavar="SCRIPT", help="route with a Lua script (default "
                    "bench/lua/proxy.lua) in the script engine")
    ap.add_argument("--register", action="store_true",
                    help="authenticated REGISTERs with scripts/default.lua instead of calls")
    ap.add_argument("--soak", action="store_true",
                    help="then wait out the wait timers and report live transactions and "
                         "memory (issue 3: back to 0 and flat after many calls)")
    args = ap.parse_args()
    core, out = make_core()
    if args.register:
        folder = Path(tempfile.mkdtemp(prefix="geosip-bench-reg-"))
        atexit.register(shutil.rmtree, folder, True)
        core.router = lua_router(REPO / "scripts/default.lua")  # type: ignore[assignment]
        registrations = Registrations(core, out, folder)
        call, cost, what = registrations.one, registrations.harness_cost, "registrations"
    else:
        if args.lua:
            core.router = lua_router(Path(args.lua), DEFAULT_MODULES)  # type: ignore[assignment]
        call, cost, what = (lambda n: one_call(core, out, n)), harness_cost, "calls"
    for n in range(200):  # warm-up
        call(n)
    _tune_gc()
    profiler = cProfile.Profile() if args.profile else None
    start = time.process_time()
    if profiler:
        profiler.enable()
    for n in range(1000, 1000 + args.calls):
        call(n)
    if profiler:
        profiler.disable()
    cpu = time.process_time() - start - cost(args.calls)
    print(f"{args.calls} {what}: {cpu / args.calls * 1e6:.0f} us CPU each in geosip "
          f"({args.calls / cpu:,.0f} {what}/s on one core); live transactions "
          f"{core.tm.live()} (still in their RFC wait states)")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    if args.soak:
        soak(core)


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def soak(core: object) -> None:
    """After the calls: memory now, then after every transaction has ended."""
    import gc

    import gevent

    tm = core.tm  # type: ignore[attr-defined]
    before = rss_kib()
    deadline = time.monotonic() + 60
    while tm.live() and time.monotonic() < deadline:
        gevent.sleep(0.5)
    gc.collect()
    print(f"after the calls: RSS {before / 1024:.1f} MiB; once every wait timer ran out: "
          f"live transactions {tm.live()}, scheduler entries {tm.scheduler.pending()}, "
          f"RSS {rss_kib() / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
