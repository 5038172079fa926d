"""registrar's exports (STYLE.md item 4): KSR.registrar (save.py, lookup.py) over
usrloc's tables. Load usrloc with it: geosip = { modules = { "registrar", "usrloc" } }."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geosip.script.exports import ModuleExports, Param

from . import aor, lookup, save

PARAMS = (
    Param("default_expires", 3600, "expires of a contact given none (seconds)"),
    Param("min_expires", 60, "shortest accepted expires (0: no minimum)"),
    Param("min_expires_mode", 0, "0 raise a shorter expires to min_expires (Kamailio's "
          "default), 1 answer 423 Interval Too Brief with Min-Expires"),
    Param("max_expires", 3600, "longer expires are lowered to it (0: no maximum; "
          "Kamailio's default is 0)"),
    Param("default_q", -1, "q (thousandths) of a contact given none; -1 unspecified"),
    Param("max_contacts", 0, "most live contacts per AOR (0: no limit); more: 503"),
    Param("append_branches", 1, "1: lookup appends the other contacts as branches"),
    Param("method_filtering", 0, "1: lookup skips contacts whose Allow/methods lack the "
          "request's method (-2 when none is left)"),
    Param("use_path", 0, "1: store the Path headers of a REGISTER (RFC 3327)"),
    Param("path_mode", 2, "0 off (no Path in the 200), 1 lazy (Path in the 200 if "
          "Supported: path), 2 strict (also 420 without Supported: path)"),
    Param("received_avp", "$avp(RECEIVED)", "AVP holding the received URI that "
          "nathelper's fix_nated_register sets (the same name as nathelper's "
          "received_avp; empty: none)"),
    Param("received_param", "received", "Contact parameter holding a received URI "
          "(nathelper's add_rcv_param at a proxy in front; empty: none)"),
)


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the modparams; ValueError for a negative expires, path_mode outside 0-2
    or max below min."""
    settings = {p.name: p.default for p in PARAMS} | dict(params or {})
    for name in ("default_expires", "min_expires", "max_expires", "max_contacts"):
        if int(settings[name]) < 0:
            raise ValueError(f"registrar.{name} must be >= 0, not {settings[name]}")
    if settings["path_mode"] not in (0, 1, 2):
        raise ValueError(f"registrar.path_mode must be 0, 1 or 2, not {settings['path_mode']}")
    if not -1 <= int(settings["default_q"]) <= 1000:
        raise ValueError(f"registrar.default_q must be -1..1000, not {settings['default_q']}")
    if settings["max_expires"] and settings["max_expires"] < settings["min_expires"]:
        raise ValueError("registrar.max_expires is below min_expires")
    aor.SETTINGS.clear()
    aor.SETTINGS.update(settings)


init()  # defaults until the configuration's geosip.modules.registrar applies

EXPORTS = ModuleExports(
    name="registrar",
    ksr=(*save.FUNCTIONS, *lookup.FUNCTIONS),
    params=PARAMS,
    init=init,
    doc="SIP registrar (RFC 3261 §10): save REGISTERs to usrloc, look contacts up.",
)
