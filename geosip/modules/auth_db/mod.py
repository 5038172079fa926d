"""auth_db's exports (STYLE.md item 4): KSR.auth_db over the subscriber table
(geosip.db.models.Subscriber, Kamailio's schema). Needs auth loaded with it:
geosip = { modules = { "auth", "auth_db", ... } }. See README.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geosip.script import pv
from geosip.script.exports import ModuleExports, Param

from . import check
from .config import SETTINGS

PARAMS = (
    Param("calculate_ha1", 0, "1: hash the plaintext `password` column; 0: use the "
          "stored `ha1` (`ha1b` when the username carries @domain)"),
    Param("use_domain", 0, "1: match the `domain` column too (the username's @domain, "
          "else the realm)"),
    Param("load_credentials", "", "columns of the user's row to load into PVs after a "
          "successful check: \"$avp(pbxgroupid)=pbxgroupid;email_address\" (a bare "
          "column goes to $avp(column))"),
)


def parse_credentials(spec: str) -> tuple[tuple[pv.Pv, str], ...]:
    """Kamailio's load_credentials: "$avp(s:x)=column;column2" -> (PV, column) pairs.
    ValueError for a column that is not an identifier or a PV that cannot be set."""
    out = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        target, sep, column = part.rpartition("=")
        column = column.strip()
        if not column.replace("_", "a").isalnum() or not column.isascii():
            raise ValueError(f"auth_db.load_credentials: bad column {column!r}")
        name = target.strip() if sep else f"$avp({column})"
        try:
            accessor = pv.parse(name)
        except pv.PvError as exc:
            raise ValueError(f"auth_db.load_credentials: {exc}") from None
        if accessor._set is None:
            raise ValueError(f"auth_db.load_credentials: {name} cannot be set")
        out.append((accessor, column))
    return tuple(out)


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the modparams; ValueError for a flag other than 0 or 1."""
    settings = {p.name: p.default for p in PARAMS} | dict(params or {})
    for name in ("calculate_ha1", "use_domain"):
        if settings[name] not in (0, 1):
            raise ValueError(f"auth_db.{name} must be 0 or 1, not {settings[name]}")
    if not isinstance(settings["load_credentials"], str):
        raise ValueError("auth_db.load_credentials must be a string")
    settings["credentials"] = parse_credentials(settings["load_credentials"])
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
