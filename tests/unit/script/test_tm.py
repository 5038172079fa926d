"""KSR.tm through real Lua scripts routing the real Core in-process
(tests/support/luanet.py): relaying, transactions, failure/reply/branch routes,
per-transaction timers, dropped replies and serial forking by q-value, each checked on
what the callers and callees got.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import gevent
import pytest

from geosip.core.context import RequestContext
from geosip.modules.tm import api as tm_api
from geosip.script.exports import ModuleExports, ksr
from geosip.sip import Request, Response
from geosip.transport.base import Endpoint
from tests.support.luanet import UAC, UAS, UAS2, LuaNet, request, statuses

UAS3 = Endpoint("udp", "127.0.0.1", 5100)


@ksr("append", "si", returns="1")
def _append(ctx: RequestContext, uri: str, q: int) -> int:
    """Test only: append a branch with a q-value in thousandths (-1: none)."""
    ctx.append_branch(uri)
    tm_api.set_q(ctx, uri, q / 1000 if q >= 0 else None)
    return 1


@ksr("reply_header", "ss", returns="1")
def _reply_header(ctx: RequestContext, name: str, value: str) -> int:
    """Test only: what KSR.hdr.append_to_reply leaves for the reply senders."""
    queued = ctx.script.extra.setdefault(tm_api.REPLY_HEADERS, [])
    queued.append((name, value))  # type: ignore[attr-defined]
    return 1


TEST = ModuleExports(name="t", ksr=(_append, _reply_header))


@pytest.fixture
def lua(tmp_path: Path) -> Iterator:
    nets: list[LuaNet] = []

    def make(script: str) -> LuaNet:
        nets.append(LuaNet(script, tmp_path, extra=(TEST,)))
        return nets[-1]

    yield make
    for net in nets:
        net.stop()


FAILOVER = """
function ksr_request_route()
  KSR.test.record(KSR.tm.t_is_set("failure_route"))
  KSR.tm.t_on_failure("failover")
  KSR.test.record(KSR.tm.t_is_set("failure_route"))
  if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
end
function failover()
  local r = KSR.test.record
  r(KSR.tmx.t_is_failure_route()) r(KSR.tm.t_check_status("^5")) r(KSR.tm.t_check_status("486"))
  r(KSR.tm.t_branch_timeout()) r(KSR.tm.t_branch_replied()) r(KSR.tm.t_any_timeout())
  r(KSR.tm.t_any_replied()) r(KSR.tm.t_grep_status(503)) r(KSR.tm.t_is_canceled())
  r(KSR.tm.t_is_set("failure_route"))
  KSR.seturi("sip:other@127.0.0.1:5090")
  KSR.tm.t_relay()
end
"""


def test_failure_route_forks_serially(lua) -> None:
    net = lua(FAILOVER)
    net.deliver(request())
    [to_a] = net.take(UAS)
    net.reply_to(to_a, "180 Ringing")
    net.reply_to(to_a, "503 Service Unavailable")
    [to_b] = net.take(UAS2)
    assert isinstance(to_b, Request) and to_b.uri_text == "sip:other@127.0.0.1:5090"
    net.reply_to(to_b, "200 OK", UAS2)
    assert statuses(net.take(UAC)) == [100, 180, 200]  # the 503 never reached the caller
    assert net.recorded == [-1, 1,  # t_is_set before and after t_on_failure
                            1, 1, -1, -1, 1, -1, 1, 1, -1, -1]  # disarmed once it ran


def test_failure_route_after_a_timeout(lua) -> None:
    net = lua(FAILOVER)
    net.deliver(request())
    gevent.sleep(0.6)  # fr_timer 0.4 s: no answer at all
    [to_b] = [m for m in net.take(UAS2) if isinstance(m, Request)][:1]
    assert to_b.method == "INVITE"
    assert net.recorded[2:9] == [1, -1, -1, 1, -1, 1, -1]  # timed out, nothing replied
    net.reply_to(to_b, "200 OK", UAS2)
    assert statuses(net.take(UAC))[-1] == 200


def test_no_destination_answers_once(lua) -> None:
    net = lua("""
