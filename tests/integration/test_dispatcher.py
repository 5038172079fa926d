"""scripts/dispatcher.lua with real peers (issue 6, item 7): `geosip run` balancing
calls from a sipp caller over three sipp callees, round robin.

- A answers every INVITE with 500: the failure route moves the call to the next
  callee (ds_next_dst), so the caller still gets a 200.
- C is stopped: the OPTIONS keepalives go unanswered, probing marks it inactive
  (`geosipctl ds.list` says IP) and it gets no calls; restarted, it answers the
  keepalives, is marked active again (AP) and gets calls again.
Which callee answered each call is read from the caller's trace (the 200's Contact
names the callee's port); which callee was tried first from geosip's log lines
(dispatch: ...) and A's own count of INVITEs."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ._proxy import HOST, Proxy
from ._sipp import BENCH, SCENARIOS, Sipp, SippResult
from .conftest import BIN, ROOT

SCRIPT = ROOT / "scripts" / "dispatcher.lua"


def ds_list(cwd: Path) -> dict[str, str]:
    """{destination URI: FLAGS} through `geosipctl ds.list` (as kamcmd dispatcher.list)."""
    done = subprocess.run([str(BIN / "geosipctl"), "--json", "ds.list"], cwd=cwd,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(done.stdout)
    return {t["DEST"]["URI"]: t["DEST"]["FLAGS"]
            for record in result["RECORDS"] for t in record["SET"]["TARGETS"]}


def wait_flags(cwd: Path, uri: str, flags: str, p: Proxy, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ds_list(cwd).get(uri) == flags:
            return
        time.sleep(0.2)
    raise AssertionError(f"{uri} never became {flags}: {ds_list(cwd)}\n{p.log()[-4000:]}")


def answered_by(uac: SippResult, ports: dict[int, str]) -> Counter[str]:
    """Which callee sent the 200 of each call (its Contact's port)."""
    got: Counter[str] = Counter()
    for message in uac.received("INVITE", 200):
        contact = message.header("Contact")[0]
        port = int(contact.split(":")[-1].split(";")[0].rstrip(">"))
        got[ports.get(port, str(port))] += 1
    return got


def test_round_robin_failover_and_probing(proxy: Callable[..., Proxy],
                                          sipp: Callable[..., Sipp],
                                          free_port: Callable[..., int], tmp_path: Path) -> None:
    ports = {free_port(): name for name in "ABC"}
    port = {name: p for p, name in ports.items()}
    uri = {name: f"sip:{HOST}:{p}" for name, p in port.items()}
    # equal priorities are indexed in reverse file order (Kamailio's dispatch.c): the
    # file lists C, B, A so that round robin goes A, B, C
    (tmp_path / "dispatcher.list").write_text(
        "# set 1: three media servers\n" + "".join(f"1 {uri[n]}\n" for n in "CBA"))
    (tmp_path / "dispatcher.lua").write_text(
        SCRIPT.read_text().replace("ds_ping_interval = 10", "ds_ping_interval = 0.3")
        .replace("fr_timer = 2000", "fr_timer = 1000"))

    def callee(name: str, scenario: Path) -> Sipp:
        # -aa: sipp answers the keepalive OPTIONS 200 by itself (each counts as a call of
        # its own for -m: hence no limit, and the calls are counted in the trace)
        return sipp(name, scenario, port=port[name[0]], calls=1_000_000, extra=["-aa"],
                    wall=90).start().wait_listening()

    a = callee("A", SCENARIOS / "dispatcher_500_uas.xml")
    callee("B", BENCH / "uas.xml")
    c = callee("C", BENCH / "uas.xml")
    p = proxy("-c", "dispatcher.lua")
    assert ds_list(tmp_path) == {uri[n]: "AP" for n in "ABC"}

    def calls(name: str) -> SippResult:
        result = sipp(name, BENCH / "uac.xml", port=free_port(), remote=p.addr(),
                      proxy=p.addr(), calls=3, rate=5).run()
        assert result.successful == 3 and result.failed == 0, result.report()
        return result

    # round robin A, B, C: A's 500 fails over to B
    assert answered_by(calls("uac1"), ports) == {"B": 2, "C": 1}
    assert p.log().count(f"failed over from {uri['A']} to {uri['B']}") == 1

    # C stops answering: the keepalives mark it inactive, and it gets no calls
    c.kill()
    wait_flags(tmp_path, uri["C"], "IP", p)
    p.server.wait_for(f"dispatch: dispatcher:dst-down {uri['C']}")
    assert ds_list(tmp_path)[uri["A"]] == "AP"  # a 500 to a call is no keepalive failure
    assert answered_by(calls("uac2"), ports) == {"B": 3}

    # C is back: marked active again, and in the rotation
    callee("C2", BENCH / "uas.xml")
    wait_flags(tmp_path, uri["C"], "AP", p)
    p.server.wait_for(f"dispatch: dispatcher:dst-up {uri['C']}")
    assert answered_by(calls("uac3"), ports) == {"B": 2, "C": 1}

    # A was tried first for 4 calls (rounds 1 and 3, and twice in round 2, where C's
    # turn fell to the next usable one, A); each failed over to B
    a.kill()
    assert len(a.result().received("INVITE")) == 4
    assert p.log().count(f"failed over from {uri['A']} to {uri['B']}") == 4
    p.assert_no_tracebacks()
