"""Variants of scripts/default.lua for tests, derived from the shipped file at run time
so that there is one script to maintain."""

from __future__ import annotations

from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "scripts" / "default.lua"
AUTH_MODULES = ', "auth", "auth_db"'


def open_default(folder: Path) -> Path:
    """default.lua without auth and auth_db: the lab setup its header describes. It
    registers anyone and relays for anyone (ksr_route_auth steps aside), which is what
    tests of the core need, where strangers on loopback call each other through it."""
    text = DEFAULT.read_text()
    assert AUTH_MODULES in text, f"{DEFAULT} no longer loads {AUTH_MODULES}"
    target = folder / "default-open.lua"
    target.write_text(text.replace(AUTH_MODULES, "", 1))
    return target