function ksr_request_route()
  KSR.test.record(KSR.tm.t_relay())
  KSR.test.record(KSR.sl.sl_reply_error())
end""")
    net.core.destination = lambda *args: None  # type: ignore[method-assign]
    net.deliver(request())
    assert statuses(net.take(UAC)) == [100, 500]  # the transaction's local 503 -> 500
    assert net.recorded == [-1, -1]


def test_t_reply_is_stateful_with_reply_headers(lua) -> None:
    net = lua("""
function ksr_request_route()
  KSR.test.record("routed")
  KSR.t.reply_header("X-Why", "testing")
  KSR.test.record(KSR.tm.t_reply(486, "Busy Here"))
  KSR.test.record(KSR.tm.t_reply(404, "Too Late"))
end""")
    net.deliver(request())
    assert statuses(net.take(UAC)) == [100, 486]
    net.deliver(request())  # a retransmission: its transaction answers, no new route
    [again] = net.take(UAC)
    assert isinstance(again, Response) and again.status == 486
    assert again.header("X-Why") == "testing"
    assert net.recorded == ["routed", 1, -1]


def test_t_newtran_codes_and_redirect_contacts(lua) -> None:
    net = lua("""
function ksr_request_route()
  local r = KSR.test.record
  r(KSR.tm.t_lookup_request()) r(KSR.tm.t_newtran()) r(KSR.tm.t_newtran())
  r(KSR.tm.t_lookup_request()) r(KSR.tm.t_check_trans())
  KSR.t.append("sip:b@127.0.0.1:5090", -1)
  r(KSR.tm.t_reply(302, "Moved"))
end""")
    net.deliver(request("OPTIONS"))
    [moved] = net.take(UAC)
    assert isinstance(moved, Response) and moved.status == 302
    assert moved.header("Contact") == "<sip:b@127.0.0.1:5090>"
    assert net.recorded == [-1, 1, -1, 1, 1, 1]


def test_t_check_trans_for_cancel_and_ack(lua) -> None:
    net = lua("""
function ksr_request_route()
  KSR.test.record(KSR.tm.t_check_trans())
  KSR.test.record(KSR.tm.t_lookup_cancel())
  KSR.test.record(KSR.tm.t_newtran())
end""")
    net.deliver(request("CANCEL"))  # no INVITE transaction: -1, and it is dropped
    net.deliver(request("ACK"))
    assert net.recorded == [-1, -1, 1, -1, -1, -1]
    # the CANCEL's transaction, left without relay or reply, answers 500 itself
    assert statuses(net.take(UAC)) == [500]


def test_reply_route_sees_and_drops_provisionals(lua) -> None:
    net = lua("""
function ksr_request_route()
  KSR.tm.t_on_reply("replies")
  KSR.tm.t_relay()
end
function replies()
  KSR.test.record(KSR.tmx.t_is_reply_route())
  KSR.test.record(KSR.tm.t_check_status("18[0-9]"))
  KSR.test.record(KSR.tm.t_check_trans())
  if KSR.tm.t_check_status("183") > 0 or KSR.tm.t_check_status("200") > 0 then
    KSR.drop()  -- a provisional is dropped; a final goes upstream all the same
  end
end""")
    net.deliver(request())
    [out] = net.take(UAS)
    for status in ("180 Ringing", "183 Session Progress", "200 OK"):
        net.reply_to(out, status)
    assert statuses(net.take(UAC)) == [100, 180, 200]
    assert net.recorded == [1, 1, 1, 1, 1, 1, 1, -1, 1]


def test_branch_route_changes_and_drops_branches(lua) -> None:
    net = lua("""
function ksr_request_route()
  KSR.t.append("sip:drop-me@127.0.0.1:5090", -1)
  KSR.tm.t_on_branch("per_branch")
  KSR.test.record(KSR.tm.t_is_set("branch_route"))
  KSR.tm.t_relay()
