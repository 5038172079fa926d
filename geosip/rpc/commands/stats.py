"""stats.get_statistics, stats.reset_statistics, stats.clear_statistics and
stats.fetch (Kamailio's kex module: get_statistics answers "group:name = value"
strings; fetch a struct of "group.name": "value")."""

from __future__ import annotations

from typing import Any

from geosip.script.exports import rpc


def _selected(ctx: Any, which: tuple[str, ...]) -> dict[str, int | float]:
    out: dict[str, int | float] = {}
    for selector in which or ("all",):
        out.update(ctx.stats.values(str(selector)))
    return out


@rpc("stats.get_statistics", "all | group: | group:name [...]")
def get_statistics(ctx: Any, *which: str) -> list[str]:
    """Statistics as "group:name = value" lines: all, a group ("core:") or single ones."""
    return [f"{name} = {value}" for name, value in _selected(ctx, which).items()]


@rpc("stats.fetch", "all | group: | group:name [...]")
def fetch(ctx: Any, *which: str) -> dict[str, str]:
    """The same selection as a struct {"group.name": "value"}."""
    return {name.replace(":", ".", 1): str(value)
            for name, value in _selected(ctx, which).items()}


@rpc("stats.reset_statistics", "all | group: | group:name [...]")
def reset_statistics(ctx: Any, *which: str) -> None:
    """Zero the selected counters (gauges such as tm:inuse_transactions keep their live
    value)."""
    for selector in which or ("all",):
        ctx.stats.reset(str(selector))


@rpc("stats.clear_statistics", "all | group: | group:name [...]")
def clear_statistics(ctx: Any, *which: str) -> list[str]:
    """Return the selected statistics, then zero them (Kamailio's clear_statistics)."""
    lines = get_statistics.fn(ctx, *which)
    reset_statistics.fn(ctx, *which)
    return lines


COMMANDS = (get_statistics, fetch, reset_statistics, clear_statistics)
