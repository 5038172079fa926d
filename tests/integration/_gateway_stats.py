"""What an operator reads about a gateway (issue 8 item 3, "gateway counters"):
`geosipctl stats.get_statistics gateway:` typed in geosip run's directory, and the
same statistics from GET /metrics (Prometheus text, parsed with prometheus-client).
The gateways push their counters once a second, so a check waits until the values
it expects are there (or says what was there instead)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

WAIT = 10.0  # seconds: several pushes (gateways/report.py pushes every second)


def ctl(cwd: Path, *args: str) -> str:
    """`geosipctl ARGS` in `cwd`, where geosip run's default data dir and socket are."""
    done = subprocess.run([sys.executable, "-m", "geosip.cli.ctl", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def gateway_statistics(cwd: Path) -> dict[str, float]:
    """`geosipctl stats.get_statistics gateway:` as {"gateway:sms_submitted": 2, ...}."""
    out = {}
    for line in ctl(cwd, "stats.get_statistics", "gateway:").splitlines():
        name, sep, value = line.strip().partition(" = ")
        if sep:
            out[name] = float(value)
    return out


def wait_for_statistics(cwd: Path, expected: dict[str, float],
                        timeout: float = WAIT) -> dict[str, float]:
    """Every statistic of `expected` with its value, within `timeout`; the statistics
    (all of the gateway: group) then."""
    deadline = time.monotonic() + timeout
    while True:
        got = gateway_statistics(cwd)
        if all(got.get(name) == value for name, value in expected.items()):
            return got
        if time.monotonic() > deadline:
            wrong = {name: got.get(name) for name, value in expected.items()
                     if got.get(name) != value}
            raise AssertionError(f"gateway statistics: expected {expected}, but "
                                 f"{wrong}; all: {got}")
        time.sleep(0.3)


def prometheus(host: str, port: int) -> dict[str, tuple[str, float]]:
    """GET /metrics: {family name: (type, value)} of its single-sample families."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {f.name: (f.type, f.samples[0].value)
            for f in text_string_to_metric_families(text) if len(f.samples) == 1}
