"""sanity: syntax and RFC checks of requests, answered with the RFC's error (Kamailio's
sanity module, KEMI exports). See README.md for the check bits and reply codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geosip.script.exports import ModuleExports, Param

from . import checks

PARAMS = (
    Param("default_checks", 3047, "checks of sanity_check_defaults() (bit mask)"),
    Param("uri_checks", 7, "URIs the parse-URIs check (1024) parses: 1 R-URI, 2 From, "
                           "4 To, 8 Contact"),
    Param("proxy_require", "", "comma-separated option tags accepted in Proxy-Require"),
    Param("autodrop", 1, "no effect on KEMI scripts (as in Kamailio): sanity_check "
                         "returns -1 on a failure"),
    Param("noreply", 0, "1: do not answer a failing request; sanity_reply() does"),
)


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the configured modparams."""
    checks.SETTINGS.update({p.name: p.default for p in PARAMS})
    checks.SETTINGS.update(params or {})


EXPORTS = ModuleExports(
    name="sanity",
    ksr=(checks.sanity_check, checks.sanity_check_defaults, checks.sanity_reply),
    params=PARAMS,
    init=init,
    doc="Request sanity checks answered with the RFC's status (Kamailio's sanity).",
)
