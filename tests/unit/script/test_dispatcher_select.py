"""KSR.dispatcher through a real Core and Lua script (tests/support/luanet.py): what
ds_select_dst & co. do to $du, the R-URI and $xavp(_dsdst_), failover in a failure
route (Kamailio dispatcher README §4.1-4.12 and its sample config, §6.2), and that a
reload in the middle of a call does not take its candidates away."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from geosip.modules.dispatcher import mod
from geosip.modules.dispatcher.store import STORE
from geosip.transport.base import Endpoint
from tests.support.luanet import UAC, LuaNet, request, statuses

MODULES = ("tm", "tmx", "sl", "async", "dispatcher")
GW = [Endpoint("udp", "127.0.0.1", port) for port in (5081, 5082, 5083)]
# Kamailio indexes destinations of equal priority in reverse file order (dispatch.c:
# add_dest2list, reindex_dests): set 1 is indexed 5083, 5082, 5081
LIST = """
# set 1: three gateways, equal priority
1 sip:127.0.0.1:5081 0 0 duid=gw1;maxload=2
1 sip:127.0.0.1:5082 0 0 duid=gw2
1 sip:127.0.0.1:5083 0 0 duid=gw3   # trailing comment
# set 2: by priority
2 sip:127.0.0.1:5082 0 5
2 sip:127.0.0.1:5083 0 10 socket=udp:127.0.0.1:5060
"""

RECORD = """
function ksr_request_route()
  local rc = KSR.dispatcher.ds_select_dst(SETID, ALG)
  KSR.test.record(rc)
  KSR.test.record(KSR.pv.get("$du") or "none")
  KSR.test.record(KSR.pv.get("$xavp(_dsctx_=>cnt)") or 0)
  KSR.sl.sl_send_reply(200, "OK")
end
"""

FAILOVER = """
function ksr_request_route()
  if KSR.dispatcher.ds_select_dst(1, 4) < 0 then
    KSR.sl.sl_send_reply(503, "No destination")
    KSR.x.exit()
  end
  KSR.tm.t_on_failure("ksr_failure_dispatch")
  KSR.tm.t_relay()
end

function ksr_failure_dispatch()
  if KSR.tm.t_check_status("500") > 0 or (KSR.tm.t_branch_timeout() > 0
      and KSR.tm.t_branch_replied() < 0) then
    KSR.test.record("failover from " .. KSR.pv.get("$du"))
    if KSR.dispatcher.ds_next_dst() > 0 then
      KSR.tm.t_on_failure("ksr_failure_dispatch")
      KSR.tm.t_relay()
    end
  end
end
"""


@pytest.fixture
def listfile(tmp_path: Path) -> Path:
    path = tmp_path / "dispatcher.list"
    path.write_text(LIST)
    return path


@pytest.fixture
def setup(tmp_path: Path, listfile: Path) -> Iterator[object]:
    nets: list[LuaNet] = []

    def make(script: str, alg: int = 4, **params: object) -> LuaNet:
        mod.init({"list_file": str(listfile), "flags": 2, **params})
        script = script.replace("ALG", str(alg)).replace("SETID", "1")
        net = LuaNet(script, tmp_path, modules=MODULES)
        nets.append(net)
        return net

    yield make
    for net in nets:
        net.stop()
    mod.destroy()


def call(net: LuaNet, n: int, extra: str = "") -> list[object]:
    before = len(net.recorded)
    net.deliver(request("OPTIONS", n=n, extra=extra))
    return net.recorded[before:]


def invite(net: LuaNet, n: int) -> list[object]:
    before = len(net.recorded)
    net.deliver(request("INVITE", n=n))
    return net.recorded[before:]


def test_round_robin_sets_du_and_keeps_every_candidate(setup) -> None:  # type: ignore[no-untyped-def]
    net = setup(RECORD, 4)
    got = [call(net, n) for n in range(4)]
    assert got == [[1, "sip:127.0.0.1:5083", 3], [1, "sip:127.0.0.1:5082", 3],
                   [1, "sip:127.0.0.1:5081", 3], [1, "sip:127.0.0.1:5083", 3]]


def test_unknown_set_and_no_usable_destination_fail(setup) -> None:  # type: ignore[no-untyped-def]
    net = setup(RECORD.replace('SETID', "9"), 4)
    assert call(net, 1) == [-1, "none", 0]
    net2 = setup(RECORD, 8)
    for dest in STORE.sets[1].dests:
        dest.flags = 1  # inactive
    assert call(net2, 2) == [-1, "none", 0]


def test_priority_order_and_the_socket_attribute(setup) -> None:  # type: ignore[no-untyped-def]
    script = RECORD.replace('SETID', "2").replace(
        'KSR.sl.sl_send_reply(200, "OK")',
        'KSR.test.record(KSR.pv.get("$xavp(_dsdst_[1]=>uri)"))\n'
        '  KSR.test.record(KSR.pv.get("$xavp(_dsdst_=>sock)"))\n'
        '  KSR.sl.sl_send_reply(200, "OK")')
    net = setup(script, 8)
    assert call(net, 1) == [1, "sip:127.0.0.1:5083", 2, "sip:127.0.0.1:5082",
                            "udp:127.0.0.1:5060"]


def test_call_id_hash_is_stable_and_follows_kamailio_hash(setup) -> None:  # type: ignore[no-untyped-def]
    net = setup(RECORD, 0)
    first = call(net, 7)
    assert call(net, 7) == first  # same Call-ID, same gateway
    from geosip.modules.dispatcher.algorithms import ds_hash
    index = ds_hash("7-call@127.0.0.1") % 3  # index 0 is the file's last line
    assert first[1] == f"sip:127.0.0.1:{5083 - index}"


def test_without_failover_flag_nothing_is_kept(setup) -> None:  # type: ignore[no-untyped-def]
    net = setup(RECORD, 4, flags=0)
    assert call(net, 1) == [1, "sip:127.0.0.1:5083", 0]


def test_select_domain_rewrites_the_request_uri(setup) -> None:  # type: ignore[no-untyped-def]
    script = """
