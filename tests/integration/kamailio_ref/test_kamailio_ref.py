"""Kamailio as the reference (issue 4, "Done when"): the same KEMI Lua script,
tests/integration/scripts/compat.lua, runs on Kamailio 5.6 (app_lua, kamailio.cfg here)
and on geosip (`geosip run -c`), and the same sipp suite gets the same answers from both.

The suite, each step a fresh sipp (or two) against the server under test on loopback:
  register     REGISTER                          -> the script's 200
  call         INVITE/ACK/BYE through the proxy  -> 200s, the callee sees INVITE, ACK, BYE
  cancel       INVITE, then CANCEL while ringing -> 200 for the CANCEL, 487 for the INVITE
  unknown      INVITE to sip:unknown@...         -> 404 from the script
  max_forwards INVITE with Max-Forwards: 0       -> 483 (maxfwd)
What is compared per step: the final responses the caller got (method and status), the
requests the callee got, and each sipp's exit code; Kamailio's must be EXPECTED, and
geosip's must equal Kamailio's, measured in the same session.

Kamailio runs as BENCH-NOTES.md says (foreground -DD, logging to stderr -E, its own
runtime dir -Y and pid file -P), once per module, on a free loopback port; it is
stopped by its pid (SIGTERM, then SIGKILL to the process group it leads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import _free_port

from .._proxy import HOST, Proxy
from .._sipp import BENCH, SCENARIOS, Sipp, SippResult
from ._kamailio import Kamailio, require

HERE = Path(__file__).resolve().parent
CFG = HERE / "kamailio.cfg"
COMPAT = HERE.parent / "scripts" / "compat.lua"
CALLS = 2

Outcome = dict[str, tuple[str, ...]]

EXPECTED: Outcome = {
    "register": ("caller exit 0", "caller got REGISTER 200"),
    "call": ("callee exit 0", "callee got ACK", "callee got BYE", "callee got INVITE",
             "caller exit 0", "caller got BYE 200", "caller got INVITE 200"),
    "cancel": ("callee exit 0", "callee got ACK", "callee got CANCEL", "callee got INVITE",
               "caller exit 0", "caller got CANCEL 200", "caller got INVITE 487"),
    "unknown": ("caller exit 0", "caller got INVITE 404"),
    "max_forwards": ("caller exit 0", "caller got INVITE 483"),
}


@dataclass
class Suite:
    outcome: Outcome = field(default_factory=dict)
    results: list[SippResult] = field(default_factory=list)

    def report(self) -> str:
        return "\n\n".join(r.report(60) for r in self.results)


def _caller(result: SippResult) -> list[str]:
    return [f"caller exit {result.returncode}",
            *(f"caller got {m.method} {m.status}" for m in result.finals())]


def _callee(result: SippResult) -> list[str]:
    return [f"callee exit {result.returncode}",
            *(f"callee got {m.method}" for m in result.received() if not m.is_response)]


def run_suite(server: str, folder: Path) -> Suite:
    """The suite against the proxy at `server` (host:port, UDP); every sipp is killed
    at the end, passed or failed."""
    suite = Suite()
    peers: list[Sipp] = []

    def sipp(name: str, scenario: Path, **kwargs: object) -> Sipp:
        peers.append(Sipp(name, scenario, folder, port=_free_port(), wall=20.0,
                          **kwargs))  # type: ignore[arg-type]
        return peers[-1]

    def step(name: str, caller: Sipp, callee: Sipp | None = None) -> None:
        if callee is not None:
            callee.start().wait_listening()
        lines = _caller(caller.run())
        suite.results.append(caller.result())
        if callee is not None:
            suite.results.append(callee.wait())
            lines += _callee(suite.results[-1])
        suite.outcome[name] = tuple(sorted(set(lines)))

    try:
        step("register", sipp("register", HERE / "register_uac.xml", remote=server))
        uas = sipp("call-uas", BENCH / "uas.xml", calls=CALLS)
        step("call", sipp("call-uac", BENCH / "uac.xml", calls=CALLS, rate=10,
                          remote=f"{HOST}:{uas.port}", proxy=server), uas)
        uas = sipp("cancel-uas", SCENARIOS / "cancel_uas.xml", calls=CALLS)
        step("cancel", sipp("cancel-uac", SCENARIOS / "cancel_uac.xml", calls=CALLS, rate=10,
                            remote=f"{HOST}:{uas.port}", proxy=server), uas)
        # nothing listens at the Request-URI: the script answers before any relay
        nowhere = f"{HOST}:{_free_port()}"
        step("unknown", sipp("unknown", HERE / "invite_uac.xml", remote=nowhere, proxy=server,
                             keys={"user": "unknown", "max_forwards": "70"}))
        step("max_forwards", sipp("max-forwards", HERE / "invite_uac.xml", remote=nowhere,
                                  proxy=server, keys={"user": "service", "max_forwards": "0"}))
    finally:
        for peer in peers:
            peer.kill()
    return suite


# ---- Kamailio ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kamailio_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Suite, Kamailio]]:
    """The suite run once against Kamailio; both tests read it."""
    require()
    folder = tmp_path_factory.mktemp("kamailio")
    server = Kamailio(folder, _free_port(), CFG, COMPAT)
    try:
        server.wait_ready()
        yield run_suite(server.addr, folder / "sipp"), server
    finally:
        server.stop()


def test_kamailio_gives_the_expected_answers(kamailio_suite: tuple[Suite, Kamailio]) -> None:
    suite, server = kamailio_suite
    assert suite.outcome == EXPECTED, (
        f"Kamailio (the reference) answered otherwise than expected:\n{suite.outcome}\n\n"
        + suite.report() + "\n\n==== kamailio log:\n" + server.log()[-8000:])


def test_geosip_answers_as_kamailio(
    kamailio_suite: tuple[Suite, Kamailio], proxy: Callable[..., Proxy], tmp_path: Path,
) -> None:
    p = proxy("-c", str(COMPAT))
    assert "router lua" in p.log(), p.log()
    reference, _ = kamailio_suite
    suite = run_suite(p.addr(), tmp_path / "sipp")
    assert suite.outcome == reference.outcome, (
        "geosip and Kamailio answered the same script differently:\n"
        f"geosip:   {suite.outcome}\nKamailio: {reference.outcome}\n\n"
        + suite.report() + "\n\n==== geosip log:\n" + p.log()[-12000:])
    p.assert_no_tracebacks()
