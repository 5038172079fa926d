"""Pseudo-variables through real Lua scripts: KSR.pv and KSR.kx (geosip/script/pv.py,
ksr/pv.py, ksr/kx.py).

Reads run a `probe` route of a script in the Engine against a RequestContext built
from wire bytes; writes that change the wire run through the real Core with the
recording transport (tests/support/callflow.py), checking what would be sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from geosip.core.context import RequestContext
from geosip.core.core import Core
from geosip.core.router import ProxyRouter
from geosip.core.routing import Myself
from geosip.script import pv
from geosip.script.engine import Engine, ScriptError
from geosip.script.exports import ModuleExports, ksr
from geosip.script.ksr import core as ksr_core
from geosip.script.ksr import kx, x
from geosip.script.ksr import pv as ksr_pv
from geosip.sip import Request, Response, parse
from geosip.transport.base import Endpoint, Inbound
from tests.support.luanet import (PROXY, UAC, UAS, UAS2, LuaNet, request,
                                  statuses)

PHONE = Endpoint("udp", "10.0.0.1", 5070)

REQUEST = (
    "INVITE sip:bob@example.com:5080;transport=udp SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-abc;rport\r\n"
    'From: "Alice" <sip:alice@atlanta.example.com>;tag=f1\r\n'
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: call-1@10.0.0.1\r\nCSeq: 7 INVITE\r\n"
    "Contact: <sip:alice@10.0.0.1:5070>\r\nMax-Forwards: 70\r\n"
    "User-Agent: geosip-test/1.0\r\nX-Foo: one\r\nX-Foo: two\r\n"
    "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")

BUSY = (
    "SIP/2.0 486 Busy Here\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-abc;rport\r\n"
    'From: "Alice" <sip:alice@atlanta.example.com>;tag=f1\r\n'
    "To: <sip:bob@example.com>;tag=uas-tag\r\n"
    "Call-ID: call-1@10.0.0.1\r\nCSeq: 7 INVITE\r\nX-Reply: yes\r\nContent-Length: 0\r\n\r\n")

# ---- plumbing -------------------------------------------------------------------------

OUT: list[Any] = []


@ksr("record", "x", returns="1")
def record(ctx: RequestContext, value: Any) -> int:
    """Keep a value for the test (LuaNet's KSR.test.record, for scripts run alone)."""
    OUT.append(value)
    return 1


EXPORTS = [ksr_core.EXPORTS, x.EXPORTS, ksr_pv.EXPORTS, kx.EXPORTS,
           ModuleExports(name="test", ksr=(record,))]

PROBE = """
function ksr_request_route() end
function probe(fn, name) KSR.test.record(KSR.pv[fn](name)) end
function kx(fn) KSR.test.record(KSR.kx[fn]()) end
"""


class Scripts:
    """Lua run against a RequestContext: `get` through a probe route, `lua` runs
    statements as a route of their own (the sandbox has no load())."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.count = 0
        self.engine = self.load(PROBE)

    def load(self, code: str) -> Engine:
        self.count += 1
        path = self.tmp_path / f"route{self.count}.lua"
        path.write_text(code)
        return Engine(path, EXPORTS)

    def get(self, ctx: RequestContext, name: str) -> Any:
        OUT.clear()
        self.engine.run("probe", ctx, "get", name)
        return OUT[-1]

    def kx(self, ctx: RequestContext, fn: str) -> Any:
        OUT.clear()
        self.engine.run("kx", ctx, fn)
        return OUT[-1]

    def lua(self, ctx: RequestContext, code: str) -> list[Any]:
        """Run Lua statements for ctx; returns what they passed to out()."""
        engine = self.load("local out = KSR.test.record\n"
                           f"function ksr_request_route()\n{code}\nend\n")
        OUT.clear()
        engine.run("ksr_request_route", ctx)
        return list(OUT)


@pytest.fixture
def lua(tmp_path: Path) -> Scripts:
    OUT.clear()
    pv.SHARED.clear()
    return Scripts(tmp_path)


def busy() -> Response:
    reply = parse(BUSY.encode())
    assert isinstance(reply, Response)
    return reply


def context(data: str = REQUEST, source: Endpoint = PHONE) -> RequestContext:
    msg = parse(data.encode())
    assert isinstance(msg, Request)
    core = Core(ProxyRouter(), Myself(listeners=[PROXY]))
    return RequestContext(core, msg, Inbound(data.encode(), source, PROXY))


# ---- reading --------------------------------------------------------------------------

REQUEST_VALUES = [
    ("$ru", "sip:bob@example.com:5080;transport=udp"), ("$rU", "bob"), ("$rd", "example.com"),
    ("$rp", 5080), ("$rz", "sip"), ("$du", None), ("$fu", "sip:alice@atlanta.example.com"),
    ("$fU", "alice"), ("$fd", "atlanta.example.com"), ("$fn", "Alice"), ("$ft", "f1"),
    ("$tu", "sip:bob@example.com"), ("$tU", "bob"), ("$td", "example.com"), ("$tn", None),
    ("$tt", None), ("$ci", "call-1@10.0.0.1"), ("$cs", 7), ("$rm", "INVITE"), ("$rs", None),
    ("$rr", None), ("$si", "10.0.0.1"), ("$sp", 5070), ("$Ri", "127.0.0.1"), ("$Rp", 5060),
    ("$pr", "udp"), ("$proto", "udp"), ("$ua", "geosip-test/1.0"), ("$hdr(X-Foo)", "one"),
    ("$hdr(x-foo)", "one"), ("$(hdr(X-Foo)[1])", "two"), ("$(hdr(X-Foo)[-1])", "two"),
    ("$(hdr(X-Foo)[*])", "one, two"), ("$(hdr(X-Foo)[2])", None), ("$hdr(X-None)", None),
    ("$hdr(v)", "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-abc;rport"), ("$hdrc(X-Foo)", 2),
    ("$hdrc(X-None)", 0), ("$ct", "<sip:alice@10.0.0.1:5070>"), ("$cl", 5), ("$rb", "hello"),
    ("$ml", len(REQUEST)), ("$fs", None), ("$ru_q", -1), ("$mf", 0), ("$bf", 0),
    ("$T_branch_idx", 0), ("$T(reply_code)", 0), ("$T(reply_reason)", None),
    ("$T(id_index)", None), ("$T(id_label)", None), ("$T_reply_code", 0),
    ("$sel(via[1].branch)", "z9hG4bK-abc"), ("$sel(via[1].host)", "10.0.0.1"),
    ("$sel(via[1].port)", 5070), ("$sel(via[2])", None), ("$au", None), ("$var(unset)", 0),
    ("$shv(unset)", 0), ("$avp(unset)", None), ("$xavp(unset=>f)", None), ("$TS", pv.STARTED),
]


@pytest.mark.parametrize("name,expected", REQUEST_VALUES)
def test_request_values(lua: Scripts, name: str, expected: Any) -> None:
    assert lua.get(context(), name) == expected


def test_original_uri_stays_when_the_route_changes_the_request_uri(lua: Scripts) -> None:
    """$ou: the Request-URI as received (Kamailio's, e.g. msilo's m_store("$ou") in a
    failure route after lookup rewrote $ru)."""
    ctx = context()
    assert lua.lua(ctx, 'KSR.pv.sets("$ru", "sip:bob@10.0.0.9:5090") '
                        'out(KSR.pv.get("$ru")) out(KSR.pv.get("$ou"))') == \
        ["sip:bob@10.0.0.9:5090", "sip:bob@example.com:5080;transport=udp"]


TEL_REQUEST = REQUEST.replace("INVITE sip:bob@example.com:5080;transport=udp",
                              "MESSAGE tel:+44-7700-900123").replace("7 INVITE", "7 MESSAGE")


def test_tel_request_uri_has_no_host(lua: Scripts) -> None:
    """A tel: R-URI (RFC 3966) has a number and no host: $rd is $null, as Kamailio's
    pv_get_xuri_attr answers for an empty host, so `$rd == "x"` is plainly false and a
    script can test $rz first (scripts/default.lua's gateway section). It has no port
    either, and $rp is 5060 as for any URI without one (what Kamailio 5.6.3 gave)."""
    ctx = context(TEL_REQUEST)
    assert [lua.get(ctx, n) for n in ("$ru", "$rz", "$rU", "$rd", "$rp")] == \
        ["tel:+44-7700-900123", "tel", "+44-7700-900123", None, 5060]
    assert lua.lua(ctx, 'out(KSR.pv.get("$rd") == "sms.example.com") '
                        'out(KSR.pv.is_null("$rd")) out(KSR.pv.getvs("$rd", "none"))') \
        == [False, 1, "none"]


def test_message_buffer_and_time(lua: Scripts) -> None:
    ctx = context()
    assert lua.get(ctx, "$mb") == REQUEST
    first = lua.get(ctx, "$Ts")
    assert isinstance(first, int) and lua.get(ctx, "$Ts") == first  # cached per message


REPLY_VALUES = [
    ("$rs", 486), ("$rr", "Busy Here"), ("$T(reply_code)", 486), ("$T_reply_code", 486),
    ("$T(reply_reason)", "Busy Here"), ("$tt", "uas-tag"), ("$hdr(X-Reply)", "yes"),
    ("$rm", "INVITE"), ("$ru", "sip:bob@example.com:5080;transport=udp"), ("$cl", 0),
]


@pytest.mark.parametrize("name,expected", REPLY_VALUES)
def test_reply_route_reads_the_reply(lua: Scripts, name: str, expected: Any) -> None:
    ctx = context()
    ctx.script.reply = busy()
    assert lua.get(ctx, name) == expected


def test_marked_failure_route_reads_the_request_headers(lua: Scripts) -> None:
    ctx = context()
    ctx.script.reply = busy()
    ctx.script.extra[pv.ROUTE_TYPE] = "failure"
    assert [lua.get(ctx, n) for n in ("$tt", "$hdr(X-Reply)", "$rs", "$T(reply_code)")] \
        == [None, None, 486, 486]


def test_branch_route_index(lua: Scripts) -> None:
    """KSR.tm's branch hook says which branch a branch route runs for."""
    ctx = context()
    ctx.script.extra["branch_idx"] = 2
    assert lua.get(ctx, "$T_branch_idx") == 2


def test_credentials(lua: Scripts) -> None:
    data = REQUEST.replace("Max-Forwards: 70\r\n", 'Max-Forwards: 70\r\nProxy-Authorization: '
                           'Digest username="alice@example.com", realm="example.org", '
                           'nonce="n", uri="sip:bob@example.com", response="0123"\r\n')
    ctx = context(data)
    assert [lua.get(ctx, n) for n in ("$au", "$ad", "$aU", "$ar")] == \
        ["alice", "example.com", "alice@example.com", "example.org"]


def test_null_variants(lua: Scripts) -> None:
    ctx = context()
    assert lua.lua(ctx, """
        KSR.pv.sets("$var(n)", "12") KSR.pv.sets("$var(neg)", "-3") KSR.pv.sets("$var(s)", "abc")
        out(KSR.pv.get("$du")) out(KSR.pv.gete("$du")) out(KSR.pv.getw("$du"))
        out(KSR.pv.getvs("$du", "sip:default")) out(KSR.pv.getvn("$du", 7))
        out(KSR.pv.getvs("$rU", "x")) out(KSR.pv.geti("$du")) out(KSR.pv.geti("$cs"))
        out(KSR.pv.geti("$var(n)")) out(KSR.pv.geti("$var(neg)")) out(KSR.pv.geti("$var(s)"))
        out(KSR.pv.is_null("$du")) out(KSR.pv.is_null("$ru")) out(KSR.pv.is_null("$var(x)"))
    """) == [None, "", "<null>", "sip:default", 7, "bob", 0, 7, 12, -3, 0, 1, -1, -1]


# ---- containers ----------------------------------------------------------------------

def test_var_is_per_message_and_zero_until_set(lua: Scripts) -> None:
    ctx = context()
    assert lua.lua(ctx, """
        out(KSR.pv.get("$var(a)")) KSR.pv.sets("$var(a)", "text") out(KSR.pv.get("$var(a)"))
        KSR.pv.seti("$var(a)", 5) out(KSR.pv.get("$var(a)"))
        out(KSR.pv.unset("$var(a)")) out(KSR.pv.get("$var(a)"))
        KSR.pv.seti("$var(keep)", 1)
    """) == [0, "text", 5, 1, 0]
    assert ctx.script.vars == {"keep": 1}
    assert lua.get(context(), "$var(keep)") == 0


def test_shv_is_shared_between_messages(lua: Scripts) -> None:
    lua.lua(context(), 'KSR.pv.sets("$shv(mode)", "night") KSR.pv.seti("$shv(n)", 3)')
    assert [lua.get(context(), n) for n in ("$shv(mode)", "$shv(n)")] == ["night", 3]
    assert pv.SHARED == {"mode": "night", "n": 3}


def test_avp_stack(lua: Scripts) -> None:
    ctx = context()
    assert lua.lua(ctx, """
        KSR.pv.sets("$avp(x)", "a") KSR.pv.seti("$avp(x)", 2) KSR.pv.sets("$avp(s:x)", "c")
        out(KSR.pv.get("$avp(x)")) out(KSR.pv.get("$(avp(x)[1])")) out(KSR.pv.get("$(avp(x)[-1])"))
        out(KSR.pv.get("$(avp(x)[*])")) out(KSR.pv.sets("$(avp(x)[1])", "B"))
        out(KSR.pv.sets("$(avp(x)[9])", "nowhere"))
        KSR.pv.unset("$avp(x)") out(KSR.pv.get("$avp(x)"))
    """) == ["c", 2, "a", "c, 2, a", 1, -1, "B"]
    assert ctx.script.avps == {"x": ["B", "a"]}
    assert lua.lua(ctx, """
        KSR.pv.sets("$(avp(x)[*])", "only") out(KSR.pv.get("$(avp(x)[*])"))
        KSR.pv.unset("$(avp(x)[*])") out(KSR.pv.is_null("$avp(x)"))
    """) == ["only", 1]
    assert ctx.script.avps == {}


def test_xavp_lists(lua: Scripts) -> None:
    """Kamailio's pattern for per-destination settings (pv_xavp.c assignment rules)."""
    ctx = context()
    assert lua.lua(ctx, """
        KSR.pv.sets("$xavp(sf=>uri)", "sip:10.0.0.1") KSR.pv.seti("$xavp(sf[0]=>fr_timer)", 10)
        KSR.pv.sets("$xavp(sf=>uri)", "sip:10.0.0.2") KSR.pv.seti("$xavp(sf[0]=>fr_timer)", 20)
        out(KSR.pv.get("$xavp(sf=>uri)")) out(KSR.pv.get("$xavp(sf[1]=>uri)"))
        out(KSR.pv.get("$xavp(sf[-1]=>fr_timer)"))
    """) == ["sip:10.0.0.2", "sip:10.0.0.1", 10]
    assert ctx.script.xavps == {"sf": [{"uri": ["sip:10.0.0.2"], "fr_timer": [20]},
                                       {"uri": ["sip:10.0.0.1"], "fr_timer": [10]}]}
    assert lua.lua(ctx, """
        KSR.pv.seti("$xavp(sf[0]=>fr_timer)", 25) out(KSR.pv.get("$xavp(sf[0]=>fr_timer[1])"))
        KSR.pv.seti("$xavp(sf[0]=>fr_timer[0])", 30) out(KSR.pv.get("$xavp(sf=>fr_timer)"))
        KSR.pv.unset("$xavp(sf[0]=>fr_timer)") out(KSR.pv.get("$xavp(sf=>fr_timer)"))
        out(KSR.pv.sets("$xavp(sf[5]=>x)", "v"))
        KSR.pv.unset("$xavp(sf)") out(KSR.pv.get("$xavp(sf=>uri)"))
        KSR.pv.unset("$xavp(sf[*])") out(KSR.pv.is_null("$xavp(sf=>uri)"))
        KSR.pv.sets("$xavp(one)", "a") KSR.pv.sets("$xavp(one)", "b")
        out(KSR.pv.get("$xavp(one)")) out(KSR.pv.get("$xavp(one[1])"))
    """) == [20, 30, 20, -1, "sip:10.0.0.1", 1, "b", "a"]
    assert ctx.script.xavps == {"one": ["b", "a"]}


# ---- writing: what goes on the wire ----------------------------------------------------

@ksr("append_branch", "s")
def append_branch(ctx: RequestContext, uri: str) -> bool:
    """A stand-in for KSR.corex.append_branch (written by another engineer)."""
    ctx.append_branch(uri)
    return True


FORK = ModuleExports(name="test", ksr=(append_branch,))  # joins LuaNet's KSR.test


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Callable[..., LuaNet]]:
    """LuaNet (the real Core and KSR.tm) with KSR.pv and KSR.kx loaded."""
    nets: list[LuaNet] = []

    def make(script: str, guard: bool = False) -> LuaNet:
        nets.append(LuaNet(script, tmp_path, extra=(ksr_pv.EXPORTS, kx.EXPORTS, FORK),
                           guard=guard))
        return nets[-1]
    yield make
    for net in nets:
        net.stop()


def relay_after(code: str) -> str:
    return f"function ksr_request_route()\n{code}\nKSR.tm.t_relay()\nend\n"


@pytest.mark.parametrize("code,dest,uri", [
    ('KSR.pv.sets("$ru", "sip:carol@127.0.0.1:5090")', UAS2, "sip:carol@127.0.0.1:5090"),
    ('KSR.pv.sets("$du", "sip:127.0.0.1:5090")', UAS2, "sip:service@127.0.0.1:5080"),
    ('KSR.pv.sets("$rU", "dave")', UAS, "sip:dave@127.0.0.1:5080"),
    ('KSR.pv.seti("$rp", 5090)', UAS2, "sip:service@127.0.0.1:5090"),
    ('KSR.pv.sets("$rd", "127.0.0.2")', Endpoint("udp", "127.0.0.2", 5080),
     "sip:service@127.0.0.2:5080"),
    ('KSR.pv.sets("$du", "sip:127.0.0.1:5090") KSR.pv.unset("$du")', UAS,
     "sip:service@127.0.0.1:5080"),
])
def test_setters_change_the_wire(network: Callable[..., LuaNet], code: str, dest: Endpoint,
                                uri: str) -> None:
    net = network(relay_after(code))
    net.deliver(request())
    [forwarded] = net.take(dest)
    assert isinstance(forwarded, Request) and forwarded.uri_text == uri
    assert forwarded.call_id == "1-call@127.0.0.1"


def test_reads_and_writes_never_switch_greenlets(network: Callable[..., LuaNet]) -> None:
    """The concurrency rule (DESIGN.md): KSR.pv and KSR.kx run with Lua on the stack;
    the engine's guard counts any greenlet switch there."""
    reads = "\n".join(f'KSR.test.record(KSR.pv.get("{name}"))' for name, _ in REQUEST_VALUES)
    net = network(relay_after(f"{reads}\nKSR.test.record(KSR.kx.get_srcuri())\n"
                              'KSR.pv.sets("$ru", "sip:x@127.0.0.1:5090") '
                              'KSR.pv.seti("$avp(a)", 1)'), guard=True)
    net.deliver(request())
    assert len(net.recorded) == len(REQUEST_VALUES) + 1 and len(net.take(UAS2)) == 1
    assert net.engine.violations == 0


def test_failure_route_sees_the_reply_and_forks_serially(network: Callable[..., LuaNet]) -> None:
    net = network("""
        local function keep(name) KSR.test.record(KSR.pv.get(name)) end
        function ksr_request_route()
          KSR.pv.sets("$avp(tries)", "first") KSR.tm.t_on_failure("failover")
          keep("$T(id_index)") KSR.tm.t_relay() keep("$T(id_index)") keep("$T(id_label)")
        end
        function failover()
          for _, name in ipairs({"$T(reply_code)", "$rs", "$rr", "$T_branch_idx", "$ru", "$tt",
                                 "$avp(tries)", "$T(id_index)", "$T(id_label)"}) do
            keep(name)
          end
          KSR.pv.sets("$ru", "sip:other@127.0.0.1:5090")
          KSR.tm.t_relay()
        end
    """)
    net.deliver(request())
    [to_a] = net.take(UAS)
    net.reply_to(to_a, "503 Service Unavailable")
    [to_b] = net.take(UAS2)
    assert to_b.uri_text == "sip:other@127.0.0.1:5090"
    before, index, label = net.recorded[:3]
    assert before is None and isinstance(index, int) and isinstance(label, int)
    # $tt is the request's (no To tag): KSR.tm marks the route as a failure route
    assert net.recorded[3:] == [503, 503, "Service Unavailable", 0,
                                "sip:service@127.0.0.1:5080", None, "first", index, label]
    net.reply_to(to_b, "200 OK", UAS2)
    assert statuses(net.take(UAC)) == [100, 200]


def test_reply_code_after_answering(network: Callable[..., LuaNet]) -> None:
    net = network("""
        function ksr_request_route()
          KSR.test.record(KSR.pv.get("$T(reply_code)")) KSR.tm.t_reply(404, "Nobody")
          KSR.test.record(KSR.pv.get("$T(reply_code)")) KSR.test.record(KSR.pv.get("$T(id_label)"))
        end
    """)
    net.deliver(request())
    assert statuses(net.take(UAC)) == [100, 404]
    assert net.recorded[:2] == [0, 404] and isinstance(net.recorded[2], int)


def test_reply_route_reads_the_reply_and_its_branch(network: Callable[..., LuaNet]) -> None:
    net = network("""
        function ksr_request_route()
          KSR.test.append_branch("sip:other@127.0.0.1:5090")
          KSR.tm.t_on_reply("replied") KSR.tm.t_relay()
        end
        function replied()
          KSR.test.record({KSR.pv.get("$rs"), KSR.pv.get("$T_branch_idx"), KSR.pv.get("$tt"),
                           KSR.kx.get_status(), KSR.kx.get_msgtype(), KSR.kx.get_method()})
        end
    """)
    net.deliver(request())
    [to_a], [to_b] = net.take(UAS), net.take(UAS2)
    net.reply_to(to_b, "180 Ringing", UAS2)
    net.reply_to(to_a, "183 Session Progress")
    assert [list(row.values()) for row in net.recorded] == [  # type: ignore[attr-defined]
        [180, 1, "1SIPpTag011", 180, 2, "INVITE"], [183, 0, "1SIPpTag011", 183, 2, "INVITE"]]


# ---- failures -------------------------------------------------------------------------

@pytest.mark.parametrize("call,message", [
    ('KSR.pv.get("$foo")', "unknown pseudo-variable $foo"),
    ('KSR.pv.get("$hdr(X-Foo")', "unknown pseudo-variable $hdr(X-Foo"),
    ('KSR.pv.sets("$bar(x)", "v")', "unknown pseudo-variable $bar(x)"),
    ('KSR.pv.get("$T(nothing)")', "unknown pseudo-variable $T(nothing)"),
    ('KSR.pv.get("$(ru{s.nosuch})")', "unknown transformation {s.nosuch} in $(ru{s.nosuch})"),
    ('KSR.pv.get("$hdr(X)[1]")', "an index needs $(name(arg)[index])"),
    ('KSR.pv.get("$(ci[1])")', "$ci takes no index"),
    ('KSR.pv.get("$(avp(x)[$var(i)])")', "bad index in $(avp(x)[$var(i)])"),
    ('KSR.pv.get("$sel(ruri.user)")', "unsupported select $sel(ruri.user)"),
    ('KSR.pv.sets("$ci", "x")', "pseudo-variable $ci is read-only"),
    ('KSR.pv.unset("$hdr(X-Foo)")', "pseudo-variable $hdr(X-Foo) is read-only"),
    ('KSR.pv.seti("$ru", 5)', "$ru needs a string value, got an integer"),
    ('KSR.pv.sets("$mf", "1")', "$mf needs an integer value, got a string"),
    ('KSR.pv.sets("$var(x)", 5)', "sets(): expected a string"),
    ('KSR.pv.seti("$var(x)", 1.5)', "seti(): expected an integer, got 1.5"),
    ('KSR.pv.seti("$var(x)", true)', "seti(): expected an integer, got True"),
    ('KSR.pv.get(nil)', "get(): expected a string"),
    ('KSR.pv.getvn("$du", "7")', "getvn(): expected a number"),
])
def test_bad_names_and_types_end_the_route(lua: Scripts, call: str, message: str) -> None:
    with pytest.raises(ScriptError) as info:
        lua.lua(context(), call)
    assert message in str(info.value)


@pytest.mark.parametrize("call", [
    'KSR.pv.sets("$ru", "not a uri")', 'KSR.pv.unset("$ru")', 'KSR.pv.sets("$rp", "99999")',
    'KSR.pv.sets("$rp", "abc")', 'KSR.pv.sets("$du", "sip:a b")', 'KSR.pv.sets("$rd", "")',
])
def test_refused_values_return_minus_one(lua: Scripts, call: str) -> None:
    ctx = context()
    assert lua.lua(ctx, f"out({call})") == [-1]
    assert ctx.msg.uri_text == "sip:bob@example.com:5080;transport=udp" and ctx.dst_uri is None


def test_unknown_name_answers_500_with_the_name_logged(network: Callable[..., LuaNet],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    net = network(relay_after('KSR.pv.get("$nosuch")'))
    with caplog.at_level(logging.ERROR, logger="geosip.script"):
        net.deliver(request())
    assert statuses(net.take(UAC)) == [500]
    assert net.take(UAS) == []
    assert "unknown pseudo-variable $nosuch" in caplog.text


# ---- the name cache --------------------------------------------------------------------

def test_names_are_parsed_once_and_the_cache_is_bounded(lua: Scripts) -> None:
    ctx = context()
    pv.parse.cache_clear()
    lua.lua(ctx, 'for i = 1, 100 do KSR.pv.get("$ru") end')
    info = pv.parse.cache_info()
    assert (info.misses, info.hits) == (1, 99)
    lua.lua(ctx, 'for i = 1, 3000 do KSR.pv.seti("$var(v" .. i .. ")", i) end')
    info = pv.parse.cache_info()
    assert info.maxsize == pv.CACHE_SIZE == 1024 and info.currsize == 1024
    assert len(ctx.script.vars) == 3000 and lua.get(ctx, "$var(v1)") == 1


# ---- KSR.kx ---------------------------------------------------------------------------

KX_VALUES = [
    ("get_ruri", "sip:bob@example.com:5080;transport=udp"), ("get_ruser", "bob"),
    ("get_rhost", "example.com"), ("get_furi", "sip:alice@atlanta.example.com"),
    ("get_fuser", "alice"), ("getw_fuser", "alice"), ("get_fhost", "atlanta.example.com"),
    ("get_turi", "sip:bob@example.com"), ("get_tuser", "bob"), ("get_thost", "example.com"),
    ("get_duri", None), ("gete_duri", ""), ("getw_duri", "<null>"),
    ("get_cturi", "sip:alice@10.0.0.1:5070"), ("get_nhuri", "sip:bob@example.com:5080;transport=udp"),
    ("get_srcuri", "sip:10.0.0.1:5070"), ("get_srcaddr_sock", "udp:10.0.0.1:5070"),
    ("get_ua", "geosip-test/1.0"), ("get_srcip", "10.0.0.1"), ("get_srcport", 5070),
    ("get_send_sock", None), ("get_send_sock_port", 0), ("get_rcvip", "127.0.0.1"),
    ("get_rcvport", 5060), ("get_rcvadvip", "127.0.0.1"), ("get_rcvadvport", 5060),
    ("get_rcvaddr_sock", "udp:127.0.0.1:5060"), ("get_proto", "udp"), ("get_protoid", 1),
    ("get_au", None), ("gete_au", ""), ("getw_au", "<null>"), ("get_method", "INVITE"),
    ("get_status", -1), ("gets_status", None), ("get_body", "hello"), ("get_bodylen", 5),
    ("get_callid", "call-1@10.0.0.1"), ("get_conid", -1), ("get_msglen", len(REQUEST)),
    ("get_msgbuf", REQUEST), ("get_msgtype", 1),
]


@pytest.mark.parametrize("fn,expected", KX_VALUES)
def test_kx_getters(lua: Scripts, fn: str, expected: Any) -> None:
    assert lua.kx(context(), fn) == expected


def test_kx_reply_and_defines(lua: Scripts, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context()
    ctx.script.reply = busy()
    monkeypatch.setitem(kx.DEFINES, "WITH_NAT", "1")
    assert lua.lua(ctx, """
        out(KSR.kx.get_status()) out(KSR.kx.gets_status()) out(KSR.kx.get_msgtype())
        out(KSR.kx.get_body()) out(KSR.kx.gete_body()) out(KSR.kx.get_timestamp() > 0)
        out(KSR.kx.get_def("WITH_NAT")) out(KSR.kx.get_defn("WITH_NAT"))
        out(KSR.kx.ifdef("WITH_NAT")) out(KSR.kx.ifndef("WITH_NAT"))
        out(KSR.kx.get_def("NOPE")) out(KSR.kx.get_defn("NOPE")) out(KSR.kx.ifdef("NOPE"))
    """) == [486, "486", 2, None, "", True, "1", 1, 1, -1, "", 0, -1]
