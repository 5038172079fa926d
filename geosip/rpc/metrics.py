"""Prometheus text exposition of the statistics (GET /metrics on the HTTP port),
written by prometheus-client: counters become geosip_<group>_<name>_total, gauges
geosip_<group>_<name>, each with HELP and TYPE lines. Names are sanitized to
Prometheus' [a-zA-Z0-9_:] (usrloc:location-contacts -> geosip_usrloc_location_contacts).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_BAD = re.compile(r"[^a-zA-Z0-9_]")

__all__ = ["CONTENT_TYPE_LATEST", "metric_name", "render"]


def metric_name(stat: str) -> str:
    """core:rcv_requests -> geosip_core_rcv_requests (without the _total suffix)."""
    return "geosip_" + _BAD.sub("_", stat)


class _StatsCollector:
    def __init__(self, stats: Any) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        for stat, value in self.stats.snapshot().items():
            name, text = metric_name(stat), f"Kamailio statistic {stat}"
            if self.stats.is_gauge(stat):
                yield GaugeMetricFamily(name, text, value=value)
            else:
                yield CounterMetricFamily(name, text, value=value)


def render(stats: Any) -> bytes:
    """The exposition text of every statistic, read now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StatsCollector(stats))  # type: ignore[arg-type]
    return generate_latest(registry)
