"""rr: Record-Route and loose routing (Kamailio's rr module, KEMI exports). See
README.md for the functions, their return codes and what is not supported yet."""

from __future__ import annotations

from geosip.script.exports import ModuleExports

from . import rr

EXPORTS = ModuleExports(
    name="rr",
    ksr=rr.FUNCTIONS,
    doc="Record-Route and loose routing (Kamailio's rr).",
)