function ksr_request_route()
  KSR.test.record(KSR.dispatcher.ds_select_domain_limit(1, 4, 2))
  KSR.test.record(KSR.pv.get("$ru"))
  KSR.test.record(KSR.pv.get("$du") or "none")
  KSR.test.record(KSR.pv.get("$xavp(_dsctx_=>cnt)"))
  KSR.test.record(KSR.dispatcher.ds_next_domain())
  KSR.test.record(KSR.pv.get("$ru"))
  KSR.test.record(KSR.dispatcher.ds_next_domain())
  KSR.sl.sl_send_reply(200, "OK")
end
"""
    net = setup(script)
    assert call(net, 1) == [1, "sip:service@127.0.0.1:5083", "none", 2, 1,
                            "sip:service@127.0.0.1:5082", -1]


def test_failover_to_the_next_gateway_on_500(setup) -> None:  # type: ignore[no-untyped-def]
    net = setup(FAILOVER)
    net.deliver(request("INVITE", n=1))
    [invite] = net.take(GW[2])  # round robin from index 0: 5083
    net.reply_to(invite, "500 Server Error", source=GW[2])
    assert net.recorded == ["failover from sip:127.0.0.1:5083"]
    assert statuses(net.take(GW[2])) == ["ACK"]
    [invite2] = net.take(GW[1])
    net.reply_to(invite2, "200 OK", source=GW[1])
    assert statuses(net.take(UAC)) == [100, 200]


def test_failover_skips_a_gateway_marked_down_meanwhile(setup) -> None:  # type: ignore[no-untyped-def]
    net = setup(FAILOVER)
    net.deliver(request("INVITE", n=1))
    [invite] = net.take(GW[2])
    STORE.sets[1].dests[1].flags = 1  # 5082 went inactive while 5083 was tried
    net.reply_to(invite, "500 Server Error", source=GW[2])
    assert net.take(GW[1]) == []
    assert [m.method for m in net.take(GW[0])] == ["INVITE"]  # type: ignore[union-attr]


def test_a_reload_mid_call_keeps_its_candidates(setup, listfile: Path) -> None:  # type: ignore[no-untyped-def]
    net = setup(FAILOVER, reload_delta=0)
    net.deliver(request("INVITE", n=1))
    [invite] = net.take(GW[2])
    listfile.write_text("1 sip:127.0.0.1:5081\n")  # 5082 is gone from the new list
    from geosip.modules.dispatcher import rpc
    assert rpc.ds_reload() == "Ok. Dispatcher successfully reloaded."
    assert [d.uri for d in STORE.sets[1].dests] == ["sip:127.0.0.1:5081"]
    net.reply_to(invite, "500 Server Error", source=GW[2])
    assert [m.method for m in net.take(GW[1])] == ["INVITE"]  # type: ignore[union-attr]


def test_every_candidate_failing_gives_the_best_answer(setup) -> None:  # type: ignore[no-untyped-def]
    net = setup(FAILOVER)
    net.deliver(request("INVITE", n=1))
    for gw in reversed(GW):  # round robin from index 0: 5083, 5082, 5081
        [invite] = [m for m in net.take(gw) if m.method == "INVITE"]  # type: ignore[union-attr]
        net.reply_to(invite, "500 Server Error", source=gw)
    assert net.recorded == [f"failover from sip:127.0.0.1:508{i}" for i in (3, 2, 1)]
    assert statuses(net.take(UAC))[-1] == 500


def test_mark_dst_and_is_active(setup) -> None:  # type: ignore[no-untyped-def]
    script = """
function ksr_request_route()
  KSR.dispatcher.ds_select_dst(1, 4)
  KSR.test.record(KSR.dispatcher.ds_mark_dst_state("ip"))
  KSR.test.record(KSR.dispatcher.ds_is_active_uri(1, "sip:127.0.0.1:5083"))
  KSR.test.record(KSR.dispatcher.ds_is_active_uri(1, "sip:127.0.0.1:5081"))
  KSR.test.record(KSR.dispatcher.ds_is_active(1))
  KSR.test.record(KSR.dispatcher.ds_next_dst())
  KSR.test.record(KSR.dispatcher.ds_mark_dst())
  KSR.test.record(KSR.dispatcher.ds_mark_dst_state("bogus"))
  KSR.test.record(KSR.dispatcher.ds_list_exists(1))
  KSR.test.record(KSR.dispatcher.ds_list_exists(5))
  KSR.sl.sl_send_reply(200, "OK")
