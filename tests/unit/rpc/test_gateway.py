"""geosip/rpc/commands/gateway.py: a gateway's `gateway.report` notification becomes
gateway:<name>_<key> statistics (stats.get_statistics, /metrics), gateway.list shows
the latest report, and a gateway that stops reporting keeps its last values with
gateway:<name>_up 0. Driven through the JSON-RPC dispatcher's bytes, as the gateway
sends them (gateways/report.py), on a fake clock."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from geosip.core.stats import Stats
from geosip.rpc.commands import all_commands
from geosip.rpc.commands.gateway import STALE, GatewayReports
from geosip.rpc.context import RpcContext
from geosip.rpc.dispatch import Dispatcher
from geosip.rpc.metrics import render


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Children:
    """Supervisor.status() of cli/children.py, with the processes' state set by hand."""

    def __init__(self, **running: bool) -> None:
        self.running = running

    def status(self) -> list[dict[str, object]]:
        return [{"name": name.replace("_", " "), "pid": 7 if up else 0, "running": up,
                 "restarts": 0, "uptime": 3 if up else 0}
                for name, up in self.running.items()]


@pytest.fixture
def ctx() -> RpcContext:
    clock = Clock()
    children = Children(snmp_agent=True, gateway_xmpp=True)
    ctx = RpcContext(core=SimpleNamespace(stats=Stats()), children=children)
    ctx.gateways = GatewayReports(ctx.stats, ["xmpp"], children, clock=clock)
    ctx.dispatcher = Dispatcher(all_commands(), ctx)
    return ctx


def notify(ctx: RpcContext, params: Any) -> Any:
    """Send what a gateway sends: a notification (no id, no answer)."""
    data = json.dumps({"jsonrpc": "2.0", "method": "gateway.report", "params": params})
    return ctx.dispatcher.handle(data.encode())


def call(ctx: RpcContext, method: str, *params: Any) -> Any:
    answer = ctx.dispatcher.handle(json.dumps(
        {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}).encode())
    return json.loads(answer)


def gateway_stats(ctx: RpcContext) -> list[str]:
    return call(ctx, "stats.get_statistics", "gateway:")["result"]


XMPP = {"name": "xmpp", "counters": {"sip_received": 3, "xmpp_sent": 2, "refused_503": 1,
                                     "reconnects": 1},
        "state": {"connected": 1}}


def test_a_report_becomes_gateway_statistics(ctx: RpcContext) -> None:
    assert gateway_stats(ctx) == ["gateway:xmpp_up = 0"]  # running, not reported yet
    assert notify(ctx, XMPP) is None                       # a notification: no answer
    assert gateway_stats(ctx) == [
        "gateway:xmpp_connected = 1", "gateway:xmpp_reconnects = 1",
        "gateway:xmpp_refused_503 = 1", "gateway:xmpp_sip_received = 3",
        "gateway:xmpp_up = 1", "gateway:xmpp_xmpp_sent = 2"]
    # the next report replaces the values (they are the gateway's own counters)
    notify(ctx, {**XMPP, "counters": {**XMPP["counters"], "sip_received": 4}})
    assert "gateway:xmpp_sip_received = 4" in gateway_stats(ctx)
    assert call(ctx, "stats.fetch", "gateway:xmpp_xmpp_sent")["result"] == \
        {"gateway.xmpp_xmpp_sent": "2"}


def test_gateway_list_shows_the_latest_report(ctx: RpcContext) -> None:
    notify(ctx, XMPP)
    ctx.gateways.clock.now += 1.5
    agent, xmpp = call(ctx, "gateway.list")["result"]
    assert agent == {"name": "snmp agent", "pid": 7, "running": True, "restarts": 0,
                     "uptime": 3}
    assert xmpp == {"name": "gateway xmpp", "pid": 7, "running": True, "restarts": 0,
                    "uptime": 3, "up": True, "report_age": 1.5,
                    "counters": XMPP["counters"], "state": {"connected": 1}}


def test_a_gateway_that_stops_reporting_keeps_its_values_and_is_down(
        ctx: RpcContext) -> None:
    notify(ctx, XMPP)
    ctx.gateways.clock.now += STALE
    assert "gateway:xmpp_up = 1" in gateway_stats(ctx)
    ctx.gateways.clock.now += 0.1  # past STALE without a report: hung, or not talking
    stats = gateway_stats(ctx)
    assert "gateway:xmpp_up = 0" in stats and "gateway:xmpp_sip_received = 3" in stats
    notify(ctx, XMPP)
    assert "gateway:xmpp_up = 1" in gateway_stats(ctx)
    # its process ended: down at once, whatever the last report's age
    ctx.children.running["gateway_xmpp"] = False
    stats = gateway_stats(ctx)
    assert "gateway:xmpp_up = 0" in stats and "gateway:xmpp_connected = 1" in stats


def test_gauges_in_prometheus(ctx: RpcContext) -> None:
    notify(ctx, XMPP)
    families = {f.name: f for f in text_string_to_metric_families(render(ctx.stats).decode())}
    family = families["geosip_gateway_xmpp_sip_received"]
    assert family.type == "gauge" and family.samples[0].value == 3
    assert families["geosip_gateway_xmpp_up"].samples[0].value == 1


@pytest.mark.parametrize("params, code", [
    ({"name": "sms", "counters": {"a": 1}}, 404),                 # geosip runs no such one
    ({"name": "xmpp", "counters": {"Bad-Name": 1}}, 400),
    ({"name": "xmpp", "counters": {"up": 0}}, 400),               # the supervisor's gauge
    ({"name": "xmpp", "counters": {"a": "7"}}, 400),
    ({"name": "xmpp", "counters": {"a": True}}, 400),
    ({"name": "xmpp", "counters": {"a": 1}, "state": {"a": 1}}, 400),
    ({"name": "xmpp", "counters": [1, 2]}, 400),
    ({"name": "xmpp", "counters": {f"c{i}": i for i in range(65)}}, 400),
    ({"name": "xmpp"}, -32602),
])
def test_refused_reports_change_nothing(ctx: RpcContext, params: dict[str, Any],
                                        code: int) -> None:
    answer = ctx.dispatcher.handle(json.dumps(
        {"jsonrpc": "2.0", "method": "gateway.report", "params": params, "id": 1}).encode())
    assert json.loads(answer)["error"]["code"] == code
    assert gateway_stats(ctx) == ["gateway:xmpp_up = 0"]


def test_without_gateways(ctx: RpcContext) -> None:
    ctx.gateways = None
    answer = ctx.dispatcher.handle(json.dumps(
        {"jsonrpc": "2.0", "method": "gateway.report", "params": XMPP, "id": 1}).encode())
    assert json.loads(answer)["error"]["code"] == 404
    ctx.children = None
    assert call(ctx, "gateway.list")["result"] == []