end
function per_branch()
  KSR.test.record(KSR.tmx.t_is_branch_route())
  if not KSR.is_myself_ruri() and KSR.setuser("changed") and
     KSR.pv.get("$rU") == "changed" then
    KSR.test.record("changed")
  end
  if KSR.pv.get("$ru") == "sip:changed@127.0.0.1:5090" then KSR.drop() end
end""")
    net.deliver(request())
    [to_a] = net.take(UAS)
    assert isinstance(to_a, Request) and to_a.uri_text == "sip:changed@127.0.0.1:5080"
    assert net.take(UAS2) == []  # the branch route dropped the second branch
    assert net.recorded == [1, 1, "changed", 1, "changed"]


def test_branch_route_sees_pv_of_its_branch(lua) -> None:
    """$ru in a branch route is that branch's URI, and the original request is intact."""
    net = lua("""
function ksr_request_route()
  KSR.t.append("sip:b@127.0.0.1:5090", -1)
  KSR.tm.t_on_branch("per_branch")
  KSR.tm.t_relay()
  KSR.test.record(KSR.pv.get("$ru"))
end
function per_branch() KSR.test.record(KSR.pv.get("$ru")) end""")
    net.deliver(request())
    assert net.recorded == ["sip:service@127.0.0.1:5080", "sip:b@127.0.0.1:5090",
                            "sip:service@127.0.0.1:5080"]


def test_t_set_fr_shortens_this_transaction_only(lua) -> None:
    net = lua("""
function ksr_request_route()
  if KSR.is_OPTIONS() then KSR.tm.t_set_fr(0, 100) end
  KSR.tm.t_relay()
end""")
    net.deliver(request("OPTIONS", n=1))
    net.deliver(request("MESSAGE", n=2))
    gevent.sleep(0.25)  # past 100 ms, short of the default fr_timer (0.4 s)
    assert statuses(net.take(UAC)) == [408]
    gevent.sleep(0.3)
    assert statuses(net.take(UAC)) == [408]  # the MESSAGE, on the default timer


def test_t_set_fr_inv_after_a_provisional(lua) -> None:
    net = lua("""
function ksr_request_route()
  KSR.tm.t_relay()
  KSR.test.record(KSR.tm.t_set_fr(150, 0))
end""")
    started = time.monotonic()
    net.deliver(request())
    [out] = net.take(UAS)
    net.reply_to(out, "180 Ringing")
    gevent.sleep(0.35)  # fr_inv_timer 150 ms instead of 600 ms
    assert statuses(net.take(UAC))[:3] == [100, 180, 408]  # (408 repeats until ACKed)
    assert "CANCEL" in statuses(net.take(UAS))
    assert time.monotonic() - started < 0.55 and net.recorded == [1]


def test_drop_replies_changes_the_best_response(lua) -> None:
    script = """
function ksr_request_route() KSR.tm.t_on_failure("again") KSR.tm.t_relay() end
function again()
  if DROP then KSR.test.record(KSR.tm.t_drop_replies("")) end
  KSR.seturi("sip:b@127.0.0.1:5090") KSR.tm.t_relay()
end"""
    for drop, upstream in ((False, 404), (True, 500)):
        net = lua(script.replace("DROP", "true" if drop else "false"))
        net.deliver(request())
        net.reply_to(net.take(UAS)[0], "404 Not Found")
        net.reply_to(net.take(UAS2)[0], "503 Service Unavailable", UAS2)
        assert statuses(net.take(UAC))[-1] == upstream  # 404 beats 503 unless dropped


