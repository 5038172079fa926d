"""htable through real Lua scripts (LuaNet): Kamailio's KEMI functions and return
codes (htable.c), $sht and its siblings, expiry with the htable:expired:<t> event,
persistence to Kamailio's `htable` table, and the htable.* RPC commands."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest

from geosip.db import models
from geosip.modules.htable import mod as htable
from geosip.modules.htable import rpc, state
from geosip.script.config import read_config
from tests.support.luanet import LuaNet, request

MODULES = ("sl", "htable")


@pytest.fixture
def tables() -> Iterator[None]:
    htable.init({"htable": ["a=>size=8;", "ipban=>autoexpire=60;initval=0",
                            "fixed=>autoexpire=60;updateexpire=0"]})
    yield
    htable.destroy()


def run(tmp_path: Path, body: str, extra: str = "") -> LuaNet:
    net = LuaNet(extra + "\nfunction ksr_request_route()\n" + body + "\nend\n", tmp_path,
                 modules=MODULES)
    net.deliver(request("MESSAGE"), wait=0.05)
    return net


def test_kemi_functions_and_return_codes(tmp_path: Path, tables: None) -> None:
    net = run(tmp_path, """
      local h = KSR.htable
      local function rec(v) KSR.test.record(v == nil and "nil" or v) end
      rec(h.sht_get("a", "x"))
      rec(h.sht_gete("a", "x"))
      rec(h.sht_get("ipban", "10.0.0.1"))         -- initval
      rec(h.sht_sets("a", "x", "one"))
      rec(h.sht_get("a", "x"))
      rec(h.sht_seti("a", "n", 41))
      rec(h.sht_inc("a", "n"))
      rec(h.sht_dec("a", "n"))
      -- missing from a table without initval: -255, nothing created (Kamailio 5.6.3)
      rec(h.sht_inc("a", "fresh"))
      rec(h.sht_gete("a", "fresh"))
      rec(h.sht_dec("a", "fresh"))
      -- with initval=0 a missing item starts from it
      rec(h.sht_inc("ipban", "10.0.0.2"))
      rec(h.sht_dec("ipban", "10.0.0.3"))
      rec(h.sht_inc("a", "x"))                   -- a string: -255
      rec(h.sht_sets("nosuch", "x", "v"))
      rec(h.sht_get("nosuch", "x"))
      h.sht_sets("a", "user:alice", "on")
      h.sht_sets("a", "user:bob", "off")
      rec(h.sht_match_name("a", "sw", "user:"))
      rec(h.sht_has_name("a", "eq", "user:carol"))
      rec(h.sht_match_name("a", "re", "^user:b"))
      rec(h.sht_has_str_value("a", "eq", "off"))
      rec(h.sht_match_str_value("a", "bogus", "x"))
      rec(h.sht_rm_name_re("a", "^user:a"))
      rec(h.sht_gete("a", "user:alice"))
      rec(h.sht_rm_value_re("a", "^of"))
      rec(h.sht_gete("a", "user:bob"))
      rec(h.sht_rm("a", "x"))
      rec(h.sht_rm("a", "x"))
      rec(h.sht_rm_name("a", "sw", "fre"))
      rec(h.sht_get("a", "fresh"))
      rec(h.sht_lock("a", "n") .. h.sht_unlock("a", "n"))
      rec(h.sht_reset("a"))
      rec(h.sht_get("a", "n"))
    """)
    assert net.recorded == ["nil", "", 0, 1, "one", 1, 42, 41, -255, "", -255, 1, -1,
                            -255, -1, "nil",
                            1, -1, 1, 1, -1, 1, "", 1, "", 1, 1, 1, "nil", "11", 1, "nil"]


def test_sht_pvs_and_iterators(tmp_path: Path, tables: None) -> None:
    net = run(tmp_path, """
      KSR.pv.sets("$var(ip)", "192.0.2.1")
      KSR.pv.seti("$sht(ipban=>$var(ip))", 3)
      KSR.test.record(KSR.htable.sht_get("ipban", "192.0.2.1"))
      KSR.test.record(KSR.pv.get("$shtinc(ipban=>$var(ip))"))
      KSR.test.record(KSR.pv.get("$shtdec(ipban=>192.0.2.1)"))
      -- a missing item of a table without initval: $null and nothing created
      KSR.test.record(KSR.pv.get("$shtinc(a=>none)") == nil)
      KSR.test.record(KSR.pv.get("$shtdec(a=>none)") == nil)
      KSR.test.record(KSR.htable.sht_gete("a", "none"))
      KSR.test.record(KSR.pv.get("$shtdec(ipban=>192.0.2.9)"))
      KSR.pv.sets("$sht(a=>k1)", "v1")
      KSR.pv.seti("$sht(a=>k2)", 2)
      KSR.test.record(KSR.pv.get("$shtcn(a=>^k)") .. " " .. KSR.pv.get("$shtcv(a=>^v)"))
      KSR.test.record(KSR.pv.get("$shtex(ipban=>192.0.2.1)"))
      KSR.test.record(KSR.pv.get("$shtex(a=>k1)"))
      KSR.pv.unset("$sht(a=>k1)")
      KSR.test.record(KSR.pv.get("$sht(a=>k1)") == nil)
      KSR.pv.sets("$sht(a=>k3)", "v3")
      local seen = {}
      KSR.htable.sht_iterator_start("i", "a")
      while KSR.htable.sht_iterator_next("i") > 0 do
        local v = KSR.htable.sht_iterator_sval("i") or KSR.htable.sht_iterator_ival("i")
        seen[#seen + 1] = KSR.htable.sht_iterator_sname("i") .. "=" .. v
          .. "/" .. KSR.pv.get("$shtitkey(i)")
        if KSR.htable.sht_iterator_sname("i") == "k2" then KSR.htable.sht_iterator_rm("i") end
      end
      KSR.htable.sht_iterator_end("i")
      table.sort(seen)
      KSR.test.record(table.concat(seen, ","))
      KSR.test.record(KSR.htable.sht_get("a", "k2") == nil)
    """)
    assert net.recorded == [3, 4, 3, True, True, "", -1, "2 1", 60, 0, True,
                            "k2=2/k2,k3=v3/k3", True]


def test_an_undefined_table_in_sht_is_a_script_error(tmp_path: Path, tables: None) -> None:
    net = run(tmp_path, 'KSR.pv.get("$sht(nosuch=>k)") KSR.test.record("reached")')
    assert net.recorded == []


def test_expiry_raises_the_event_with_the_record(tmp_path: Path) -> None:
    htable.init({"htable": "ipban=>autoexpire=60", "event_callback": "ksr_htable_event",
                 "timer_interval": 0.05})
    try:
        net = run(tmp_path, """
          KSR.htable.sht_seti("ipban", "192.0.2.9", 5)
          KSR.htable.sht_setxs("ipban", "short", "s", 1)
        """, extra="""
          function ksr_htable_event(evname)
            KSR.test.record(evname .. " " .. KSR.pv.get("$shtrecord(key)") .. "="
                            .. KSR.pv.get("$shtrecord(value)"))
          end""")
        htable.start(net.core)
        ht = state.table("ipban")
        ht.items["short"].expires = time.time() - 1      # past due: reads absent at once
        assert ht.get("short") is None
        deadline = time.monotonic() + 3
        while len(net.recorded) < 1 and time.monotonic() < deadline:
            gevent.sleep(0.02)                            # the timer sweeps it
        assert net.recorded == ["htable:expired:ipban short=s"]
        assert state.expire(now=time.time() + 61) == 1    # autoexpire 60 s
        assert net.recorded[1:] == ["htable:expired:ipban 192.0.2.9=5"]
        assert rpc.dump("ipban") == []
    finally:
        htable.destroy()


@pytest.fixture
def db(geosip_db: Any) -> Any:
    return geosip_db


def test_persistence_and_rpc(tmp_path: Path, db: Any) -> None:
    with db.connection_context():
        models.Htable.insert_many([
            {"key_name": "alice", "key_type": 0, "value_type": 0, "key_value": "gold"},
            {"key_name": "hits", "key_type": 0, "value_type": 1, "key_value": "7"},
        ]).execute()
    params = {"htable": {"acct": {"dbtable": "htable", "dbmode": 1}}}
    htable.init(params)
    net = LuaNet("""function ksr_request_route()
      KSR.test.record(KSR.htable.sht_get("acct", "alice"))
      KSR.test.record(KSR.htable.sht_inc("acct", "hits"))
      KSR.htable.sht_sets("acct", "bob", "silver")
    end""", tmp_path, modules=MODULES)
    htable.start(net.core)                      # loads the rows
    net.deliver(request("MESSAGE"), wait=0.05)
    assert net.recorded == ["gold", 8]
    assert rpc.get("acct", "bob") == {"name": "bob", "value": "silver"}
    rpc.seti("acct", "n", "5")
    rpc.sets("acct", "s", "x")
    rpc.delete("acct", "alice")
    with pytest.raises(LookupError):
        rpc.get("acct", "alice")
    with pytest.raises(LookupError):
        rpc.dump("nosuch")
    assert sorted(i["name"] for i in rpc.dump("acct")) == ["bob", "hits", "n", "s"]
    htable.destroy()                            # dbmode=1: written back
    with db.connection_context():
        rows = sorted(models.Htable.select(models.Htable.key_name, models.Htable.value_type,
                                           models.Htable.key_value).tuples())
    assert rows == [("bob", 0, "silver"), ("hits", 1, "8"), ("n", 1, "5"), ("s", 0, "x")]
    htable.init(params)
    htable.start(net.core)
    state.table("acct").reset()
    assert rpc.reload("acct") == {"items": 4}
    assert rpc.get("acct", "hits") == {"name": "hits", "value": 8}
    htable.destroy()


def test_definitions(tmp_path: Path) -> None:
    script = tmp_path / "cfg.lua"
    script.write_text('geosip = { modules = { htable = { htable = {\n'
                      '  ipban = { autoexpire = 300, initval = 0 },\n'
                      '  seen = "size=4;autoexpire=10" } } } }\n'
                      "function ksr_request_route() end\n")
    params = read_config(str(script)).modules["htable"]  # type: ignore[index]
    try:
        htable.init(params)
        assert state.table("ipban").definition.autoexpire == 300
        assert state.table("ipban").definition.initval == 0
        assert state.table("seen").definition.autoexpire == 10
        htable.init({"htable": "t=>size=8;autoexpire=60;dbtable=htable;initval=0;dbmode=1"})
        assert state.table("t").definition.dbmode == 1
        for bad in ("t", "t=>colour=red", "t=>autoexpire=soon", ["t=>", "t=>"], "=>size=2"):
            with pytest.raises(ValueError):
                htable.init({"htable": bad})
    finally:
        htable.destroy()
