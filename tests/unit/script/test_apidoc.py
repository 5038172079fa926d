"""apidoc: the KSR reference generated from the export tables, and scripts/API.md kept
equal to it (regenerate with `python -m geosip.script.apidoc > scripts/API.md`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from geosip.script.apidoc import api_markdown, available_exports, signature
from geosip.script.exports import ModuleExports, Param, ksr

API_MD = Path(__file__).resolve().parents[3] / "scripts" / "API.md"


@ksr("send", "is", returns="1 sent, -1 not")
def send(ctx: object, code: int, reason: str) -> int:
    """Send a reply.

    Second   paragraph,
    on two lines."""
    return 1


@ksr("sleep", "i", blocking=True)
def sleep(ctx: object, *args: int) -> int:
    return 1


@ksr("opt", "s?")
def opt(ctx: object, a: str, b: object = None) -> int:
    return 1


@ksr("is_it", boolean=True, returns="true when it is")
def is_it(ctx: object) -> bool:
    return True


def test_boolean() -> None:
    text = api_markdown([ModuleExports(name="", ksr=(is_it,))])
    assert "- `KSR.is_it()`\n  - returns: true or false (a Lua boolean): true when it is\n" in text


def test_signature() -> None:
    assert signature(send) == "(code: int, reason: str)"
    assert signature(sleep) == "(int)"            # names unknown: the kinds alone
    assert signature(opt) == "(a: str, [any])"


def test_markdown() -> None:
    text = api_markdown([
        ModuleExports(name="", ksr=(sleep,), doc="Core."),
        ModuleExports(name="demo", ksr=(send, opt), params=(
            Param("timeout", 30, "Seconds to wait."), Param("mode", "x", runtime=True)),
            doc="A demo module."),
        ModuleExports(name="x"),
    ])
    assert "## KSR (core)\n\nCore.\n\n- `KSR.sleep(int)` *waits*\n  - returns: 1 on success, -1 on failure\n" in text
    assert ("## KSR.demo\n\nA demo module.\n\n- `KSR.demo.opt(a: str, [any])`\n"
            "  - returns: 1 on success, -1 on failure\n"
            "- `KSR.demo.send(code: int, reason: str)`\n  - returns: 1 sent, -1 not\n"
            "  - Send a reply.\n  - Second paragraph, on two lines.\n") in text
    assert ("Parameters (`geosip.modules.demo`):\n\n- `timeout` (default `30`): Seconds to wait.\n"
            "- `mode` (default `'x'`), settable at run time\n") in text
    # KSR.x.exit lives in the engine, not in an export table, and is listed all the same
    assert "- `KSR.x.exit()`\n  - returns: does not return: the route ends\n" in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_every_function_of_every_module_is_listed() -> None:
    text = api_markdown(available_exports())
    for module in available_exports():
        for function in module.ksr:
            name = f"KSR.{module.name}.{function.name}" if module.name else f"KSR.{function.name}"
            assert f"- `{name}(" in text


def test_scripts_api_md_is_up_to_date() -> None:
    generated = subprocess.run([sys.executable, "-m", "geosip.script.apidoc"], check=True,
                               capture_output=True, text=True).stdout
    assert API_MD.exists(), "scripts/API.md is missing: python -m geosip.script.apidoc > scripts/API.md"
    assert API_MD.read_text(encoding="utf-8") == generated, (
        "scripts/API.md is stale: regenerate it with "
        "`python -m geosip.script.apidoc > scripts/API.md` and commit it")
