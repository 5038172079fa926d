"""Waiting in scripts, and the engine under load and abuse, through real Lua scripts
routing the real Core in-process (tests/support/luanet.py): KSR.async (sleep in place,
continue in a route later), KSR.tmx.t_suspend/t_continue and t_precheck_trans, 200
concurrent sleeping calls, the greenlet guard, and routes that loop, eat memory or
fail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import gevent
import pytest

from geosip.core.context import RequestContext
from geosip.modules.tmx import api as tmx_api
from geosip.script.exports import ModuleExports, ksr
from geosip.script.sandbox import Limits
from geosip.sip import Request, Response
from tests.support.luanet import UAC, UAS, LuaNet, request, statuses


@ksr("greenlet", returns="an id of the greenlet running the route")
def _greenlet(ctx: RequestContext) -> int:
    return id(gevent.getcurrent())


@ksr("bad_sleep", returns="1")
def _bad_sleep(ctx: RequestContext) -> int:
    """Deliberately wrong: waits without being declared blocking (the guard's prey)."""
    gevent.sleep(0.001)
    return 1


TEST = ModuleExports(name="t", ksr=(_greenlet, _bad_sleep))


@pytest.fixture
def lua(tmp_path: Path) -> Iterator:
    nets: list[LuaNet] = []

    def make(script: str, **kwargs: object) -> LuaNet:
        nets.append(LuaNet(script, tmp_path, extra=(TEST,), **kwargs))  # type: ignore[arg-type]
        return nets[-1]

    yield make
    for net in nets:
        net.stop()


def invites(net: LuaNet) -> list[Request]:
    """INVITEs the UAS got since the last call, without the proxy's retransmissions
    (Timer A is 50 ms here)."""
    seen: dict[str, Request] = {}
    for m in net.take(UAS):
        if isinstance(m, Request) and m.method == "INVITE":
            seen.setdefault(m.top_via.branch or "", m)
    return list(seen.values())


# ---- sleeping in place ---------------------------------------------------------------


def test_ms_sleep_continues_in_place(lua) -> None:
    net = lua("""
function ksr_request_route()
  local before, started = "kept", os.clock()
  local g = KSR.t.greenlet()
  KSR.test.record(KSR.async.ms_sleep(50))
  KSR.test.record(before)
  KSR.test.record(g == KSR.t.greenlet())
  KSR.test.record(KSR.async.ms_sleep(-1))
  KSR.tm.t_relay()
end""")
    started = time.monotonic()
    net.deliver(request(), wait=0)
    gevent.sleep(0.02)
    assert net.take(UAS) == []  # still asleep
    gevent.sleep(0.06)
    assert len(invites(net)) == 1 and time.monotonic() - started >= 0.05
    assert net.recorded == [1, "kept", True, -1]


def test_200_calls_sleeping_200ms_at_once(lua) -> None:
    """Issue 4: while one transaction sleeps, other calls keep flowing."""
    net = lua("""
function ksr_request_route()
  KSR.async.ms_sleep(200)
  KSR.tm.t_relay()
end""", guard=True)
    started = time.monotonic()
    for n in range(200):
        net.deliver(request(n=n), wait=0)
    forwarded: set[str] = set()
    while len(forwarded) < 200 and time.monotonic() - started < 2:
        gevent.sleep(0.01)
        forwarded |= {m.call_id for m in invites(net)}
    elapsed = time.monotonic() - started
    assert len(forwarded) == 200
    assert elapsed < 1.0, f"200 sleeping calls took {elapsed:.2f} s"
    assert net.engine.violations == 0  # every sleep happened outside Lua


# ---- the greenlet guard --------------------------------------------------------------


def test_guard_catches_a_non_blocking_function_that_waits(lua) -> None:
    net = lua("""
function ksr_request_route()
  if KSR.is_OPTIONS() then KSR.t.bad_sleep() else KSR.async.ms_sleep(5) end
  KSR.sl.sl_send_reply(200, "OK")
end""", guard=True)
    net.deliver(request("MESSAGE", n=1), wait=0.05)
    assert net.engine.violations == 0
    net.deliver(request("OPTIONS", n=2), wait=0.05)  # alone in Lua: a switch, no crash
    assert net.engine.violations > 0
    assert statuses(net.take(UAC)) == [200, 200]


# ---- continuing later in a route -----------------------------------------------------


def test_async_ms_route_suspends_then_continues_in_the_same_greenlet(lua) -> None:
    net = lua("""
function ksr_request_route()
  KSR.test.record(KSR.t.greenlet())
  KSR.test.record(KSR.async.ms_route("resume", 100))
  KSR.test.record(KSR.async.ms_route("nosuch", 10))
  KSR.x.exit()
end
function resume()
  KSR.test.record(KSR.t.greenlet())
  KSR.test.record(KSR.tmx.t_is_failure_route())
  KSR.tm.t_relay()
end""")
    net.deliver(request())
    assert statuses(net.take(UAC)) == [100]  # the transaction exists, suspended
    assert tmx_api.pending() == 1
    net.deliver(request())  # a retransmission: absorbed, not routed again
    assert statuses(net.take(UAC)) == [100] and net.take(UAS) == []
    gevent.sleep(0.15)
    [out] = invites(net)
    net.reply_to(out, "200 OK")
    assert statuses(net.take(UAC)) == [200]
    first, queued, missing, second, failure = net.recorded
    assert (queued, missing, failure) == (0, -1, 1)
    assert first == second  # the request's own greenlet ran the continuation
    assert tmx_api.pending() == 0


def test_async_route_in_seconds_and_a_resumed_route_that_does_nothing(lua) -> None:
    net = lua("""
function ksr_request_route() KSR.async.route("idle", 0) KSR.x.exit() end
function idle() KSR.test.record("idle ran") end""")
    net.deliver(request("MESSAGE"), wait=0.05)
    assert net.recorded == ["idle ran"]
    assert statuses(net.take(UAC)) == [500]  # nothing relayed or answered: 500


SUSPEND = """
function ksr_request_route()
  if KSR.is_INVITE() then
    KSR.test.record(KSR.tmx.t_suspend())
    KSR.pv.seti("$shv(index)", KSR.pv.get("$T(id_index)"))
    KSR.pv.seti("$shv(label)", KSR.pv.get("$T(id_label)"))
    KSR.x.exit()
  end
  -- a MESSAGE wakes the INVITE up
  local index, label = KSR.pv.get("$shv(index)"), KSR.pv.get("$shv(label)")
  KSR.test.record(KSR.tmx.t_continue(index, label, "wake"))
  KSR.test.record(KSR.tmx.t_continue(index, label, "wake"))
  KSR.sl.sl_send_reply(200, "Woken")
end
function wake()
  KSR.test.record(KSR.pv.get("$rm"))
  KSR.tm.t_relay()
end"""


def test_t_suspend_and_t_continue_from_another_request(lua) -> None:
    net = lua(SUSPEND)
    net.deliver(request("INVITE", n=1))
    assert statuses(net.take(UAC)) == [100]
    net.deliver(request("MESSAGE", n=2))
    [out] = invites(net)  # the INVITE's route `wake` relayed it
    assert out.call_id == "1-call@127.0.0.1"
    net.reply_to(out, "486 Busy Here")
    assert statuses(net.take(UAC)) == [200, 486]  # the MESSAGE's 200, the INVITE's 486
    assert net.recorded == [1, 1, -1, "INVITE"]  # a second t_continue finds nothing


def test_suspended_too_long_gets_408(lua) -> None:
    net = lua(SUSPEND)
    net.deliver(request("INVITE", n=1))
    gevent.sleep(0.7)  # fr_inv_timer 0.6 s
    assert statuses(net.take(UAC))[:2] == [100, 408]
    assert tmx_api.pending() == 0
    net.deliver(request("MESSAGE", n=2))
    assert net.recorded == [1, -1, -1]


def test_cancel_ends_a_suspended_transaction(lua) -> None:
    net = lua(SUSPEND)
    net.deliver(request("INVITE", n=1))
    cancel = request("INVITE", n=1).replace(b"INVITE sip:", b"CANCEL sip:")
    cancel = cancel.split(b"\r\n\r\n")[0].replace(b"CSeq: 1 INVITE", b"CSeq: 1 CANCEL")
    cancel = cancel.replace(b"Content-Length: 129", b"Content-Length: 0") + b"\r\n\r\n"
    net.deliver(cancel)
    assert statuses(net.take(UAC)) == [100, 200, 487]
    net.deliver(request("MESSAGE", n=2))
    assert net.recorded == [1, -1, -1] and net.take(UAS) == []


def test_precheck_catches_a_retransmission_during_the_route(lua) -> None:
    net = lua("""
function ksr_request_route()
  if KSR.tmx.t_precheck_trans() > 0 then
    KSR.test.record("retransmission")
    KSR.tm.t_check_trans()
    return
  end
  KSR.async.ms_sleep(100)
  KSR.tm.t_relay()
end""")
    net.deliver(request(), wait=0.01)
    net.deliver(request(), wait=0.01)  # arrives while the original sleeps
    gevent.sleep(0.15)
    net.deliver(request())  # after: the transaction absorbs it
    assert len(invites(net)) == 1
    assert net.recorded == ["retransmission"]


# ---- routes that fail --------------------------------------------------------------------

ABUSE = """
function ksr_request_route()
  if KSR.is_method("OPTIONS") then KSR.sl.sl_send_reply(200, "Still Here") return end
  KSR.test.record("start")
  if KSR.is_INVITE() then while true do end end
  if KSR.is_MESSAGE() then local t = {} while true do t[#t+1] = ('x'):rep(1e6) end end
  local broken = nil
  KSR.test.record(broken.field)  -- line 8: a runtime error mid-route
end"""


@pytest.mark.parametrize("method,error", [
    ("INVITE", "sandbox: instruction/time limit exceeded"),
    ("MESSAGE", "sandbox: memory limit exceeded"),
    # Lua shortens a long chunk name (the script's path) to 60 characters
    ("INFO", ":8: attempt to index a nil value (local 'broken')"),
])
def test_a_failing_route_answers_500_once_and_the_server_goes_on(
        lua, caplog: pytest.LogCaptureFixture, method: str, error: str) -> None:
    net = lua(ABUSE, limits=Limits(instructions=5_000_000, seconds=1.0,
                                   memory=16 * 1024 * 1024))
    started = time.monotonic()
    net.deliver(request(method, n=1), wait=0.05)
    assert time.monotonic() - started < 2.5
    finals = [m for m in net.take(UAC) if isinstance(m, Response) and m.status >= 200]
    assert [m.status for m in finals] == [500]
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(error in line for line in logged), logged
    assert net.recorded == ["start"]
    net.deliver(request("OPTIONS", n=2))  # the same runtime serves the next request
    assert statuses(net.take(UAC)) == [200]


# The instruction budget is per route run (sandbox.py): a route that waits in a blocking
# KSR call keeps what it had left, even when other routes ran meanwhile.
SPLIT_LOOP = """
function ksr_request_route()
  if KSR.is_OPTIONS() then
    for i = 1, 300000 do end                        -- another route, during the wait
    KSR.sl.sl_send_reply(200, "OK")
    return
  end
  local n = tonumber(KSR.pv.get("$hdr(X-Loop)"))
  for i = 1, n do end
  KSR.async.ms_sleep(50)
  for i = 1, n do end
  KSR.test.record("done")
  KSR.sl.sl_send_reply(200, "OK")
end"""


@pytest.mark.parametrize("loop,outcome", [(350_000, ["done"]), (650_000, [])])
def test_the_instruction_budget_carries_across_a_blocking_call(
        lua, loop: int, outcome: list[str]) -> None:
    net = lua(SPLIT_LOOP, limits=Limits(instructions=1_000_000))
    net.deliver(request("MESSAGE", n=1, extra=f"X-Loop: {loop}\r\n"), wait=0.01)
    net.deliver(request("OPTIONS", n=2), wait=0.1)  # a full budget of its own
    assert net.recorded == outcome  # 2 x 650,000 exceed the 1,000,000 of the run
    finals = [m.status for m in net.take(UAC) if isinstance(m, Response) and m.status >= 200]
    assert sorted(finals) == ([200, 200] if outcome else [200, 500])
