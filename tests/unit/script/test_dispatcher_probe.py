"""dispatcher's health checks: the state machine (Kamailio's dispatcher README §3.22-3.25,
§4.9) on its own, then OPTIONS keepalives through a real Core whose transport records
what is sent (tests/support/luanet.py): thresholds, reply codes, probing modes, the
dispatcher:dst-down/up events run through event_callback, and the RPC view of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gevent
import pytest

from geosip.modules.dispatcher import mod, probe, rpc
from geosip.modules.dispatcher.destinations import (INACTIVE, PROBING, TRYING, Row,
                                                    build_sets)
from geosip.modules.dispatcher.state import (DOWN, UP, Thresholds, flags_text, mark,
                                             parse_state, probe_result)
from geosip.modules.dispatcher.store import STORE
from geosip.sip import Request
from geosip.transport.base import Endpoint
from tests.support.luanet import LuaNet

GW1 = Endpoint("udp", "127.0.0.1", 5081)
GW2 = Endpoint("udp", "127.0.0.1", 5082)


def dest(flags: int = 0) -> object:
    return build_sets([Row(1, "sip:127.0.0.1:5081", flags)])[1].dests[0]


# ---- the state machine ------------------------------------------------------------------

@pytest.mark.parametrize(("text", "flags"), [("a", 0), ("ap", PROBING), ("I", INACTIVE),
                                             ("ip", INACTIVE | PROBING), ("t", TRYING),
                                             ("d", 4), ("dp", 4), ("0", INACTIVE),
                                             ("x", None), ("", None)])
def test_states(text: str, flags: int | None) -> None:
    assert parse_state(text) == flags


def test_flags_text_as_kamcmd_shows_them() -> None:
    assert [flags_text(f) for f in (0, PROBING, INACTIVE | PROBING, TRYING, 4, INACTIVE)] == \
        ["AX", "AP", "IP", "TX", "DX", "IX"]


def test_probing_threshold_goes_through_trying() -> None:
    d, limits = dest(), Thresholds(probing=3, inactive=2, mode=1)
    assert [probe_result(d, False, limits) for _ in range(3)] == [None, None, DOWN]
    assert flags_text(d.flags) == "IP"  # type: ignore[attr-defined]
    # back only after ds_inactive_threshold successes in a row
    assert probe_result(d, True, limits) is None
    assert probe_result(d, False, limits) is None
    assert [probe_result(d, True, limits) for _ in range(2)] == [None, UP]
    assert flags_text(d.flags) == "AP"  # type: ignore[attr-defined]


def test_a_success_resets_the_failure_count() -> None:
    d, limits = dest(), Thresholds(probing=2, mode=1)
    probe_result(d, False, limits)
    assert flags_text(d.flags) == "TP"  # type: ignore[attr-defined]
    probe_result(d, True, limits)
    assert probe_result(d, False, limits) is None  # one failure again, not two


def test_mode_0_clears_probing_once_the_destination_answers() -> None:
    d, limits = dest(INACTIVE | PROBING), Thresholds(mode=0)
    assert probe_result(d, False, limits) is None
    assert flags_text(d.flags) == "IP"  # type: ignore[attr-defined]
    assert probe_result(d, True, limits) == UP
    assert flags_text(d.flags) == "AX"  # type: ignore[attr-defined]


def test_marks_and_disabled() -> None:
    d, limits = dest(), Thresholds(probing=2)
    assert mark(d, TRYING, limits) is None and flags_text(d.flags) == "TX"  # type: ignore[attr-defined]
    assert mark(d, TRYING, limits) == DOWN and flags_text(d.flags) == "IX"  # type: ignore[attr-defined]
    assert mark(d, TRYING, limits) is None and flags_text(d.flags) == "IX"  # type: ignore[attr-defined]
    assert mark(d, PROBING, limits) == UP and flags_text(d.flags) == "AP"  # type: ignore[attr-defined]
    assert mark(d, 4, limits) == DOWN
    assert probe_result(d, True, limits) is None and flags_text(d.flags) == "DX"  # type: ignore[attr-defined]


# ---- keepalives through the core --------------------------------------------------------

SCRIPT = """
function ksr_request_route() end
function ksr_dispatcher_event(evname)
  KSR.test.record(evname .. " " .. KSR.pv.get("$rm") .. " " .. KSR.pv.get("$ru") .. " "
                  .. KSR.pv.get("$du"))
