"""KSR.sl through real Lua scripts routing the real Core in-process
(tests/support/luanet.py): stateless replies, replies through an existing transaction,
reply headers, and what cannot be answered.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from geosip.core.context import RequestContext
from geosip.modules.tm import api as tm_api
from geosip.script.exports import ModuleExports, ksr
from geosip.sip import Response
from tests.support.luanet import UAC, LuaNet, request, statuses


@ksr("reply_header", "ss", returns="1")
def _reply_header(ctx: RequestContext, name: str, value: str) -> int:
    """Test only: what KSR.hdr.append_to_reply leaves for the reply senders."""
    queued = ctx.script.extra.setdefault(tm_api.REPLY_HEADERS, [])
    queued.append((name, value))  # type: ignore[attr-defined]
    return 1


@pytest.fixture
def route(tmp_path: Path) -> Iterator:
    nets: list[LuaNet] = []

    def make(body: str) -> LuaNet:
        script = f"function ksr_request_route()\n{body}\nend\n"
        nets.append(LuaNet(script, tmp_path,
                           extra=(ModuleExports(name="t", ksr=(_reply_header,)),)))
        return nets[-1]

    yield make
    for net in nets:
        net.stop()


def test_sl_send_reply_is_stateless(route) -> None:
    net = route("""
      KSR.test.record("routed")
      KSR.t.reply_header("Retry-After", "30")
      KSR.test.record(KSR.sl.sl_send_reply(404, "Nobody Here"))""")
    net.deliver(request())
    [reply] = net.take(UAC)  # no 100 Trying: there is no transaction
    assert isinstance(reply, Response) and (reply.status, reply.reason) == (404, "Nobody Here")
    assert reply.header("Retry-After") == "30" and reply.to_tag
    net.deliver(request())  # a retransmission is routed again, and gets the same To tag
    [again] = net.take(UAC)
    assert again.to_tag == reply.to_tag  # type: ignore[union-attr]
    assert net.recorded == ["routed", 1, "routed", 1]
    assert net.core.stats.get("sl:4xx_replies") == 2


def test_send_reply_goes_through_the_transaction(route) -> None:
    net = route("""
      KSR.test.record("routed")
      KSR.tm.t_newtran()
      KSR.test.record(KSR.sl.send_reply(480, "Later"))
      KSR.test.record(KSR.sl.sl_send_reply(500, "Second Final"))""")
    net.deliver(request())
    assert statuses(net.take(UAC)) == [100, 480]
    net.deliver(request())  # absorbed by the transaction, which repeats its final
    assert statuses(net.take(UAC)) == [480]
    assert net.recorded == ["routed", 1, -1]


def test_sl_reply_error(route) -> None:
    net = route("KSR.test.record(KSR.sl.sl_reply_error())")
    net.deliver(request("OPTIONS"))
    [reply] = net.take(UAC)
    assert isinstance(reply, Response)
    assert (reply.status, reply.reason) == (500, "Server Internal Error")
    assert net.recorded == [1]


def test_what_cannot_be_answered(route) -> None:
    net = route("""
      KSR.test.record(KSR.sl.sl_send_reply(700, "Too High"))
      KSR.test.record(KSR.sl.sl_send_reply(99, "Too Low"))
      KSR.test.record(KSR.sl.sl_send_reply(200, "OK"))""")
    net.deliver(request("ACK"))  # an ACK is never answered
    net.deliver(request("OPTIONS", n=2))
    assert net.recorded == [-1, -1, -1, -1, -1, 1]
    assert statuses(net.take(UAC)) == [200]


def test_provisional_then_final(route) -> None:
    net = route("""
      KSR.test.record(KSR.sl.send_reply(180, "Ringing"))
      KSR.test.record(KSR.sl.send_reply(603, "Decline"))""")
    net.deliver(request())
    assert statuses(net.take(UAC)) == [180, 603]
    assert net.recorded == [1, 1]


def test_wrong_argument_types_answer_500(route, caplog: pytest.LogCaptureFixture) -> None:
    # sl_send_reply is blocking: its arguments are checked outside Lua, and the engine
    # lets that TypeError out of the route (logged by the core with a traceback, not
    # with the script's file:line as an error inside Lua is).
    net = route('KSR.sl.sl_send_reply("404", 42)')
    net.deliver(request("OPTIONS"))
    assert statuses(net.take(UAC)) == [500]
    assert "sl_send_reply(): expected a number" in caplog.text
