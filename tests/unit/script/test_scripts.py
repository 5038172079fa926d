"""The Lua scripts that ship (scripts/default.lua) or that tests share with Kamailio
(tests/integration/scripts/compat.lua): they load, and they call only KSR functions that
geosip exports, except inside the guards of modules outside the default set."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from geosip.script import registry
from geosip.script.apidoc import ENGINE_FUNCTIONS
from geosip.script.engine import Engine

ROOT = Path(__file__).resolve().parents[3]
DEFAULT = ROOT / "scripts" / "default.lua"
COMPAT = ROOT / "tests" / "integration" / "scripts" / "compat.lua"

# default.lua tests `if KSR.<module> then` before using these (next issues bring them)
GUARDED = {"registrar", "auth", "auth_db", "msilo", "nathelper"}

_CALL = re.compile(r"KSR\.(\w+)(?:\.(\w+))?\s*\(")


def calls(path: Path) -> set[str]:
    code = re.sub(r"--[^\n]*", "", path.read_text())   # comments (no long ones here)
    return {f"{m.group(1)}.{m.group(2)}" if m.group(2) else m.group(1)
            for m in _CALL.finditer(code)}


def exported() -> set[str]:
    names = {f"{k}.{f.name}" for k, fs in ENGINE_FUNCTIONS.items() for f in fs}
    for module in registry.core_exports() + registry.module_exports(registry.DEFAULT_MODULES):
        names |= {f"{module.name}.{f.name}" if module.name else f.name for f in module.ksr}
    return names


@pytest.mark.parametrize("path", [DEFAULT, COMPAT], ids=["default.lua", "compat.lua"])
def test_calls_only_exported_functions(path: Path) -> None:
    used = {name for name in calls(path) if name.split(".")[0] not in GUARDED}
    missing = sorted(used - exported())
    assert not missing, f"{path.name} calls KSR functions geosip does not export: {missing}"


def test_default_guards_the_modules_outside_the_default_set() -> None:
    assert not GUARDED & set(registry.DEFAULT_MODULES)
    text = DEFAULT.read_text()
    for module in ("registrar", "auth_db", "nathelper"):
        assert f"if not KSR.{module}" in text or f"if KSR.{module}" in text


@pytest.mark.parametrize("path", [DEFAULT, COMPAT], ids=["default.lua", "compat.lua"])
def test_loads_in_the_engine(path: Path) -> None:
    engine = Engine(path, registry.all_exports())
    assert engine.script.function("ksr_request_route") is not None
