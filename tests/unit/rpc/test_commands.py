"""The core RPC commands on a real Core and Lua Engine (no sockets), with Kamailio's
result shapes: kex's stats.get_statistics ("group:name = value" lines), core.uptime's
struct, tm_rpc_stats's struct, app_lua's reload {old, new} and api_list {msize,
methods}, cfg.* on tm timers, the log level and runtime module parameters, and usrloc's
ul.* served through its EXPORTS.rpc."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from geosip.core.core import Core
from geosip.core.routing import Myself
from geosip.modules.maxfwd import maxfwd
from geosip.rpc.context import RpcContext, build
from geosip.rpc.errors import RpcError
from geosip.rpc.metrics import render
from geosip.script.apidoc import api_markdown
from geosip.script.engine import Engine
from geosip.script.registry import all_exports
from geosip.script.router import LuaRouter

MODULES = ("tm", "sl", "maxfwd", "usrloc")
SCRIPT = "function ksr_request_route() KSR.sl.sl_send_reply(200, 'one') end\n"


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[RpcContext]:
    script = tmp_path / "route.lua"
    script.write_text(SCRIPT)
    exports = all_exports(MODULES)
    for module in exports:
        if module.init is not None:
            module.init(None)
    core = Core(LuaRouter(Engine(script, exports)), Myself())
    level = logging.getLogger().level
    yield build(core, core.router, [m for m in exports if m.name in MODULES],
                {"maxfwd": {"max_limit": 30}})
    logging.getLogger().setLevel(level)
    for module in exports:
        if module.destroy is not None:
            module.destroy()


def call(ctx: RpcContext, method: str, *params: Any) -> Any:
    return ctx.dispatcher.call(method, list(params))


def test_list_methods_has_core_and_module_commands(ctx: RpcContext) -> None:
    methods = call(ctx, "system.listMethods")
    assert methods == sorted(methods)
    for name in ("core.uptime", "core.version", "stats.get_statistics", "cfg.set",
                 "app_lua.reload", "app_lua.api_list", "tm.stats", "ul.dump", "ul.add"):
        assert name in methods
    assert "Usage: ul.rm table AOR [contact]" in call(ctx, "system.methodHelp", "ul.rm")
    with pytest.raises(RpcError) as caught:
        call(ctx, "system.methodHelp", "ds.list")
    assert caught.value.code == 404


def test_get_statistics_selects_all_a_group_or_one(ctx: RpcContext) -> None:
    ctx.stats.inc("core:rcv_requests", 3)
    ctx.stats.inc("core:rcv_requests_invite", 2)
    everything = call(ctx, "stats.get_statistics", "all")
    assert "core:rcv_requests = 3" in everything
    assert "core:drop_requests = 0" in everything        # declared: listed before use
    assert "usrloc:registered_users = 0" in everything   # a module's gauge
    assert "tm:inuse_transactions = 0" in everything
    assert any(line.startswith("shmem:real_used_size = ") for line in everything)
    core = call(ctx, "stats.get_statistics", "core:")
    assert core and all(line.startswith("core:") for line in core)
    assert call(ctx, "stats.get_statistics", "core:rcv_requests_invite") == \
        ["core:rcv_requests_invite = 2"]
    assert call(ctx, "stats.get_statistics", "rcv_requests") == ["core:rcv_requests = 3"]
    assert call(ctx, "stats.fetch", "core:rcv_requests") == {"core.rcv_requests": "3"}
    assert call(ctx, "stats.get_statistics", "nosuch:thing") == []


def test_reset_zeroes_counters_and_leaves_gauges_live(ctx: RpcContext) -> None:
    from geosip.modules.usrloc import api as usrloc

    ctx.stats.inc("core:rcv_requests", 3)
    ctx.stats.inc("sl:2xx_replies")
    usrloc.ul_add("location", "alice", "sip:alice@192.0.2.1", 60)
    assert call(ctx, "stats.reset_statistics", "core:") is None
    assert ctx.stats.get("core:rcv_requests") == 0
    assert ctx.stats.get("sl:2xx_replies") == 1
    call(ctx, "stats.reset_statistics", "all")
    assert ctx.stats.get("sl:2xx_replies") == 0
    assert call(ctx, "stats.get_statistics", "usrloc:") == [
        "usrloc:location-contacts = 1", "usrloc:registered_users = 1"]


def test_uptime_version_ps(ctx: RpcContext) -> None:
    import os

    uptime = call(ctx, "core.uptime")
    assert set(uptime) == {"now", "up_since", "uptime"} and uptime["uptime"] >= 0
    assert call(ctx, "core.version").startswith("geosip ")
    assert call(ctx, "core.ps")[0] == os.getpid()
    assert set(call(ctx, "core.info")) == {"version", "id", "compiler", "compiled", "flags"}
    assert call(ctx, "core.tcp_info")["opened_connections"] == 0


def test_child_processes_in_core_ps_and_gateway_list(ctx: RpcContext) -> None:
    """The processes geosip run keeps (cli/children.py): listed while they run, with
    their restarts; a killed one is down until the supervisor starts it again."""
    import os
    import signal
    import sys
    import time

    import gevent

    from geosip.cli.children import Child, Supervisor

    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    ctx.children = Supervisor([Child("gateway demo", sleeper)], backoff=0.2)
    ctx.children.start()
    try:
        deadline = time.monotonic() + 10
        while not call(ctx, "gateway.list")[0]["running"] and time.monotonic() < deadline:
            gevent.sleep(0.05)
        [demo] = call(ctx, "gateway.list")
        assert demo["name"] == "gateway demo" and demo["running"] and demo["restarts"] == 0
        assert call(ctx, "core.ps") == [os.getpid(), call(ctx, "core.ps")[1],
                                        demo["pid"], "gateway demo"]
        os.kill(demo["pid"], signal.SIGKILL)
        while call(ctx, "gateway.list")[0]["restarts"] == 0 and time.monotonic() < deadline:
            gevent.sleep(0.05)
        [again] = call(ctx, "gateway.list")
        assert again["restarts"] == 1 and again["pid"] != demo["pid"]
    finally:
        ctx.children.stop()
    assert call(ctx, "gateway.list")[0]["running"] is False
    assert len(call(ctx, "core.ps")) == 2


def test_tm_stats_shape(ctx: RpcContext) -> None:
    ctx.stats.inc("tm:UAS_transactions", 4)
    ctx.stats.final_reply(486)
    stats = call(ctx, "tm.stats")
    assert list(stats) == ["current", "waiting", "total", "total_local",
                           "6xx", "5xx", "4xx", "3xx", "2xx"]
    assert (stats["total"], stats["4xx"], stats["current"]) == (4, 1, 0)
    assert call(ctx, "tm.list") == []


def test_cfg_set_tm_timer_applies_to_new_transactions(ctx: RpcContext) -> None:
    assert call(ctx, "cfg.get", "tm", "fr_inv_timer") == 120000
    call(ctx, "cfg.set", "tm", "fr_inv_timer", 2500)
    assert ctx.core.tm.fr_inv_timer == 2.5
    assert call(ctx, "cfg.get", "tm", "fr_inv_timer") == 2500
    call(ctx, "cfg.set", "tm", "fr_timer", 1000)
    assert (ctx.core.tm.timers.timer_b, ctx.core.tm.timers.timer_f) == (1.0, 1.0)
    for bad, code in (("soon", 400), (-5, 400)):
        with pytest.raises(RpcError) as caught:
            call(ctx, "cfg.set", "tm", "fr_timer", bad)
        assert caught.value.code == code
    with pytest.raises(RpcError) as caught:
        call(ctx, "cfg.set", "tm", "no_timer", 1)
    assert caught.value.code == 404 and "tm.no_timer" in caught.value.message


def test_cfg_set_core_debug_changes_the_log_level(ctx: RpcContext) -> None:
    call(ctx, "cfg.set", "core", "debug", 3)
    assert logging.getLogger().level == logging.DEBUG
    assert call(ctx, "cfg.get", "core", "debug") == 3
    call(ctx, "cfg.set", "core", "debug", -1)
    assert logging.getLogger().level == logging.ERROR


def test_cfg_runtime_module_parameter(ctx: RpcContext) -> None:
    assert "maxfwd: max_limit" in call(ctx, "cfg.list")
    assert "usrloc: db_mode" not in call(ctx, "cfg.list")   # not runtime=True
    assert call(ctx, "cfg.get", "maxfwd", "max_limit") == 30
    call(ctx, "cfg.set", "maxfwd", "max_limit", 16)
    assert maxfwd.SETTINGS["max_limit"] == 16
    assert call(ctx, "cfg.get", "maxfwd", "max_limit") == 16
    with pytest.raises(RpcError) as caught:
        call(ctx, "cfg.set", "maxfwd", "max_limit", 300)   # the module's init refuses
    assert caught.value.code == 400 and "0-255" in caught.value.message
    assert call(ctx, "cfg.get", "maxfwd", "max_limit") == 16
    with pytest.raises(RpcError):
        call(ctx, "cfg.set", "usrloc", "db_mode", 1)


def test_app_lua_reload_swaps_the_script_or_keeps_the_old(ctx: RpcContext,
                                                           tmp_path: Path) -> None:
    engine = ctx.engine
    old = engine.script
    assert call(ctx, "app_lua.reload") == {"old": 1, "new": 2}
    assert engine.script is not old
    current = engine.script
    (tmp_path / "route.lua").write_text("function ksr_request_route( end\n")
    with pytest.raises(RpcError) as caught:
        call(ctx, "app_lua.reload")
    assert caught.value.code == 500
    assert caught.value.message.startswith("Reload Failed: ") and "route.lua" in caught.value.message
    assert engine.script is current


def test_api_list_matches_the_api_reference(ctx: RpcContext) -> None:
    listed = call(ctx, "app_lua.api_list")
    assert listed["msize"] == len(listed["methods"])
    names = {(m["func"]["module"], m["func"]["name"]) for m in listed["methods"]}
    assert ("sl", "sl_send_reply") in names and ("x", "exit") in names
    entry = next(m["func"] for m in listed["methods"] if m["func"]["name"] == "sl_send_reply")
    assert entry == {"ret": "int", "module": "sl", "name": "sl_send_reply",
                     "params": "int, str"}
    # the same functions as the generated reference for these modules (apidoc.py)
    reference = api_markdown(ctx.engine.modules)
    for module, name in names:
        assert f"`KSR.{module + '.' if module else ''}{name}(" in reference


def test_ul_commands(ctx: RpcContext) -> None:
    assert call(ctx, "ul.add", "location", "bob", "sip:bob@192.0.2.7", 3600) is None
    found = call(ctx, "ul.lookup", "location", "bob")
    assert found["AoR"] == "bob" and found["Contacts"][0]["Address"] == "sip:bob@192.0.2.7"
    assert call(ctx, "ul.dump")["Domains"][0]["AoRs"][0]["AoR"] == "bob"
    assert call(ctx, "ul.rm", "location", "bob") == 1
    with pytest.raises(RpcError) as caught:
        call(ctx, "ul.lookup", "location", "bob")
    assert (caught.value.code, caught.value.message) == (404, "AOR bob not found in location")
    with pytest.raises(RpcError) as caught:
        call(ctx, "ul.add", "location", "bob", "sip:bob@192.0.2.7", -1)
    assert caught.value.code == 400


def test_metrics_parse_with_prometheus_client(ctx: RpcContext) -> None:
    ctx.stats.inc("core:rcv_requests", 7)
    families = {f.name: f for f in text_string_to_metric_families(render(ctx.stats).decode())}
    rcv = families["geosip_core_rcv_requests"]
    assert rcv.type == "counter" and rcv.documentation
    assert [(s.name, s.value) for s in rcv.samples if s.name.endswith("_total")] == [
        ("geosip_core_rcv_requests_total", 7.0)]
    assert families["geosip_usrloc_location_contacts"].type == "gauge"
    assert families["geosip_shmem_real_used_size"].samples[0].value > 0
