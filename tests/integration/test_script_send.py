"""`geosip run -c send.lua`: a KEMI script's Record-Route parameters, is_direction and
ksr_onsend_route, with sipp callers and callees on loopback.

- The INVITE gets Record-Route `<sip:proxy;lr;ftag=<caller's From tag>;geo=1>` (rr's
  append_fromtag and add_rr_param); the caller's in-dialog INFO comes back through us
  and is_direction() says downstream, the callee's BYE upstream (the script writes
  what it found in an X-Direction header the peers receive). check_route_param sees
  geo=1 on both.
- ksr_onsend_route drops every request to one callee's port: that callee receives
  nothing and the caller gets 500 (the branch fails as a send failure: a local 503,
  passed upstream as 500 by RFC 3261 §16.7 step 6), while calls to another callee
  still go through.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ._proxy import HOST, Proxy
from ._sipp import BENCH, SCENARIOS, Sipp, SippResult

SCRIPT = """
function ksr_request_route()
  if KSR.maxfwd.process_maxfwd(10) < 0 then
    KSR.sl.sl_send_reply(483, "Too Many Hops")
    return
  end
  if KSR.siputils.has_totag() > 0 then
    if KSR.rr.loose_route() > 0 then
      if KSR.rr.is_direction("downstream") > 0 then
        KSR.hdr.append("X-Direction: downstream\\r\\n")
      else
        KSR.hdr.append("X-Direction: upstream\\r\\n")
      end
      if KSR.rr.check_route_param("geo=1") > 0 then
        KSR.hdr.append("X-Geo: yes\\r\\n")
      end
      KSR.tm.t_relay()
    elseif not KSR.is_ACK() then
      KSR.sl.sl_send_reply(404, "Not Here")
    end
    return
  end
  KSR.rr.record_route()
  KSR.rr.add_rr_param(";geo=1")
  KSR.xlog.xinfo("relaying $rm $ru from $si:$sp\\n")
  KSR.tm.t_relay()
end

function ksr_onsend_route()
  if KSR.pv.get("$snd(port)") == BLOCKED then
    KSR.xlog.xnotice("onsend: dropped $rm to $snd(ip):$snd(port)/$snd(sproto)\\n")
    KSR.x.drop()
  end
end
"""


@pytest.fixture
def send_proxy(proxy: Callable[..., Proxy], tmp_path: Path) -> Callable[[int], Proxy]:
    def make(blocked: int) -> Proxy:
        (tmp_path / "send.lua").write_text(f"BLOCKED = {blocked}\n{SCRIPT}")
        return proxy("-c", "send.lua")
    return make


def report(p: Proxy, *results: SippResult) -> str:
    return "\n\n".join([*(r.report() for r in results), "==== geosip log:", p.log()[-20000:]])


def test_record_route_ftag_and_is_direction_both_ways(
    send_proxy: Callable[[int], Proxy], sipp: Callable[..., Sipp],
    free_port: Callable[..., int],
) -> None:
    calls = 5
    p = send_proxy(1)
    uas_port = free_port()
    callee = sipp("uas", SCENARIOS / "dialog_dir_uas.xml", port=uas_port, calls=calls)
    callee.start().wait_listening()
    caller = sipp("uac", SCENARIOS / "dialog_dir_uac.xml", port=free_port(), calls=calls,
                  rate=10, remote=f"{HOST}:{uas_port}", proxy=p.addr()).run()
    answered = callee.wait()
    context = report(p, caller, answered)
    for result in (caller, answered):
        assert (result.returncode, result.successful, result.failed) == (0, calls, 0), context
    invites = answered.received("INVITE")
    assert len(invites) == calls, context
    for invite in invites:
        from_tag = invite.header("From")[0].rsplit("tag=", 1)[1]
        assert invite.values("Record-Route") == \
            [f"<sip:{p.addr()};lr;ftag={from_tag};geo=1>"], context
    infos, byes = answered.received("INFO"), caller.received("BYE")
    assert len(infos) == calls and len(byes) == calls, context
    assert all(m.header("X-Direction") == ["downstream"] for m in infos), context
    assert all(m.header("X-Direction") == ["upstream"] for m in byes), context
    assert all(m.header("X-Geo") == ["yes"] for m in infos + byes), context
    p.assert_no_tracebacks()


def fail_uac(folder: Path) -> Path:
    """reject_uac.xml that also takes a 500 as the failure it waits for."""
    text = (SCENARIOS / "reject_uac.xml").read_text()
    anchor = '<recv response="603" next="ack"/>'
    assert anchor in text, "reject_uac.xml changed: update this test"
    target = folder / "fail_uac.xml"
    target.write_text(text.replace(anchor, '<recv response="500" optional="true" '
                                           'next="ack"/>\n  ' + anchor))
    return target


def test_onsend_route_drops_the_sends_to_one_callee(
    send_proxy: Callable[[int], Proxy], sipp: Callable[..., Sipp],
    free_port: Callable[..., int], tmp_path: Path,
) -> None:
    calls = 3
    blocked_port, open_port = free_port(), free_port()
    p = send_proxy(blocked_port)
    blocked = sipp("blocked", BENCH / "uas.xml", port=blocked_port, calls=calls,
                   wall=10)
    reachable = sipp("reachable", BENCH / "uas.xml", port=open_port, calls=calls)
    blocked.start().wait_listening()
    reachable.start().wait_listening()
    refused = sipp("uac-blocked", fail_uac(tmp_path), port=free_port(), calls=calls,
                   rate=10, remote=f"{HOST}:{blocked_port}", proxy=p.addr()).run()
    through = sipp("uac-open", BENCH / "uac.xml", port=free_port(), calls=calls, rate=10,
                   remote=f"{HOST}:{open_port}", proxy=p.addr()).run()
    answered = reachable.wait()
    blocked.kill()
    idle = blocked.result()
    context = report(p, refused, through, answered, idle)
    assert (refused.returncode, refused.successful) == (0, calls), context
    assert [m.status for m in refused.finals()] == [500] * calls, context
    assert idle.received() == [], context          # not one request reached it
    for result in (through, answered):
        assert (result.returncode, result.successful, result.failed) == (0, calls, 0), context
    assert p.log().count(f"onsend: dropped INVITE to {HOST}:{blocked_port}/udp") == calls, \
        context
    p.assert_no_tracebacks()
