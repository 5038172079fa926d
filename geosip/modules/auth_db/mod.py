"""auth_db's exports (STYLE.md item 4): KSR.auth_db over the subscriber table
(geosip.db.models.Subscriber, Kamailio's schema). Needs auth loaded with it:
geosip = { modules = { "auth", "auth_db", ... } }. See README.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geosip.script.exports import ModuleExports, Param

from . import check
from .config import SETTINGS

PARAMS = (
    Param("calculate_ha1", 0, "1: hash the plaintext `password` column; 0: use the "
          "stored `ha1` (`ha1b` when the username carries @domain)"),
    Param("use_domain", 0, "1: match the `domain` column too (the username's @domain, "
          "else the realm)"),
)


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the modparams; ValueError for a flag other than 0 or 1."""
    settings = {p.name: p.default for p in PARAMS} | dict(params or {})
    for name in ("calculate_ha1", "use_domain"):
        if settings[name] not in (0, 1):
            raise ValueError(f"auth_db.{name} must be 0 or 1, not {settings[name]}")
    SETTINGS.clear()
    SETTINGS.update(settings)


init()  # defaults until the configuration's geosip.modules.auth_db applies

EXPORTS = ModuleExports(
    name="auth_db",
    ksr=check.FUNCTIONS,
    params=PARAMS,
    init=init,
    doc="Digest authentication against the subscriber table.",
)
