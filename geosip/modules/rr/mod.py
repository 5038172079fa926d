"""rr: Record-Route and loose routing (Kamailio's rr module, KEMI exports). See
README.md for the functions, their return codes and what is not supported yet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geosip.script.exports import ModuleExports, Param

from . import rr

PARAMS = (Param("append_fromtag", 1, "1: our Record-Route carries the From tag as ftag "
                "(is_direction needs it), 0: not"),)


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the configured modparams; append_fromtag must be 0 or 1 (ValueError)."""
    settings = {p.name: p.default for p in PARAMS} | dict(params or {})
    if settings["append_fromtag"] not in (0, 1):
        raise ValueError(f"rr.append_fromtag must be 0 or 1, not {settings['append_fromtag']}")
    rr.SETTINGS.update(settings)


EXPORTS = ModuleExports(
    name="rr",
    ksr=rr.FUNCTIONS,
    params=PARAMS,
    init=init,
    doc="Record-Route and loose routing (Kamailio's rr).",
)
