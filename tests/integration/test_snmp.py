"""The SNMP agent (issue 8 items 5 and 6) with net-snmp's own tools, as an operator
would use them: `geosip run --snmp` (and the geosip.snmp table) starts the agent;
snmpget/snmpwalk (v2c and v3 USM) read values after real sipp traffic and they equal
what `geosipctl stats.get_statistics all` says; a wrong community gets no answer;
snmptrapd receives the start trap, a threshold trap and the dispatcher-down trap when
a sipp callee stops answering the keepalives; GEOSIP-MIB.txt passes `smilint -l 4`
and loads in snmptranslate.

net-snmp needs the SMIv2 base modules (SNMPv2-SMI/TC/CONF) to load GEOSIP-MIB; Debian
keeps them in non-free (snmp-mibs-downloader), so tests/integration/mibs holds them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ._proxy import HOST, Proxy
from ._sipp import BENCH, Sipp
from .conftest import BIN, ROOT
from tests.support.scripts import open_default

MIB_DIR = ROOT / "snmp"
BASE_MIBS = Path(__file__).resolve().parent / "mibs"
MIBS = ["-M", f"{BASE_MIBS}:{MIB_DIR}", "-m", "GEOSIP-MIB"]
V3 = ["-v3", "-l", "authPriv", "-u", "ops", "-a", "SHA", "-A", "authpass1",
      "-x", "AES", "-X", "privpass1"]
SNMP_TABLE = """
geosip.snmp = {{
  community = "s3cret",
  v3 = {{ user = "ops", auth_key = "authpass1", priv_key = "privpass1" }},
  {extra}
}}
"""


def net_snmp(tool: str, *args: str, timeout: float = 15) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=timeout)


def get(agent: str, auth: list[str], *objects: str) -> dict[str, str]:
    """snmpget with GEOSIP-MIB loaded: {"geosipRcvRequests.0": "12", ...}."""
    done = net_snmp("snmpget", *MIBS, "-OQs", "-t", "2", "-r", "1", *auth, agent, *objects)
    assert done.returncode == 0, done.stderr + done.stdout
    return dict(line.split(" = ", 1) for line in done.stdout.splitlines())


def walk(agent: str, auth: list[str], root: str) -> dict[str, str]:
    done = net_snmp("snmpwalk", *MIBS, "-OQs", "-t", "2", "-r", "1", *auth, agent, root)
    assert done.returncode == 0, done.stderr + done.stdout
    return dict(line.split(" = ", 1) for line in done.stdout.splitlines())


def statistics(cwd: Path) -> dict[str, int]:
    """`geosipctl --json stats.get_statistics all`, typed as a user types it."""
    done = subprocess.run([str(BIN / "geosipctl"), "--json", "stats.get_statistics", "all"],
                          cwd=cwd, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr + done.stdout
    out = {}
    for line in json.loads(done.stdout):
        name, _, value = line.partition(" = ")
        out[name] = int(float(value))
    return out


def script(folder: Path, extra: str = "", base: Path | None = None) -> Path:
    """A script whose geosip table gains the snmp table (community s3cret, user ops)."""
    source = base or open_default(folder)
    target = folder / f"snmp-{source.name}"
    target.write_text(source.read_text() + SNMP_TABLE.format(extra=extra))
    return target


# ---- the MIB file ------------------------------------------------------------------------


def test_mib_passes_smilint_level_4() -> None:
    done = subprocess.run(["smilint", "-l", "4", str(MIB_DIR / "GEOSIP-MIB.txt")],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "SMIPATH": str(BASE_MIBS)})
    # smilint exits 0 even with warnings: every line it prints is a finding
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), \
        done.stdout + done.stderr


def test_mib_loads_in_snmptranslate() -> None:
    done = net_snmp("snmptranslate", *MIBS, "-On", "GEOSIP-MIB::geosipDsState")
    assert done.stdout.strip() == ".1.3.6.1.4.1.99999.1.6.1.4", done.stderr
    done = net_snmp("snmptranslate", *MIBS, "-Tp", "GEOSIP-MIB::geosipMIB")
    for name in ("geosipDsDestDown(2)", "geosipMethodTable(3)", "geosipRcvRequests(1)",
                 "geosipRegisteredUsers(1)", "geosipGatewayState(3)",
                 "geosipGatewaySipIn(4)", "geosipGatewayLink(6)"):
        assert name in done.stdout, done.stdout + done.stderr


# ---- values after real traffic -----------------------------------------------------------


def test_values_after_sipp_traffic_match_the_statistics(
        proxy: Callable[..., Proxy], sipp: Callable[..., Sipp],
        free_port: Callable[..., int], tmp_path: Path) -> None:
    snmp_port = free_port()
    agent = f"udp:{HOST}:{snmp_port}"
    p = proxy("-c", str(script(tmp_path)), "--snmp", f"{HOST}:{snmp_port}")
    p.server.wait_for("snmp agent on")

    calls, uas_port = 5, free_port()
    uas = sipp("uas", BENCH / "uas.xml", port=uas_port, calls=calls).start().wait_listening()
    uac = sipp("uac", BENCH / "uac.xml", port=free_port(), calls=calls, rate=10,
               remote=f"{HOST}:{uas_port}", proxy=p.addr()).run()
    assert uac.successful == calls, uac.report()
    uas.wait()
    time.sleep(1.5)  # the agent polls the core once a second

    stats = statistics(tmp_path)
    assert stats["core:rcv_requests_invite"] == calls  # the traffic reached the core
    v2c = ["-v2c", "-c", "s3cret"]
    got = get(agent, v2c, "geosipRcvRequests.0", "geosipRcvReplies.0",
              "geosipFwdRequests.0", "geosipUasTransactions.0",
              'geosipMethodRcvRequests."INVITE"', 'geosipMethodRcvRequests."BYE"',
              "geosipStatusClassRcvReplies.2", "geosipStatusClassTransactions.2",
              "geosipActiveTransactions.0", "geosipRegisteredUsers.0")
    assert got == {
        "geosipRcvRequests.0": str(stats["core:rcv_requests"]),
        "geosipRcvReplies.0": str(stats["core:rcv_replies"]),
        "geosipFwdRequests.0": str(stats["core:fwd_requests"]),
        "geosipUasTransactions.0": str(stats["tm:UAS_transactions"]),
        'geosipMethodRcvRequests."INVITE"': str(calls),
        'geosipMethodRcvRequests."BYE"': str(stats["core:rcv_requests_bye"]),
        "geosipStatusClassRcvReplies.2": str(stats["core:rcv_replies_2xx"]),
        "geosipStatusClassTransactions.2": str(stats["tm:2xx_transactions"]),
        "geosipActiveTransactions.0": str(stats["tm:inuse_transactions"]),
        "geosipRegisteredUsers.0": str(stats["usrloc:registered_users"]),
    }

    # v3 (authPriv) reads the same tree
    summary = walk(agent, V3, "GEOSIP-MIB::geosipSummary")
    assert summary["geosipRcvRequests.0"] == str(stats["core:rcv_requests"])
    assert summary["geosipUacTransactions.0"] == str(stats["tm:UAC_transactions"])

    # RFC 4780 SIP-COMMON-MIB, numerically (its text is not shipped here), applIndex 1
    invite = ".".join(str(b) for b in (6, *b"INVITE"))
    done = net_snmp("snmpget", "-m", "", "-On", "-OQ", *V3, agent,
                    ".1.3.6.1.2.1.149.1.3.1.1.1.1", ".1.3.6.1.2.1.149.1.3.1.1.3.1",
                    ".1.3.6.1.2.1.149.1.3.1.1.5.1", f".1.3.6.1.2.1.149.1.4.1.1.3.1.{invite}")
    assert done.returncode == 0, done.stderr
    values = [line.split(" = ")[1] for line in done.stdout.splitlines()]
    assert values == [str(stats["core:rcv_requests"]), str(stats["core:rcv_replies"]),
                      str(stats["tm:UAS_transactions"] + stats["tm:UAC_transactions"]),
                      str(calls)]

    # a wrong community, or a v3 user with a wrong key, gets no value
    wrong = net_snmp("snmpget", "-m", "", "-v2c", "-c", "public", "-t", "1", "-r", "0",
                     agent, ".1.3.6.1.4.1.99999.1.2.1.0")
    assert wrong.returncode != 0 and "Timeout" in wrong.stderr, wrong.stdout + wrong.stderr
    bad_key = [a if a != "privpass1" else "privpass2" for a in V3]
    wrong = net_snmp("snmpget", "-m", "", "-t", "1", "-r", "0", *bad_key, agent,
                     ".1.3.6.1.4.1.99999.1.2.1.0")
    assert wrong.returncode != 0 and "99999" not in wrong.stdout, wrong.stdout
    p.assert_no_tracebacks()


# ---- traps --------------------------------------------------------------------------------


class TrapSink:
    """snmptrapd in the foreground with a throwaway config, logging to a file."""

    def __init__(self, folder: Path, port: int) -> None:
        conf = folder / "snmptrapd.conf"
        conf.write_text("disableAuthorization yes\n")
        self.log = folder / "traps.log"
        self.log.write_text("")
        self.proc = subprocess.Popen(
            ["snmptrapd", *MIBS, "-f", "-C", "-c", str(conf), "-Lf", str(self.log),
             "-On", f"udp:{HOST}:{port}"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text()
            if re.search(pattern, text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"no trap matching {pattern!r}; snmptrapd got:\n"
                             + self.log.read_text())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def trap_sink(tmp_path: Path, free_port: Callable[..., int]) -> Iterator[TrapSink]:
    sink = TrapSink(tmp_path, free_port())
    yield sink
    sink.stop()


def test_traps_start_threshold_and_dispatcher_destination_down(
        proxy: Callable[..., Proxy], sipp: Callable[..., Sipp],
        free_port: Callable[..., int], trap_sink: TrapSink, tmp_path: Path) -> None:
    sink_port = int(trap_sink.proc.args[-1].rsplit(":", 1)[1])
    ports = {name: free_port() for name in "AB"}
    uri = {name: f"sip:{HOST}:{port}" for name, port in ports.items()}
    (tmp_path / "dispatcher.list").write_text("".join(f"1 {uri[n]}\n" for n in "AB"))
    base = tmp_path / "dispatcher.lua"
    base.write_text((ROOT / "scripts" / "dispatcher.lua").read_text()
                    .replace("ds_ping_interval = 10", "ds_ping_interval = 0.3")
                    .replace("fr_timer = 2000", "fr_timer = 1000"))
    callees = {name: sipp(name, BENCH / "uas.xml", port=port, calls=1_000_000,
                          extra=["-aa"], wall=90).start().wait_listening()
               for name, port in ports.items()}
    extra = (f'trap_sink = "{HOST}:{sink_port}", trap_community = "traps",\n'
             '  thresholds = { ["tm:UAC_transactions"] = 4 },')
    p = proxy("-c", str(script(tmp_path, extra, base)), "--snmp", f"{HOST}:{free_port()}")

    # the start trap, with the version the core reports
    text = trap_sink.wait_for(r"\.1\.3\.6\.1\.4\.1\.99999\.0\.1\b")
    assert "geosip 0." in text, text
    # 4 keepalives: the UAC transactions counter rises to the threshold
    text = trap_sink.wait_for(r"\.1\.3\.6\.1\.4\.1\.99999\.0\.4\b")
    assert "STRING: tm:UAC_transactions" in text, text

    # B stops answering the keepalives: probing marks it inactive, a trap says so
    callees["B"].kill()
    text = trap_sink.wait_for(r"\.1\.3\.6\.1\.4\.1\.99999\.0\.2\b")
    down = text[text.index(".1.3.6.1.4.1.99999.0.2"):]
    assert f"STRING: {uri['B']}" in down and uri["A"] not in down, down
    # the destination's row (ds.list's order: Kamailio's, equal priorities reversed)
    row = re.search(r"\.1\.6\.1\.3\.1\.(\d+) = STRING: " + re.escape(uri["B"]), down)
    assert row, down
    assert f".1.3.6.1.4.1.99999.1.6.1.4.1.{row.group(1)} = INTEGER: inactive(3)" in down, down
    p.server.wait_for(f"dispatcher:dst-down {uri['B']}")
    p.assert_no_tracebacks()
