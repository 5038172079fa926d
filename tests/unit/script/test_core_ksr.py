"""KSR core functions (geosip/script/ksr/core.py) through a real Lua script routing the
real Core in-process (tests/support/luanet.py): each case is a route that calls the
functions, records what they return with KSR.test.record, and what went on the wire.
Kamailio's SR_KEMIP_BOOL functions give Lua booleans (recorded as True/False), the
others integers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from geosip.sip import Request, Response
from tests.support.luanet import UAC, UAS, UAS2, LuaNet, request, statuses


@pytest.fixture
def run(tmp_path: Path) -> Iterator:
    nets: list[LuaNet] = []

    def make(route: str, data: bytes | None = None, **kwargs: object) -> LuaNet:
        """A net whose ksr_request_route() is `route`; `data` (default: an INVITE
        from UAC) is delivered once."""
        net = LuaNet(f"function ksr_request_route()\n{route}\nend\n", tmp_path, **kwargs)
        nets.append(net)
        net.deliver(request() if data is None else data)
        return net

    yield make
    for net in nets:
        net.stop()


def test_logging_levels(run, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="geosip.script.log")
    net = run("""
      KSR.dbg("d") KSR.info("i") KSR.notice("n") KSR.warn("w") KSR.err("e") KSR.crit("c")
      KSR.log("warn", "lw") KSR.log("dbg", "ld") KSR.log("bogus", "lx")
      KSR.test.record(KSR.get_debug())""")
    got = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "geosip.script.log"]
    assert got == [("DEBUG", "d"), ("INFO", "i"), ("INFO", "n"), ("WARNING", "w"),
                   ("ERROR", "e"), ("CRITICAL", "c"), ("WARNING", "lw"), ("DEBUG", "ld"),
                   ("ERROR", "lx")]
    assert net.recorded == [3]


def test_message_branch_and_script_flags(run) -> None:
    net = run("""
      local r = KSR.test.record
      r(KSR.isflagset(3)) r(KSR.setflag(3)) r(KSR.isflagset(3)) r(KSR.resetflag(3))
      r(KSR.isflagset(3)) r(KSR.setflag(32)) r(KSR.setflag(-1)) r(KSR.isflagset(40))
      r(KSR.setbflag(5)) r(KSR.isbflagset(5)) r(KSR.isbiflagset(5, 1))
      r(KSR.setbiflag(5, 2)) r(KSR.isbiflagset(5, 2)) r(KSR.resetbiflag(5, 2))
      r(KSR.isbiflagset(5, 2)) r(KSR.isbflagset(5)) r(KSR.setbiflag(1, 12))
      r(KSR.setsflag(7)) r(KSR.issflagset(7)) r(KSR.resetsflag(7)) r(KSR.issflagset(7))
      r(KSR.resetbflag(5)) r(KSR.isbflagset(5))""")
    assert net.recorded == [False, True, True, True, False, False, False, False,
                            True, True, False, True, True, True, False, True, False,
                            True, True, True, False, True, False]


METHOD_TESTS = """
  local r = KSR.test.record
  r(KSR.is_method("INVITE")) r(KSR.is_method("invite")) r(KSR.is_method("BYE|INVITE"))
  r(KSR.is_method("BYE")) r(KSR.is_method_in("BI")) r(KSR.is_method_in("bm"))
  r(KSR.is_INVITE()) r(KSR.is_BYE()) r(KSR.is_MESSAGE()) r(KSR.is_method_in("M"))
  r(KSR.is_KDMQ())"""


def test_methods(run) -> None:
    t, f = True, False
    assert run(METHOD_TESTS).recorded == [t, t, t, f, t, f, t, f, f, f, f]
    message = run(METHOD_TESTS, request("MESSAGE"))
    assert message.recorded == [f, f, f, f, f, t, f, f, t, t, f]


def test_transport_tests(run) -> None:
    net = run("""
      local r = KSR.test.record
      r(KSR.is_UDP()) r(KSR.is_TCP()) r(KSR.is_TLS()) r(KSR.is_WS()) r(KSR.is_WSS())
      r(KSR.is_WSX()) r(KSR.is_SCTP()) r(KSR.is_proto("tu")) r(KSR.is_proto("evws"))
      r(KSR.is_IPv4()) r(KSR.is_IPv6()) r(KSR.is_src_port(5070)) r(KSR.is_src_port(5060))
      r(KSR.is_dst_port(5060)) r(KSR.add_tcp_alias(5070)) r(KSR.add_tcp_alias_via())""")
    t, f = True, False
    assert net.recorded == [t, f, f, f, f, f, f, t, f, t, f, t, f, t, 1, 1]


def test_request_uri_changes_reach_the_wire(run) -> None:
    net = run("""
      local r = KSR.test.record
      r(KSR.setuser("bob")) r(KSR.sethost("127.0.0.1")) r(KSR.seturi("not a uri"))
      r(KSR.sethost(""))
      KSR.tm.t_relay()""")
    assert net.recorded == [True, True, False, False]
    [out] = net.take(UAS)
    assert isinstance(out, Request) and out.uri_text == "sip:bob@127.0.0.1:5080"


def test_seturi_and_destination_uri(run) -> None:
    net = run("""
      local r = KSR.test.record
      r(KSR.isdsturiset()) r(KSR.setdsturi("sip:127.0.0.1:5090")) r(KSR.isdsturiset())
      r(KSR.setdsturi("sip:[bad")) r(KSR.seturi("sip:alice@example.com"))
      KSR.tm.t_relay()""")
    assert net.recorded == [False, True, True, False, True]
    assert net.take(UAS) == []
    [out] = net.take(UAS2)  # $du decides where; the Request-URI is kept
    assert out.uri_text == "sip:alice@example.com"  # type: ignore[union-attr]


def test_resetdsturi(run) -> None:
    net = run("""
      KSR.setdsturi("sip:127.0.0.1:5090") KSR.resetdsturi()
      KSR.test.record(KSR.isdsturiset()) KSR.tm.t_relay()""")
    assert net.recorded == [False]
    assert len(net.take(UAS)) == 1 and net.take(UAS2) == []


def test_is_myself(run) -> None:
    net = run("""
      local r = KSR.test.record
      r(KSR.is_myself("sip:127.0.0.1:5060")) r(KSR.is_myself("sip:127.0.0.1"))
      r(KSR.is_myself("sip:127.0.0.1:5080")) r(KSR.is_myself("127.0.0.1"))
      r(KSR.is_myself("example.com")) r(KSR.is_myself("sip:[nonsense"))
      r(KSR.is_myself_ruri()) r(KSR.is_myself_furi()) r(KSR.is_myself_turi())
      r(KSR.is_myself_suri()) r(KSR.is_myself_srcip())""",
              request(uri="sip:127.0.0.1:5060"))
    # From/To name 127.0.0.1:5070 and :5080 (the UAC, the UAS): another port, not us;
    # the source IP alone is ours (everything runs on 127.0.0.1).
    t, f = True, False
    assert net.recorded == [t, t, f, t, f, f, t, f, f, f, t]


def test_force_rport(run) -> None:
    net = run('KSR.test.record(KSR.force_rport()) KSR.sl.sl_send_reply(404, "Not Here")')
    [reply] = net.take(UAC)
    assert isinstance(reply, Response) and reply.status == 404
    assert reply.top_via.rport == "5070" and net.recorded == [True]


def test_stateless_forward_and_forward_uri(run) -> None:
    net = run("KSR.test.record(KSR.forward())")
    [out] = net.take(UAS)
    assert (out.top_via.branch or "").startswith("z9hG4bKsl")  # no transaction
    assert net.take(UAC) == [] and net.recorded == [1]
    net = run('KSR.test.record(KSR.forward_uri("sip:127.0.0.1:5090")) '
              'KSR.test.record(KSR.isdsturiset())')
    assert len(net.take(UAS2)) == 1 and net.recorded == [1, False]


def test_drop_marks_and_goes_on(run) -> None:
    net = run("""
      KSR.drop() KSR.test.record("after drop") KSR.set_drop() KSR.test.record("again")""")
    assert net.recorded == ["after drop", "again"]
    assert net.out.sent == []  # nothing relayed or answered: the request is dropped


def test_bad_argument_types_end_the_route_with_500(run, caplog: pytest.LogCaptureFixture) -> None:
    net = run('KSR.test.record("before") KSR.setflag("three") KSR.test.record("after")')
    assert net.recorded == ["before"]
    assert statuses(net.take(UAC)) == [500]
    assert any("setflag(): expected a number" in r.getMessage() for r in caplog.records)


def test_boolean_functions_read_as_kamailio_scripts_use_them(run) -> None:
    """Kamailio's basic KEMI script: `if KSR.is_CANCEL() then`, `if not KSR.is_ACK()`."""
    net = run("""
      if KSR.is_CANCEL() then KSR.test.record("cancel") end
      if not KSR.is_ACK() then KSR.test.record("not ack") end
      if KSR.is_INVITE() and KSR.is_myself_srcip() then KSR.test.record("invite") end
      if KSR.forward() > 0 then KSR.test.record("forwarded") end""")
    assert net.recorded == ["not ack", "invite", "forwarded"]
