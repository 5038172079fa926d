"""corex: core extensions (Kamailio's corex module, KEMI exports). See README.md for the
functions, their return codes and what is not supported yet."""

from __future__ import annotations

from geosip.script.exports import ModuleExports

from . import corex

EXPORTS = ModuleExports(
    name="corex",
    ksr=corex.FUNCTIONS,
    doc="Branches, Request-URI user, User-Agent, raw sends (Kamailio's corex).",
)
