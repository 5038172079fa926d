"""KSR.dialog: Kamailio's dialog functions in their KEMI form (return codes: 1 true,
-1 false)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from geosip.script import pv
from geosip.script.exports import ksr

from . import profiles
from .bye import SIDES, end
from .track import current, manage, set_timeout

if TYPE_CHECKING:
    from geosip.core.context import RequestContext

log = logging.getLogger("geosip.dialog")


@ksr("dlg_manage", returns="1 the request belongs to a dialog (created for an initial "
     "INVITE), -1 not")
def dlg_manage(ctx: "RequestContext") -> bool:
    """Track the dialog of this request: create it for an initial INVITE (state
    unconfirmed, then early/confirmed/deleted with the responses); an in-dialog request
    is matched to its dialog (the core does that for every request anyway)."""
    return manage(ctx) is not None


@ksr("is_known_dlg", returns="1 the message belongs to a tracked dialog, -1 not")
def is_known_dlg(ctx: "RequestContext") -> bool:
    """Whether the request is part of a dialog the module tracks."""
    return current(ctx) is not None


def _profile_op(ctx: "RequestContext", op: str, profile: str, value: str | None) -> bool:
    dialog = current(ctx)
    if dialog is None:
        return False
    fn = {"set": profiles.add, "unset": profiles.remove, "is": profiles.member}[op]
    return fn(dialog, profile, value or None)


@ksr("set_dlg_profile", "ss", returns="1 added, -1 no dialog or unknown profile")
def set_dlg_profile(ctx: "RequestContext", profile: str, value: str) -> bool:
    """Put the dialog in `profile` with `value` (a profiles_with_value profile)."""
    return _profile_op(ctx, "set", profile, value)


@ksr("set_dlg_profile_static", "s", returns="1 added, -1 no dialog or unknown profile")
def set_dlg_profile_static(ctx: "RequestContext", profile: str) -> bool:
    """Put the dialog in `profile` (a profiles_no_value profile)."""
    return _profile_op(ctx, "set", profile, None)


@ksr("unset_dlg_profile", "ss", returns="1 removed, -1 not in it")
def unset_dlg_profile(ctx: "RequestContext", profile: str, value: str) -> bool:
    """Take the dialog out of `profile` (the membership with `value`)."""
    return _profile_op(ctx, "unset", profile, value)


@ksr("unset_dlg_profile_static", "s", returns="1 removed, -1 not in it")
def unset_dlg_profile_static(ctx: "RequestContext", profile: str) -> bool:
    """Take the dialog out of `profile`."""
    return _profile_op(ctx, "unset", profile, None)


@ksr("is_in_profile", "ss", returns="1 in the profile (with that value; \"\" any), -1 not")
def is_in_profile(ctx: "RequestContext", profile: str, value: str) -> bool:
    """Whether the dialog belongs to `profile` (with `value` when not empty)."""
    return _profile_op(ctx, "is", profile, value)


@ksr("is_in_profile_static", "s", returns="1 in the profile, -1 not")
def is_in_profile_static(ctx: "RequestContext", profile: str) -> bool:
    """Whether the dialog belongs to `profile`."""
    return _profile_op(ctx, "is", profile, None)


@ksr("get_profile_size", "sss", returns="1, the size written to the PV; -1 unknown profile")
def get_profile_size(ctx: "RequestContext", profile: str, value: str, pvname: str) -> bool:
    """Count the dialogs in `profile` (with `value`, "" for all) into `pvname`, e.g.
    "$var(size)"."""
    if profile not in profiles.table.PROFILES:
        log.error("get_profile_size: no profile %s", profile)
        return False
    return pv.parse(pvname).set(ctx, profiles.size(profile, value or None))


@ksr("get_profile_size_static", "ss", returns="as get_profile_size")
def get_profile_size_static(ctx: "RequestContext", profile: str, pvname: str) -> bool:
    """get_profile_size without a value."""
    return get_profile_size.fn(ctx, profile, "", pvname)  # type: ignore[no-any-return]


@ksr("dlg_bye", "s", blocking=True,
     returns="1 BYE sent and the dialog ended, -1 no confirmed dialog or a bad side")
def dlg_bye(ctx: "RequestContext", side: str) -> bool:
    """End the request's dialog: BYE to "caller", "callee" or "all", built from the
    route sets, contacts and CSeqs the dialog learned."""
    dialog = current(ctx)
    if dialog is None or side not in SIDES:
        return False
    return end(dialog, ctx.core, side)


@ksr("dlg_set_timeout", "i", returns="1, -1 no dialog")
def dlg_set_timeout(ctx: "RequestContext", seconds: int) -> bool:
    """The dialog's lifetime in seconds from its confirmation (a confirmed dialog's
    timer restarts now with it); when it runs out the dialog ends (with BYEs, see
    timeout_bye)."""
    dialog = current(ctx)
    if dialog is None or seconds <= 0:
        return False
    set_timeout(dialog, int(seconds))
    return True


FUNCTIONS = (dlg_manage, is_known_dlg, set_dlg_profile, set_dlg_profile_static,
             unset_dlg_profile, unset_dlg_profile_static, is_in_profile,
             is_in_profile_static, get_profile_size, get_profile_size_static, dlg_bye,
             dlg_set_timeout)
