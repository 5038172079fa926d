"""Event callbacks (Kamailio's event_route, named in KEMI by a module's event_callback
parameter): the function gets the event name, runs on Kamailio's faked request, may
wait (a blocking KSR call), and a script error in it is logged, not raised."""

from __future__ import annotations

from pathlib import Path

import gevent

from tests.support.luanet import LuaNet

SCRIPT = """
function ksr_request_route() end
function ksr_module_event(evname)
  KSR.test.record(evname)
  KSR.test.record(KSR.pv.get("$rm") .. " " .. KSR.pv.get("$ru"))
  KSR.async.ms_sleep(10)
  KSR.test.record(KSR.pv.get("$var(set_before)") or "none")
end
function ksr_broken_event(evname)
  error("broken " .. evname)
end
"""


def test_an_event_callback_runs_on_the_faked_request(tmp_path: Path) -> None:
    net = LuaNet(SCRIPT, tmp_path)
    ctx = net.core.local_context()
    ctx.script.vars["set_before"] = "by the module"
    done = gevent.spawn(net.core.run_event, "ksr_module_event", "dispatcher:dst-down", ctx)
    assert done.get(timeout=2) is True
    assert net.recorded == ["dispatcher:dst-down", "OPTIONS sip:you@kamailio.org",
                            "by the module"]


def test_missing_or_broken_callbacks(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    net = LuaNet(SCRIPT, tmp_path)
    assert net.core.run_event("ksr_no_such_function", "x:y") is False
    assert net.core.run_event("", "x:y") is False
    assert net.core.run_event("ksr_broken_event", "htable:expired:t") is True
    assert "broken htable:expired:t" in caplog.text


def test_a_route_cannot_run_inside_lua(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    """A route run from a KSR function that is not blocking would nest in the caller's
    Lua coroutine (engine.py): it is refused with an error naming the way out, and the
    outer route goes on."""
    from geosip.script.exports import ModuleExports, ksr

    holder: list[LuaNet] = []

    @ksr("run_inner", returns="1")
    def run_inner(ctx: object) -> int:
        holder[0].core.run_event("ksr_inner", "inner", ctx)  # type: ignore[arg-type]
        return 1

    script = SCRIPT + """
function ksr_inner(evname)
  KSR.test.record("inner")
  KSR.async.ms_sleep(10)
  KSR.test.record("inner slept")
end
function ksr_outer_event(evname)
  KSR.test.record(KSR.nest.run_inner())
end
"""
    net = LuaNet(script, tmp_path, extra=[ModuleExports(name="nest", ksr=(run_inner,))],
                 guard=True)
    holder.append(net)
    assert gevent.spawn(net.core.run_event, "ksr_outer_event", "x").get(timeout=2)
    assert net.recorded == [1]
    assert "cannot run from inside a KSR call" in caplog.text
    assert net.engine.violations == 0
