"""siputils: SIP checks and Request-URI helpers (Kamailio's siputils module, KEMI
exports). See README.md for each function and its return codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geosip.script.exports import ModuleExports, Param

from . import checks

PARAMS = (
    Param("options_accept", "*/*", "Accept header of options_reply()"),
    Param("options_accept_encoding", "", "Accept-Encoding header of options_reply()"),
    Param("options_accept_language", "en", "Accept-Language header of options_reply()"),
    Param("options_support", "", "Supported header of options_reply()"),
)


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the configured modparams (unknown names are refused by the config reader)."""
    checks.SETTINGS.update({p.name: p.default for p in PARAMS})
    checks.SETTINGS.update(params or {})


EXPORTS = ModuleExports(
    name="siputils",
    ksr=checks.FUNCTIONS,
    params=PARAMS,
    init=init,
    doc="SIP checks, Request-URI parameters, URI comparison, OPTIONS replies "
        "(Kamailio's siputils).",
)
