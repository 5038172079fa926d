"""A proxy running a real Lua script: the real Core, LuaRouter and Engine, with the
recording transport of tests/support/callflow.py (no sockets). Shared by the tests of
KSR.hdr and the textops, siputils, sanity, maxfwd, rr and corex modules.

`Proxy(tmp_path, route, modules)` loads a script whose ksr_request_route() is `route`;
`proxy.send(wire)` delivers a request as the UAC; `proxy.out` holds what the script
recorded with KSR.t.out(...); `proxy.take(dest)` the messages sent to `dest`.
KSR.t is a stand-in for modules other engineers write: out (record a value),
forward (stateless forward), relay (stateful, blocking), reply (reply with the queued
reply headers).
Every Engine runs with the greenlet guard: `proxy.violations` counts greenlet switches
while Lua was on the stack (non-blocking KSR functions must cause none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gevent
import greenlet

from geosip.core.context import RequestContext
from geosip.core.core import Core
from geosip.core.routing import Myself
from geosip.script.engine import Engine
from geosip.script.exports import ModuleExports, ksr
from geosip.script.ksr import core as ksr_core
from geosip.script.ksr import hdr, x
from geosip.script.registry import module_exports
from geosip.script.router import LuaRouter
from geosip.sip import Message, parse
from geosip.tm.manager import TmConfig
from geosip.transport.base import Endpoint, Inbound
from tests.support.callflow import PROXY, UAC, UAS, Recorder

FAST = TmConfig(t1=0.05, t2=0.2, t4=0.1, wt_timer=0.1, fr_timer=0.4, fr_inv_timer=0.6)
OUT: list[Any] = []


@ksr("out", "x", returns="1")
def out(ctx: RequestContext, value: Any = None) -> int:
    """Record a value (nil too) for the test."""
    OUT.append(value)
    return 1


@ksr("forward")
def forward(ctx: RequestContext) -> bool:
    """Forward statelessly to $du or the Request-URI."""
    return ctx.forward()


@ksr("relay", blocking=True)
def relay(ctx: RequestContext) -> bool:
    """Relay statefully (forks to the appended branches)."""
    return ctx.relay()


@ksr("reply", "is")
def reply(ctx: RequestContext, status: int, reason: str) -> bool:
    """Reply with the headers queued for replies (what sl/tm do)."""
    return ctx.reply(int(status), reason, hdr.reply_headers(ctx))


TEST_MODULE = ModuleExports(name="t", ksr=(out, forward, relay, reply))

INVITE = (
    "INVITE sip:bob@127.0.0.1:5080 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-abc;rport\r\n"
    'From: "Alice" <sip:alice@atlanta.example.com>;tag=f1\r\n'
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: call-1@127.0.0.1\r\nCSeq: 7 INVITE\r\n"
    "Contact: <sip:alice@127.0.0.1:5070>\r\nMax-Forwards: 70\r\n"
    "X-Foo: one\r\nX-Foo: two\r\n"
    "Content-Type: application/sdp\r\nContent-Length: 26\r\n\r\n"
    "v=0\r\nc=IN IP4 10.0.0.1\r\n\r\n")


def wire(*changes: tuple[str, str], text: str = INVITE) -> bytes:
    """The bytes of `text` (the INVITE above by default) with each (old, new) applied."""
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    return text.encode("utf-8", "surrogateescape")


class Proxy:
    def __init__(self, tmp_path: Path, route: str, modules: tuple[str, ...] = (),
                 extra: str = "", myself: Myself | None = None) -> None:
        OUT.clear()
        self.out = OUT
        path = tmp_path / "route.lua"
        path.write_text(f"function ksr_request_route()\n{route}\nend\n{extra}")
        exports = [ksr_core.EXPORTS, x.EXPORTS, hdr.EXPORTS, TEST_MODULE,
                   *module_exports(modules)]
        self._trace = greenlet.gettrace()
        self.engine = Engine(path, exports, guard=True)
        self.transport = Recorder()
        self.core = Core(LuaRouter(self.engine), myself or Myself(listeners=[PROXY]))
        self.core.tm.configure(FAST)
        self.core.transport = self.transport
        self.core.tm.start()
        self.contexts: list[RequestContext] = []
        router = self.core.router
        original = router.request

        def keep(ctx: RequestContext) -> None:   # remember contexts for assertions
            self.contexts.append(ctx)
            original(ctx)

        router.request = keep  # type: ignore[method-assign]

    @property
    def violations(self) -> int:
        return self.engine.violations

    @property
    def ctx(self) -> RequestContext:
        return self.contexts[-1]

    def send(self, data: bytes, source: Endpoint = UAC) -> list[Any]:
        """Deliver `data` as if received from `source`; returns what the script recorded."""
        OUT.clear()
        self.core.on_message(Inbound(data, source, PROXY))
        gevent.sleep(0.01)
        return list(OUT)

    def take(self, dest: Endpoint | None = None) -> list[Message]:
        """Messages sent (to `dest`, or anywhere) since the last take, parsed."""
        mine = [parse(d) for d, to in self.transport.sent if dest is None or to == dest]
        self.transport.sent = [(d, to) for d, to in self.transport.sent
                               if dest is not None and to != dest]
        return mine

    def close(self) -> None:
        self.core.tm.stop()
        greenlet.settrace(self._trace)


def run(tmp_path: Path, route: str, data: bytes, modules: tuple[str, ...] = (),
        **kw: Any) -> tuple[list[Any], Proxy]:
    """One request through a fresh proxy: (what the script recorded, the proxy)."""
    proxy = Proxy(tmp_path, route, modules, **kw)
    try:
        return proxy.send(data), proxy
    finally:
        proxy.close()


__all__ = ["FAST", "INVITE", "OUT", "PROXY", "Proxy", "UAC", "UAS", "run", "wire"]