end
"""
    net = setup(script)
    # selected 5083 (marked inactive+probing), then 5082 (marked inactive)
    assert call(net, 1) == [1, -1, 1, 1, 1, 1, -1, 1, -1]
    from geosip.modules.dispatcher.rpc import ds_list
    targets = [t["DEST"] for t in ds_list()["RECORDS"][0]["SET"]["TARGETS"]]
    # ds.list shows Kamailio's index order
    assert [(t["URI"], t["FLAGS"]) for t in targets] == [
        ("sip:127.0.0.1:5083", "IP"), ("sip:127.0.0.1:5082", "IX"),
        ("sip:127.0.0.1:5081", "AX")]


def test_is_from_list_matches_source_address(setup) -> None:  # type: ignore[no-untyped-def]
    script = """
function ksr_request_route()
  KSR.test.record(KSR.dispatcher.ds_is_from_lists())
  KSR.test.record(KSR.dispatcher.ds_is_from_list(2))
  KSR.test.record(KSR.dispatcher.ds_is_from_list(1))
  KSR.test.record(KSR.pv.get("$var(setid)"))
  KSR.test.record(KSR.pv.get("$var(attrs)"))
  KSR.test.record(KSR.dispatcher.ds_is_from_list_mode(-1, 1))
  KSR.test.record(KSR.dispatcher.ds_is_from_list_uri(2, 0, "sip:127.0.0.1:5083"))
  KSR.test.record(KSR.dispatcher.ds_is_from_list_uri(2, 0, "sip:127.0.0.1:5081"))
  KSR.sl.sl_send_reply(200, "OK")
end
"""
    net = setup(script, setid_pvname="$var(setid)", attrs_pvname="$var(attrs)")
    before = len(net.recorded)
    net.deliver(request("OPTIONS", n=1), source=GW[0])
    assert net.recorded[before:] == [1, -1, 1, 1, "duid=gw1;maxload=2", 1, 1, -1]
    net.deliver(request("OPTIONS", n=2), source=Endpoint("udp", "127.0.0.1", 5999))
    assert net.recorded[before + 8:before + 11] == [-1, -1, -1]


def test_call_load_picks_the_least_loaded_and_honours_maxload(setup) -> None:  # type: ignore[no-untyped-def]
    script = """
function ksr_request_route()
  if KSR.is_BYE() then
    KSR.test.record(KSR.dispatcher.ds_load_update())
  else
    KSR.test.record(KSR.dispatcher.ds_select_dst(1, 10))
    KSR.test.record(KSR.pv.get("$du") or "none")
  end
  KSR.sl.sl_send_reply(200, "OK")
end
"""
    net = setup(script)
    STORE.loads.add("busy-2", 1, "gw2")
    STORE.loads.add("busy-3", 1, "gw3")
    got = [invite(net, n)[1] for n in range(5)]
    # gw1 (0 calls); then all have 1 and the lowest index wins a tie (Kamailio's
    # ds_get_leastloaded: index 0 is gw3); then gw2 and gw1 tie: gw2; then gw1 (1
    # call) once more; now gw1 is at maxload=2 and gw3 and gw2 (2 each) tie: gw3
    assert got == ["sip:127.0.0.1:5081", "sip:127.0.0.1:5083", "sip:127.0.0.1:5082",
                   "sip:127.0.0.1:5081", "sip:127.0.0.1:5083"]
    before = len(net.recorded)
    net.deliver(request("BYE", n=0, to_tag="x"))
    assert net.recorded[before:] == [1]
    assert (STORE.loads.load("gw1"), STORE.loads.load("gw3")) == (1, 3)
    # only an INVITE starts a call (README §4.1, alg 10)
    assert call(net, 9) == [-1, "none"]


def test_select_routes_combines_groups(setup) -> None:  # type: ignore[no-untyped-def]
    script = """
function ksr_request_route()
  KSR.test.record(KSR.dispatcher.ds_select_routes("2=8;1=4", "ruri"))
  KSR.test.record(KSR.pv.get("$ru"))
  KSR.test.record(KSR.pv.get("$xavp(_dsctx_=>cnt)"))
  KSR.test.record(KSR.dispatcher.ds_select_routes_limit("9=4", "dst", 1))
  KSR.test.record(KSR.dispatcher.ds_select_routes("1=4", "bogus"))
  KSR.sl.sl_send_reply(200, "OK")
end
"""
    net = setup(script)
    # set 2 by priority (5083, 5082), then set 1 round robin (5081, 5082, 5083)
    assert call(net, 1) == [1, "sip:service@127.0.0.1:5083", 5, -1, -1]
