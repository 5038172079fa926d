"""xlog: log lines with pseudo-variables (Kamailio's xlog module, KEMI exports). See
README.md for the functions and their return codes."""

from __future__ import annotations

from geosip.script.exports import ModuleExports

from . import xlog

EXPORTS = ModuleExports(
    name="xlog",
    ksr=xlog.FUNCTIONS,
    doc="Log lines with pseudo-variables expanded (Kamailio's xlog).",
)
