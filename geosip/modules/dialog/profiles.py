"""Dialog profiles (Kamailio's dlg_profile.c): named sets of dialogs, with or
without a value per membership, declared by the profiles_with_value /
profiles_no_value parameters; a dialog leaves its profiles when it ends."""

from __future__ import annotations

from . import table
from .dialog import Dialog


def declare(with_value: str, no_value: str) -> None:
    """Parse the modparams ("a;b"). ValueError for a name declared twice."""
    table.PROFILES.clear()
    for spec, valued in ((with_value, True), (no_value, False)):
        for name in filter(None, (n.strip() for n in str(spec or "").split(";"))):
            if name in table.PROFILES:
                raise ValueError(f"dialog profile {name!r} declared twice")
            table.PROFILES[name] = valued


def check(profile: str, value: str | None) -> bool:
    """Known profile, with a value exactly when it takes one."""
    valued = table.PROFILES.get(profile)
    return valued is not None and (not valued or bool(value))


def add(dialog: Dialog, profile: str, value: str | None) -> bool:
    if not check(profile, value):
        return False
    entry = (profile, value or "")
    if entry not in dialog.profiles:
        dialog.profiles.append(entry)
    return True


def remove(dialog: Dialog, profile: str, value: str | None) -> bool:
    """unset_dlg_profile: False when the dialog was not in it (with that value)."""
    before = len(dialog.profiles)
    dialog.profiles = [(p, v) for p, v in dialog.profiles
                       if not (p == profile and (not value or v == value))]
    return len(dialog.profiles) < before


def member(dialog: Dialog, profile: str, value: str | None) -> bool:
    return any(p == profile and (not value or v == value) for p, v in dialog.profiles)


def size(profile: str, value: str | None = None) -> int:
    """Dialogs (not ended) in the profile, with that value when one is given."""
    return sum(1 for d in table.active() if member(d, profile, value))
