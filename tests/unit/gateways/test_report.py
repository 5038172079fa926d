"""gateways/report.py: what a gateway pushes to the core's control socket (a JSON-RPC
notification gateway.report per connection), and that a missing or silent socket
never stops or blocks the gateway (the push is dropped, logged once)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from geosip.gateways.report import Report

Received = list[dict[str, Any]]


async def _core(path: Path, received: Received, *, answer: bool = True) -> asyncio.Server:
    """A control socket as geosip/rpc/server.py serves it: one request per
    connection, read to EOF, then closed (or, answer=False, never read nor closed)."""
    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not answer:
            await asyncio.sleep(3600)
        received.append(json.loads(await reader.read()))
        writer.close()

    return await asyncio.start_unix_server(one, path=str(path))


def test_pushes_notifications_with_counters_and_state(tmp_path: Path) -> None:
    link = {"up": True}
    received: Received = []

    async def scenario() -> None:
        server = await _core(tmp_path / "ctl", received)
        report = Report("xmpp", ("sip_received", "xmpp_sent"),
                        read={"reconnects": lambda: 2},
                        state={"connected": lambda: int(link["up"])}, interval=0.01)
        report.inc("sip_received")
        report.inc("sip_received")
        report.start(str(tmp_path / "ctl"))
        while len(received) < 2:
            await asyncio.sleep(0.01)
        link["up"] = False
        await report.stop()  # a last push with the final state
        server.close()

    asyncio.run(scenario())
    assert received[0] == {"jsonrpc": "2.0", "method": "gateway.report", "params": {
        "name": "xmpp", "counters": {"sip_received": 2, "xmpp_sent": 0, "reconnects": 2},
        "state": {"connected": 1}}}
    assert "id" not in received[0]  # a notification: the core answers nothing
    assert received[-1]["params"]["state"] == {"connected": 0}


def test_undeclared_counter_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        Report("sms", ("submitted",)).inc("submited")


def test_no_socket_drops_reports_and_logs_once(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    received: Received = []

    async def scenario() -> list[bool]:
        report = Report("sms", ("submitted",))
        report.target = str(tmp_path / "ctl")
        results = [await report.push(), await report.push()]
        server = await _core(tmp_path / "ctl", received)  # the core comes up
        results.append(await report.push())
        server.close()
        return results

    with caplog.at_level(logging.INFO, logger="geosip.gateways.report"):
        assert asyncio.run(scenario()) == [False, False, True]
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "cannot report" in m]) == 1, messages
    assert any("reporting to geosip" in m and "again" in m for m in messages), messages
    assert received[0]["params"]["counters"] == {"submitted": 0}


def test_a_core_that_never_reads_does_not_hold_the_gateway(tmp_path: Path) -> None:
    async def scenario() -> bool:
        server = await _core(tmp_path / "ctl", [], answer=False)
        report = Report("sms", ("submitted",), timeout=0.2)
        report.target = str(tmp_path / "ctl")
        pushed = await report.push()  # dropped after `timeout`, not waited for
        server.close()
        return pushed

    assert asyncio.run(scenario()) is False


def test_no_target_means_no_reports() -> None:
    async def scenario() -> bool:
        report = Report("xmpp", ("sip_received",))
        report.start(None)
        await report.stop()
        return await report.push()

    assert asyncio.run(scenario()) is False
