"""Hostile datagrams for the SNMP agent that `geosip run --snmp` starts (snmp/agent.py):
malformed BER (fuzzed from a valid GET with a fixed seed, plus lengths that lie), a
GETBULK asking 100000 repetitions, unknown OIDs, a walk past the end. The agent answers
(noSuchObject, endOfMibView, a bounded GETBULK: RFC 3416 §4.2.3 lets it send fewer
varbinds) or drops the datagram (RFC 3417 §8), logs no traceback, and keeps serving
net-snmp's snmpget.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
from collections.abc import Callable

from ._proxy import HOST, Proxy

ROOT_OID = "1.3.6.1.4.1.99999"   # GEOSIP-MIB's enterprise arc
# GET 1.3.6.1.2.1.1.1.0, v2c, community "public" (request-id 1)
GET = bytes.fromhex("302602010104067075626c6963a0190204000000010201000201003"
                    "00b3009060500000000000500")


def net_snmp(tool: str, agent: str, *oids: str,
             options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool, "-m", "", "-v2c", "-c", "public", "-t", "2", "-r", "2",
                           "-On", *options, agent, *oids], capture_output=True, text=True,
                          timeout=20, env={**os.environ, "MIBS": ""})


def test_hostile_snmp_requests(proxy: Callable[..., Proxy],
                               free_port: Callable[..., int]) -> None:
    port = free_port()
    p = proxy("--snmp", f"{HOST}:{port}")
    p.server.wait_for("snmp agent on")
    agent = f"{HOST}:{port}"

    def serving() -> None:
        done = net_snmp("snmpget", agent, f"{ROOT_OID}.1.1.1.0")
        assert done.returncode == 0 and f".{ROOT_OID}.1.1.1.0 = " in done.stdout, (
            done.stdout + done.stderr + p.log()[-3000:])

    serving()
    unknown = net_snmp("snmpget", agent, f"{ROOT_OID}.7.7.7", "1.3.6.1.2.1.1.1.0")
    assert unknown.stdout.count("No Such Object") == 2, unknown.stdout + unknown.stderr
    bulk = net_snmp("snmpbulkget", agent, "1.3.6.1", options=("-Cn0", "-Cr100000"))
    assert bulk.returncode == 0 and bulk.stdout.count("\n") >= 1, bulk.stderr
    past = net_snmp("snmpgetnext", agent, f"{ROOT_OID}.99")
    assert "past the end" in past.stdout or "No more variables" in past.stdout, past.stdout

    junk = [b"", b"\x30", b"\x30\x82\xff\xff", b"\x30\x84\xff\xff\xff\xff" + b"\0" * 10,
            b"\x30" + b"\x80" * 5000, b"\x30\x03\x02\x01\x01", os.urandom(1400)]
    rng = random.Random(4475)
    for _ in range(300):
        mutated = bytearray(GET)
        for _ in range(3):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        junk.append(bytes(mutated))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in junk:
            sock.sendto(datagram, (HOST, port))
    serving()
    p.assert_no_tracebacks()