end
"""


@pytest.fixture
def net(tmp_path: Path) -> Iterator[object]:
    path = tmp_path / "dispatcher.list"
    path.write_text("1 sip:127.0.0.1:5081 0 0 ping_from=sip:lb@example.com\n"
                    "1 sip:127.0.0.1:5082\n")
    made: list[LuaNet] = []

    def make(**params: object) -> LuaNet:
        mod.init({"list_file": str(path), "ds_probing_mode": 1,
                  "event_callback": "ksr_dispatcher_event", "reload_delta": 0, **params})
        made.append(LuaNet(SCRIPT, tmp_path, modules=("tm", "dispatcher")))
        STORE.core = made[-1].core
        return made[-1]

    yield make
    for n in made:
        n.stop()
    mod.destroy()


def probes(n: LuaNet, gw: Endpoint) -> list[Request]:
    return [m for m in n.take(gw) if isinstance(m, Request)]


def targets() -> list[str]:
    """The flags ds.list shows, in Kamailio's index order: equal priorities in reverse
    file order, so 5082 (GW2) first, then 5081 (GW1)."""
    found = rpc.ds_list()["RECORDS"][0]["SET"]["TARGETS"]
    assert [t["DEST"]["URI"] for t in found] == ["sip:127.0.0.1:5082", "sip:127.0.0.1:5081"]
    return [t["DEST"]["FLAGS"] for t in found]


def test_options_probe_shape(net) -> None:  # type: ignore[no-untyped-def]
    n = net()
    assert targets() == ["AP", "AP"]  # mode 1 probes them all
    probe.ping_once(n.core)
    [options] = probes(n, GW1)
    assert options.method == "OPTIONS" and options.uri_text == "sip:127.0.0.1:5081"
    assert str(options.from_.uri) == "sip:lb@example.com"
    assert str(options.to.uri) == "sip:127.0.0.1:5081"
    [other] = probes(n, GW2)
    assert str(other.from_.uri) == "sip:dispatcher@localhost"


def test_a_silent_destination_goes_down_and_comes_back(net) -> None:  # type: ignore[no-untyped-def]
    n = net()
    probe.ping_once(n.core)
    [p1], [p2] = probes(n, GW1), probes(n, GW2)
    n.reply_to(p1, "200 OK", source=GW1)
    gevent.sleep(0.8)  # no answer from GW2: tm's local 408 (fr_timer 0.4 s in LuaNet)
    assert targets() == ["IP", "AP"]
    assert n.recorded == ["dispatcher:dst-down OPTIONS sip:127.0.0.1:5082 sip:127.0.0.1:5082"]
    n.take(GW2)  # the retransmissions of the unanswered probe
    probe.ping_once(n.core)
    for gw in (GW1, GW2):
        [p] = probes(n, gw)
        n.reply_to(p, "200 OK", source=gw)
    gevent.sleep(0.05)
    assert targets() == ["AP", "AP"]
    assert n.recorded[1:] == ["dispatcher:dst-up OPTIONS sip:127.0.0.1:5082 sip:127.0.0.1:5082"]
    assert [t["DEST"].get("LATENCY") for t in
            rpc.ds_list()["RECORDS"][0]["SET"]["TARGETS"]] == [None, None]


def test_reply_codes_decide_what_counts_as_up(net) -> None:  # type: ignore[no-untyped-def]
    n = net(ds_ping_reply_codes="code=404", ds_probing_threshold=2)
    probe.ping_once(n.core)
    n.reply_to(probes(n, GW1)[0], "404 Not Here", source=GW1)
    n.reply_to(probes(n, GW2)[0], "403 Forbidden", source=GW2)
    assert targets() == ["TP", "AP"]  # GW2: one failure of two: trying
    probe.ping_once(n.core)
    n.reply_to(probes(n, GW2)[0], "500 Error", source=GW2)
    assert targets() == ["IP", "AP"]


def test_ping_active_and_set_state(net) -> None:  # type: ignore[no-untyped-def]
    n = net()
    assert rpc.ds_ping_active() == {"OldPingState": 1}
    assert rpc.ds_ping_active(0) == {"NewPingState": 0, "OldPingState": 1}
    assert probe.ping_once(n.core) == [] and n.take(GW1) == []
    assert rpc.ds_set_state("ip", 1, "sip:127.0.0.1:5081") == "Ok. Dispatcher state updated."
    assert rpc.ds_set_state("d", 1, "all") == "Ok. Dispatcher state updated."
    assert targets() == ["DX", "DX"]
    with pytest.raises(LookupError):
        rpc.ds_set_state("a", 1, "sip:nowhere")
    with pytest.raises(ValueError):
        rpc.ds_set_state("zz", 1, "all")
    gevent.sleep(0.05)
    assert n.recorded == [  # the events of the set_state calls: $rm/$ru of the faked request
        "dispatcher:dst-down OPTIONS sip:you@kamailio.org sip:127.0.0.1:5081",
        "dispatcher:dst-down OPTIONS sip:you@kamailio.org sip:127.0.0.1:5082"]


def test_latency_statistics(net) -> None:  # type: ignore[no-untyped-def]
    n = net(ds_ping_latency_stats=1)
    probe.ping_once(n.core)
    gevent.sleep(0.02)
    n.reply_to(probes(n, GW1)[0], "200 OK", source=GW1)
    gevent.sleep(0.8)
    lat = [t["DEST"]["LATENCY"] for t in rpc.ds_list()["RECORDS"][0]["SET"]["TARGETS"]]
    assert lat[1]["EST"] >= 15 and lat[1]["TIMEOUT"] == 0  # GW1 (index 1) answered
    assert lat[0]["TIMEOUT"] == 1


def test_the_pinger_runs_on_its_interval(net) -> None:  # type: ignore[no-untyped-def]
    n = net(ds_ping_interval=0.1)
    mod.start(n.core)
    gevent.sleep(0.25)
    assert len(probes(n, GW1)) >= 1


def test_reload_rate_limit(net, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    net(reload_delta=60)
    with pytest.raises(ValueError, match="Ongoing reload"):
        rpc.ds_reload()
