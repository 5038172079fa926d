"""uac's exports (STYLE.md item 4): KSR.uac (send.py, replace.py, auth.py), the
$uac_req pseudo-variable (request.py) and Kamailio's modparams. Needs tm (and rr for
the vsf/vst Record-Route parameters). See README.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geosip.script import pv
from geosip.script.exports import ModuleExports, Param

from . import auth, config, replace, request, send

PARAMS = (
    Param("event_callback", "", "KEMI: the function run with \"uac:reply\" for the reply "
          "of a uac_req_send request with $uac_req(evroute) set"),
    Param("credential", None, "\"user:realm:password\" (a list for several) that "
          "uac_auth answers challenges of that realm with"),
    Param("auth_username_avp", "", "PV holding the user uac_auth uses, e.g. $avp(auser)"),
    Param("auth_password_avp", "", "PV holding the password, e.g. $avp(apasswd)"),
    Param("auth_realm_avp", "", "PV holding the realm (empty: the challenge's)"),
    Param("restore_mode", "auto", "none: no vsf/vst Record-Route parameter; manual or "
          "auto: stored for uac_restore_from/to (replies are always restored)"),
    Param("restore_passwd", "", "key the vsf/vst values are XOR-ed with"),
    Param("rr_from_store_param", "vsf", "Record-Route parameter for the From pair"),
    Param("rr_to_store_param", "vst", "Record-Route parameter for the To pair"),
)


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the modparams; ValueError for a malformed credential or restore_mode."""
    settings = {p.name: p.default for p in PARAMS} | dict(params or {})
    if settings["restore_mode"] not in ("none", "manual", "auto"):
        raise ValueError(f"uac.restore_mode must be none, manual or auto, not "
                         f"{settings['restore_mode']!r}")
    credential = settings["credential"]
    for item in [credential] if isinstance(credential, str) else list(credential or ()):
        config.check_credential(item)
    for name in ("rr_from_store_param", "rr_to_store_param"):
        if not str(settings[name]).isidentifier():
            raise ValueError(f"uac.{name} must be a parameter name, not {settings[name]!r}")
    config.SETTINGS.clear()
    config.SETTINGS.update(settings)
    request.reset()


def destroy() -> None:
    request.reset()


def _uac_req(arg: str, index: Any, label: str) -> pv.Pv:
    """$uac_req(key) (request.py): strings for the text keys, integers for the rest."""
    if arg not in request.KEYS:
        raise pv.PvError(f"unknown pseudo-variable {label}")
    kinds = (int,) if arg in request.INT_KEYS else (str, int) if arg == "all" else (str,)

    def set_(ctx: Any, value: str | int | None) -> bool:
        if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
            raise pv.PvError(f"{label} needs {'an integer' if kinds == (int,) else 'a string'}"
                             " value")
        request.set_field(ctx, arg, value)
        return True
    return pv.Pv(label, lambda ctx: request.get_field(ctx, arg), set_)


init()  # defaults until the configuration's geosip.modules.uac applies
pv.register("uac_req", _uac_req)

EXPORTS = ModuleExports(
    name="uac",
    ksr=(*send.FUNCTIONS, *replace.FUNCTIONS, *auth.FUNCTIONS),
    params=PARAMS,
    init=init,
    destroy=destroy,
    doc="Requests from the script ($uac_req, uac_req_send), From/To rewriting, "
        "upstream authentication.",
)