def test_serial_forking_by_q_value(lua) -> None:
    net = lua("""
function ksr_request_route()
  KSR.seturi("sip:a@127.0.0.1:5100")
  KSR.t.append("sip:b@127.0.0.1:5080", 500)
  KSR.t.append("sip:c@127.0.0.1:5090", 1000)
  KSR.t.append("sip:d@127.0.0.1:5080", 500)
  KSR.test.record(KSR.tm.t_load_contacts())
  KSR.test.record(KSR.tm.t_next_contacts())
  KSR.tm.t_on_failure("next")
  KSR.tm.t_relay()
end
function next()
  local more = KSR.tm.t_next_contacts()
  KSR.test.record(more)
  if more > 0 then KSR.tm.t_on_failure("next") KSR.tm.t_relay() end
end""")
    net.deliver(request())
    [c] = net.take(UAS2)  # q=1 first, alone
    assert c.uri_text == "sip:c@127.0.0.1:5090"  # type: ignore[union-attr]
    assert net.take(UAS) == [] and net.take(UAS3) == []
    net.reply_to(c, "486 Busy Here", UAS2)
    b_and_d = [m for m in net.take(UAS) if isinstance(m, Request) and m.method == "INVITE"]
    assert sorted(m.uri_text for m in b_and_d) == ["sip:b@127.0.0.1:5080",
                                                  "sip:d@127.0.0.1:5080"]  # q=0.5 together
    for m in b_and_d:
        net.reply_to(m, "480 Temporarily Unavailable")
    [a] = [m for m in net.take(UAS3) if isinstance(m, Request)]  # no q: last
    assert a.uri_text == "sip:a@127.0.0.1:5100"
    net.reply_to(a, "404 Not Found", UAS3)
    assert statuses(net.take(UAC)) == [100, 404]
    assert net.recorded == [1, 1, 1, 1, -2]


def test_relay_to_proxy(lua) -> None:
    net = lua("""
function ksr_request_route()
  KSR.test.record(KSR.tm.t_relay_to_proxy("bad:proxy:spec:1"))
  KSR.test.record(KSR.tm.t_relay_to_proxy("udp:127.0.0.1:5090"))
  KSR.test.record(KSR.isdsturiset())
end""")
    net.deliver(request())
    assert net.take(UAS) == []
    [out] = net.take(UAS2)
    assert out.uri_text == "sip:service@127.0.0.1:5080"  # type: ignore[union-attr]
    assert net.recorded == [-1, 1, False]


def test_unknown_failure_route_is_logged_when_due(lua, caplog: pytest.LogCaptureFixture) -> None:
    net = lua("""
function ksr_request_route()
  KSR.test.record(KSR.tm.t_on_failure("nosuch"))
  KSR.test.record(KSR.tm.t_is_set("nosuch_target"))
  KSR.tm.t_relay()
end""")
    net.deliver(request())
    net.reply_to(net.take(UAS)[0], "500 Oops")
    assert statuses(net.take(UAC))[-1] == 500  # the best response went on
    assert net.recorded == [1, -1]
    assert "t_on_failure('nosuch'): the script defines no function nosuch()" in caplog.text


def test_serial_forking_with_corex_branches_and_ru_q(tmp_path: Path) -> None:
    """The q-values corex and $ru_q record are the ones t_load_contacts orders by."""
    net = LuaNet("""
function ksr_request_route()
  KSR.pv.seti("$ru_q", 300)
  KSR.corex.append_branch_uri_q("sip:b@127.0.0.1:5080", "0.5")
  KSR.corex.append_branch_uri_q("sip:c@127.0.0.1:5090", "1.0")
  KSR.tm.t_load_contacts()
  KSR.tm.t_next_contacts()
  KSR.tm.t_on_failure("next")
  KSR.tm.t_relay()
end
function next()
  if KSR.tm.t_next_contacts() > 0 then KSR.tm.t_on_failure("next") KSR.tm.t_relay() end
end""", tmp_path, modules=("tm", "tmx", "sl", "corex"))
    try:
        net.deliver(request())
        order = []
        for dest in (UAS2, UAS, UAS):
            [out] = [m for m in net.take(dest) if isinstance(m, Request) and
                     m.method == "INVITE"][:1]
            order.append(out.uri_text)
            net.reply_to(out, "486 Busy Here", dest)
        assert order == ["sip:c@127.0.0.1:5090", "sip:b@127.0.0.1:5080",
                         "sip:service@127.0.0.1:5080"]
        assert statuses(net.take(UAC))[-1] == 486
    finally:
        net.stop()
