"""KSR.xlog through a real Lua script and the real Core (tests/support/luanet.py): PVs expanded
in formats (geosip/script/pvformat.py), Kamailio's level names and return codes
(xlog.c: ki_xlog falls back to L_ERR for an unknown level; a format that does not parse
is -1), and the bounded format cache."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from geosip.script import pvformat
from geosip.script.pv import PvError
from tests.support.luanet import UAS, LuaNet, request

LOGGER = "geosip.script.log"

ROUTE = """
function ksr_request_route()
  KSR.pv.sets("$var(x)", "vx")
  KSR.pv.sets("$avp(y)", "vy")
  KSR.test.record({call})
end
"""
UA = "User-Agent: phone/1.0\r\nX-Foo: one\r\nX-Foo: two\r\n"

CASES = [
    # (call, level logged at, text logged)
    ('KSR.xlog.xlog("L_INFO", "$rm $ru from $si:$sp ua=$hdr(User-Agent) $var(x) $avp(y)\\n")',
     logging.INFO, "INVITE sip:service@127.0.0.1:5080 from 127.0.0.1:5070 ua=phone/1.0 vx vy"),
    ('KSR.xlog.xlog("l_warn", "$(hdr(X-Foo)[1]) $fU@$fd tag=$ft")', logging.WARNING,
     "two sipp@127.0.0.1 tag=1SIPpTag001"),
    ('KSR.xlog.xlog("L_NO_SUCH", "to $tu $tt cseq $cs")', logging.ERROR,     # L_ERR
     "to sip:service@127.0.0.1:5080 <null> cseq 1"),
    ('KSR.xlog.xdbg("dbg $ci")', logging.DEBUG, "dbg 1-call@127.0.0.1"),
    ('KSR.xlog.xinfo("no pv at all")', logging.INFO, "no pv at all"),
    ('KSR.xlog.xnotice("$$var(x)")', None, None),              # "$" alone: -1
    ('KSR.xlog.xwarn("$hdr(X-None)")', logging.WARNING, "<null>"),
    ('KSR.xlog.xerr("$var(unset)")', logging.ERROR, "0"),      # $var is 0 until set
    ('KSR.xlog.xalert("a")', logging.CRITICAL, "a"),
    ('KSR.xlog.xcrit("$rm")', logging.CRITICAL, "INVITE"),
]


def logged(tmp_path: Path, caplog: pytest.LogCaptureFixture, call: str,
           level: int = logging.DEBUG) -> tuple[list[object], list[tuple[int, str]]]:
    """Run `call` in a request route: (what it returned, the script's log lines)."""
    caplog.set_level(level, logger=LOGGER)
    net = LuaNet(ROUTE.format(call=call), tmp_path, modules=("sl", "xlog"), guard=True)
    try:
        net.deliver(request(extra=UA))
        assert net.engine.violations == 0
    finally:
        net.stop()
    return net.recorded, [(r.levelno, r.getMessage()) for r in caplog.records
                          if r.name == LOGGER]


@pytest.mark.parametrize("call,level,text", CASES)
def test_xlog_expands_pvs(tmp_path: Path, caplog: pytest.LogCaptureFixture, call: str,
                          level: int | None, text: str | None) -> None:
    out, lines = logged(tmp_path, caplog, call)
    if level is None:
        assert out == [-1] and lines == []
    else:
        assert out == [1] and lines == [(level, text)]


@pytest.mark.parametrize("fmt", ["$nosuchpv", "tail $", "$hdr(X-Foo", "$ru $var()"])
def test_bad_format_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                               fmt: str) -> None:
    out, lines = logged(tmp_path, caplog, f"KSR.xlog.xinfo({fmt!r})")
    assert out == [-1] and lines == []


def test_level_not_logged_skips_the_format(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """Kamailio's is_printable: a level that is not logged returns 1 before parsing,
    even for a format that would not parse."""
    out, lines = logged(tmp_path, caplog, 'KSR.xlog.xdbg("$nosuchpv")', logging.INFO)
    assert out == [1] and lines == []


def test_in_a_reply_route_the_reply_is_read(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    net = LuaNet("function ksr_request_route() KSR.tm.t_relay() end\n"
                 "function ksr_reply_route() KSR.xlog.xinfo('reply $rs $rr for $rm') end\n",
                 tmp_path, modules=("tm", "xlog"))
    try:
        net.deliver(request())
        [forwarded] = net.take(UAS)
        net.reply_to(forwarded, "404 Nobody")
    finally:
        net.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert "reply 404 Nobody for INVITE" in lines


def test_format_cache_is_bounded() -> None:
    pvformat.parse_format.cache_clear()
    for i in range(pvformat.CACHE_SIZE + 50):
        pvformat.parse_format(f"line {i} $ru")
    assert pvformat.parse_format.cache_info().currsize == pvformat.CACHE_SIZE
    assert pvformat.parse_format("a $ru b") is pvformat.parse_format("a $ru b")


def test_parse_format_parts() -> None:
    parts = pvformat.parse_format("x=$var(a(b)) $(hdr(V)[0]);$si:$T_branch_idx.")
    names = [p if isinstance(p, str) else p.name for p in parts]
    assert names == ["x=", "$var(a(b))", " ", "$(hdr(V)[0])", ";", "$si", ":",
                     "$T_branch_idx", "."]
    with pytest.raises(PvError):
        pvformat.parse_format("$")
