"""`geosip run -c registrar.lua`: registrar and usrloc (memory) in the real process,
with sipp peers (tests/integration/scripts/registrar.lua).

- A sipp REGISTERs the contact of a sipp callee; the 200 lists it with its expires.
- A sipp caller calls the AOR through the proxy: every call reaches the callee and
  completes (INVITE/200/ACK/BYE through the record-routed proxy).
- A call to a user nobody registered gets 404.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from ._proxy import Proxy
from ._sipp import BENCH, SCENARIOS, Sipp, SippResult

SCRIPT = Path(__file__).resolve().parent / "scripts" / "registrar.lua"


@pytest.fixture
def registrar(proxy: Callable[..., Proxy], tmp_path: Path) -> Proxy:
    shutil.copy(SCRIPT, tmp_path / "registrar.lua")
    return proxy("-c", "registrar.lua")


def report(p: Proxy, *results: SippResult) -> str:
    return "\n\n".join([*(r.report() for r in results), "==== geosip log:", p.log()[-20000:]])


def test_a_registered_callee_is_reached_and_an_unknown_user_gets_404(
    registrar: Proxy, sipp: Callable[..., Sipp], free_port: Callable[..., int],
) -> None:
    calls = 5
    p = registrar
    uas_port = free_port()
    callee = sipp("uas", BENCH / "uas.xml", port=uas_port, calls=calls)
    callee.start().wait_listening()
    registered = sipp("register", SCENARIOS / "register_uac.xml", port=free_port(),
                      remote=p.addr(), keys={"user": "alice",
                                             "contact_port": str(uas_port)}).run()
    context = report(p, registered)
    assert (registered.returncode, registered.successful) == (0, 1), context
    [ok] = registered.received("REGISTER", 200)
    assert ok.header("Contact") == [f"<sip:alice@127.0.0.1:{uas_port}>;expires=300"], context

    caller = sipp("uac", SCENARIOS / "call_aor_uac.xml", port=free_port(), calls=calls,
                  rate=10, remote=p.addr(), keys={"callee": "alice"}).run()
    answered = callee.wait()
    context = report(p, caller, answered)
    for result in (caller, answered):
        assert (result.returncode, result.successful, result.failed) == (0, calls, 0), context
    assert len(caller.received("INVITE", 200)) >= calls, context
    assert all(m.uri == f"sip:alice@127.0.0.1:{uas_port}"
               for m in answered.received("INVITE")), context

    unknown = sipp("unknown", SCENARIOS / "call_aor_uac.xml", port=free_port(),
                   remote=p.addr(), keys={"callee": "nobody"}).run()
    context = report(p, unknown)
    assert (unknown.returncode, unknown.successful) == (0, 1), context
    assert [m.status for m in unknown.finals()] == [404], context
    p.assert_no_tracebacks()
