"""The real Core routed by a real Lua script, in-process (tests/unit/script): the
transport is a Recorder (tests/support/callflow.py), the router a LuaRouter over an
Engine loaded with the KSR core, KSR.x, KSR.pv and the modules named, plus a test-only
KSR.test.record(value) that collects what the script wants the test to see.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

import gevent
import greenlet

from geosip.core.core import Core
from geosip.core.routing import Myself
from geosip.script.engine import Engine
from geosip.script.exports import ModuleExports, ksr
from geosip.script.registry import module_exports
from geosip.script.router import LuaRouter
from geosip.script.sandbox import Limits
from geosip.sip import Message, Response, parse
from geosip.tm.manager import TmConfig
from geosip.transport.base import Endpoint, Inbound

from .callflow import INVITE, PROXY, UAC, UAS, Recorder, answer

FAST = TmConfig(t1=0.05, t2=0.2, t4=0.1, wt_timer=0.1, fr_timer=0.4, fr_inv_timer=0.6)
UAS2 = Endpoint("udp", "127.0.0.1", 5090)
MODULES = ("tm", "tmx", "sl", "async")

__all__ = ["FAST", "INVITE", "LuaNet", "PROXY", "UAC", "UAS", "UAS2", "answer", "request",
           "statuses"]


class LuaNet:
    """A Core on PROXY routed by `script`; `recorded` holds KSR.test.record values."""

    def __init__(self, script: str, folder: Path, modules: Sequence[str] = MODULES,
                 extra: Sequence[ModuleExports] = (), guard: bool = False,
                 limits: Limits = Limits(), config: TmConfig = FAST) -> None:
        path = folder / "route.lua"
        path.write_text(script)
        self.recorded: list[object] = []

        @ksr("record", "x", returns="1")
        def record(ctx: object, value: object) -> int:
            self.recorded.append(value)
            return 1

        core_exports = [importlib.import_module(f"geosip.script.ksr.{name}").EXPORTS
                        for name in ("core", "x", "pv")]
        self.guard = guard
        self.engine = Engine(path, [*core_exports, *module_exports(modules),
                                    ModuleExports(name="test", ksr=(record,)), *extra],
                             limits=limits, guard=guard)
        self.out = Recorder()
        self.core = Core(LuaRouter(self.engine), Myself(listeners=[PROXY]))
        self.core.tm.configure(config)
        self.core.transport = self.out
        self.core.tm.start()

    def deliver(self, data: bytes | str, source: Endpoint = UAC, wait: float = 0.01) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.core.on_message(Inbound(data, source, PROXY))
        gevent.sleep(wait)

    def take(self, dest: Endpoint) -> list[Message]:
        """Messages sent to dest since the last take, parsed."""
        mine = [parse(d) for d, to in self.out.sent if to == dest]
        self.out.sent = [(d, to) for d, to in self.out.sent if to != dest]
        return mine

    def reply_to(self, forwarded: Message, status: str, source: Endpoint = UAS,
                 wait: float = 0.01) -> None:
        """The UAS answers a request the proxy forwarded to it."""
        self.deliver(answer(forwarded.to_bytes(), status, 1), source, wait)

    def stop(self) -> None:
        self.core.tm.stop()
        if self.guard:
            greenlet.settrace(None)


def statuses(messages: Sequence[Message]) -> list[int | str]:
    return [m.status if isinstance(m, Response) else m.method  # type: ignore[union-attr]
            for m in messages]


def request(method: str = "INVITE", n: int = 1, uri: str = "sip:service@127.0.0.1:5080",
            extra: str = "", to_tag: str | None = None, branch: str | None = None) -> bytes:
    """A request from UAC (the INVITE of callflow.py reshaped): `extra` header lines
    are added after Max-Forwards."""
    text = INVITE.format(n=n).replace("INVITE sip:service@127.0.0.1:5080",
                                      f"{method} {uri}", 1)
    text = text.replace("CSeq: 1 INVITE", f"CSeq: 1 {method}")
    if branch is not None:
        text = text.replace(f"branch=z9hG4bK-{n}-1", f"branch={branch}")
    if to_tag is not None:
        text = text.replace("To: service <sip:service@127.0.0.1:5080>",
                            f"To: service <sip:service@127.0.0.1:5080>;tag={to_tag}")
    if extra:
        text = text.replace("Max-Forwards: 70\r\n", f"Max-Forwards: 70\r\n{extra}")
    if method != "INVITE":
        head = text.split("\r\n\r\n", 1)[0]
        head = head.replace("Content-Type: application/sdp\r\n", "")
        text = head.replace("Content-Length: 129", "Content-Length: 0") + "\r\n\r\n"
    return text.encode()
