"""Transformations in PV names through a real Lua script (geosip/script/transforms.py,
Kamailio's core transformations and sqlops' {sql.val*}), and the names refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.luanet import UAC, LuaNet, request, statuses

CASES = [
    ("$(var(csv){s.select,0,,})", "1700000000"),
    ("$(var(csv){s.select,2,,})", "tag-a"),
    ("$(var(csv){s.select,-1,,})", "sip:b@x"),
    ("$(var(csv){s.select,9,,})", None),
    ("$(var(csv){s.select,1,;})", None),                 # no ';': one field only
    ("${var(csv){s.select,1,,}}", "call-1"),             # the slides' spelling
    ("$(var(q){s.escape.common})", "it\\'s \\\"x\\\" \\\\"),
    ("$(var(q){sql.val.str})", "'it''s \"x\" \\'"),
    ("$(var(none){sql.val})", "0"),                      # $var is 0 until set
    ("$(avp(none){sql.val})", "NULL"),
    ("$(avp(none){sql.val.str})", "''"),
    ("$(var(q){s.len})", 10),
    ("$(var(num){s.int})", 42),
    ("$(var(num){s.substr,1,2}{s.toupper})", "2A"),
    ("$(var(q){s.select,0, }{s.len})", 4),
]


@pytest.mark.parametrize("name, expected", CASES)
def test_transformations(tmp_path: Path, name: str, expected: object) -> None:
    net = LuaNet(f"""function ksr_request_route()
      KSR.pv.sets("$var(csv)", "1700000000,call-1,tag-a,sip:b@x")
      KSR.pv.sets("$var(q)", [[it's "x" \\]])
      KSR.pv.sets("$var(num)", "42abc")
      local v = KSR.pv.get("{name}")
      KSR.test.record(v == nil and "nil" or v)
    end""", tmp_path, modules=("sl",))
    net.deliver(request("MESSAGE"))
    assert net.recorded == ["nil" if expected is None else expected]


@pytest.mark.parametrize("name", ["$(var(x){s.nosuch})", "$(var(x){s.select,a,,})",
                                  "$(var(x){s.len}junk)", "$(var(x){s.len)"])
def test_bad_transformations_end_the_route(tmp_path: Path, name: str) -> None:
    net = LuaNet(f'function ksr_request_route() KSR.pv.get("{name}") end', tmp_path,
                 modules=("sl",))
    net.deliver(request("MESSAGE"))
    assert statuses(net.take(UAC)) == [500]
