"""maxfwd: Max-Forwards processing (Kamailio's maxfwd module, KEMI exports). See
README.md for the functions and return codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geosip.script.exports import ModuleExports, Param

from . import maxfwd

PARAMS = (Param("max_limit", 70, "Max-Forwards above this is lowered to it (0-255)",
                runtime=True),)


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the configured modparams; max_limit must be 0-255 (ValueError)."""
    settings = {p.name: p.default for p in PARAMS} | dict(params or {})
    if not 0 <= int(settings["max_limit"]) <= 255:
        raise ValueError(f"maxfwd.max_limit must be 0-255, not {settings['max_limit']}")
    maxfwd.SETTINGS.update(settings)


EXPORTS = ModuleExports(
    name="maxfwd",
    ksr=(maxfwd.process_maxfwd, maxfwd.is_maxfwd_lt),
    params=PARAMS,
    init=init,
    doc="Max-Forwards: decrement, add, compare (Kamailio's maxfwd).",
)
