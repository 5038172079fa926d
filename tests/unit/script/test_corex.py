"""KSR.corex through a real Lua script and the real Core (kemi_harness.py): return
codes, the branches a stateful relay forks to, and raw data sent by send_data (a
blocking call: it runs outside Lua, so the greenlet guard stays at zero)."""

from __future__ import annotations

from pathlib import Path

import pytest

from geosip.sip import Request
from geosip.transport.base import Endpoint, SendError
from tests.unit.script.kemi_harness import UAS, Proxy, run, wire

MODULES = ("corex",)
CAROL = Endpoint("udp", "127.0.0.1", 5090)
NO_USER = wire(("INVITE sip:bob@127.0.0.1:5080", "INVITE sip:127.0.0.1:5080"))
TEL = wire(("INVITE sip:bob@127.0.0.1:5080", "INVITE tel:+4930123"))
WITH_UA = wire(("X-Foo: one\r\n", "User-Agent: phone/1.0\r\nX-Foo: one\r\n"))

RETURNS = [
    ("KSR.corex.has_ruri_user()", None, 1),
    ("KSR.corex.has_ruri_user()", NO_USER, -1),
    ("KSR.corex.has_ruri_user()", TEL, 1),
    ("KSR.corex.has_user_agent()", None, -1),
    ("KSR.corex.has_user_agent()", WITH_UA, 1),
    ('KSR.corex.append_branch_uri("sip:carol@127.0.0.1:5090")', None, 1),
    ('KSR.corex.append_branch_uri("not a uri")', None, -1),
    ('KSR.corex.append_branch_uri_q("sip:carol@127.0.0.1:5090", "0.5")', None, 1),
    ('KSR.corex.append_branch_uri_q("sip:carol@127.0.0.1:5090", "1")', None, 1),
    ('KSR.corex.append_branch_uri_q("sip:carol@127.0.0.1:5090", "1.5")', None, -1),
    ('KSR.corex.append_branch_uri_q("sip:carol@127.0.0.1:5090", "high")', None, -1),
    ("KSR.corex.append_branch()", None, 1),
    ('KSR.corex.send_data("sip:127.0.0.1:5090", "ping")', None, 1),
    ('KSR.corex.send_data("not a uri", "ping")', None, -1),
    ('KSR.corex.send_data("tel:+4930123", "ping")', None, -1),     # no route to a tel URI
]


@pytest.mark.parametrize("expr,data,value", RETURNS)
def test_corex_returns(tmp_path: Path, expr: str, data: bytes | None, value: int) -> None:
    out, proxy = run(tmp_path, f"KSR.t.out({expr})", data or wire(), MODULES)
    assert out == [value]
    assert proxy.violations == 0


def invites(proxy: Proxy) -> list[tuple[str, Endpoint]]:
    """(Request-URI, destination) of every INVITE sent."""
    out = []
    for data, dest in proxy.transport.sent:
        if data.startswith(b"INVITE "):
            out.append((data.split(b" ", 2)[1].decode(), dest))
    return out


def test_branches_are_forked_by_the_relay(tmp_path: Path) -> None:
    route = ('KSR.corex.append_branch_uri("sip:carol@127.0.0.1:5090")\n'
             'KSR.corex.append_branch_uri_q("sip:dave@127.0.0.1:5090", "0.3")\n'
             "KSR.t.relay()")
    proxy = Proxy(tmp_path, route, MODULES)
    try:
        proxy.send(wire())
        assert sorted(invites(proxy)) == sorted([
            ("sip:bob@127.0.0.1:5080", UAS), ("sip:carol@127.0.0.1:5090", CAROL),
            ("sip:dave@127.0.0.1:5090", CAROL)])
        assert proxy.ctx.script.extra["branch_q"] == {"sip:dave@127.0.0.1:5090": 0.3}
        assert proxy.violations == 0
    finally:
        proxy.close()


def test_append_branch_copies_the_request_uri(tmp_path: Path) -> None:
    out, proxy = run(tmp_path, "KSR.t.out(KSR.corex.append_branch())", wire(), MODULES)
    assert proxy.ctx.branches == [("sip:bob@127.0.0.1:5080", None)]


def test_at_most_twelve_targets(tmp_path: Path) -> None:
    route = ('for i = 1, 12 do KSR.t.out(KSR.corex.append_branch_uri('
             '"sip:u" .. i .. "@127.0.0.1:5090")) end')
    out, proxy = run(tmp_path, route, wire(), MODULES)
    assert out == [1] * 11 + [-1]
    assert len(proxy.ctx.branches) == 11


def test_send_data_sends_the_bytes(tmp_path: Path) -> None:
    route = 'KSR.t.out(KSR.corex.send_data("sip:127.0.0.1:5090;transport=tcp", "OPTIONS x"))'
    out, proxy = run(tmp_path, route, wire(), MODULES)
    assert out == [1]
    assert (b"OPTIONS x", Endpoint("tcp", "127.0.0.1", 5090)) in proxy.transport.sent
    assert proxy.violations == 0


def test_send_data_failure(tmp_path: Path) -> None:
    proxy = Proxy(tmp_path, 'KSR.t.out(KSR.corex.send_data("sip:127.0.0.1:5090", "x"))',
                  MODULES)

    def refuse(data: bytes, dest: Endpoint, **kw: object) -> None:
        raise SendError("connection refused")

    proxy.transport.send = refuse  # type: ignore[method-assign]
    try:
        assert proxy.send(wire()) == [-1]
    finally:
        proxy.close()


def test_the_relay_copies_a_request(tmp_path: Path) -> None:
    out, proxy = run(tmp_path, "KSR.t.relay()", wire(), MODULES)
    sent = [m for m in proxy.take(UAS) if isinstance(m, Request)]
    assert [m.method for m in sent] == ["INVITE"]
