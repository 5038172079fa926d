"""The dialog module's state: parameters, the dialogs in memory (by hash key and by
Call-ID), the profiles declared, the core it serves and other modules' callbacks.
Reset by init()/destroy() (mod.py)."""

from __future__ import annotations

import itertools
import logging
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from .dialog import CONFIRMED, CONFIRMED_NA, DELETED, EARLY, Dialog

log = logging.getLogger("geosip.dialog")

HASH_SIZE = 4096  # Kamailio's default hash_size: h_entry = hash(Call-ID) % HASH_SIZE

DEFAULTS: dict[str, Any] = {
    "default_timeout": 43200,   # Kamailio's default: 12 hours
    "timeout_bye": 1,           # geosip: BYE both sides when a dialog times out
    "event_callback": "",
    "profiles_with_value": "",
    "profiles_no_value": "",
    "db_mode": 0,               # 0 none, 1 realtime
    "table_name": "dialog",
    "vars_table_name": "dialog_vars",
    "enable_stats": 1,
}
SETTINGS: dict[str, Any] = dict(DEFAULTS)
PROFILES: dict[str, bool] = {}          # name -> has values
DIALOGS: dict[tuple[int, int], Dialog] = {}
BY_CALLID: dict[str, list[Dialog]] = {}
CORE: list[Any] = []                    # the Core dialogs send BYEs through
# Other modules' callbacks by event (Kamailio's dlg_register_dlgcb): "confirmed",
# "terminated", "failed": fn(dialog, ctx or None). They must not block.
CALLBACKS: dict[str, list[Callable[..., None]]] = {}
_ids = itertools.count(1)


def reset() -> None:
    for dialog in DIALOGS.values():
        if dialog.timer is not None:
            dialog.timer.kill(block=False)
    DIALOGS.clear()
    BY_CALLID.clear()
    PROFILES.clear()
    CORE.clear()
    SETTINGS.clear()
    SETTINGS.update(DEFAULTS)
    global _ids
    _ids = itertools.count(1)


def next_key(callid: str) -> tuple[int, int]:
    return zlib.crc32(callid.encode("utf-8", "surrogateescape")) % HASH_SIZE, next(_ids)


def skip_ids(last: int) -> None:
    """After loading dialogs from the database: new h_ids come after theirs."""
    global _ids
    _ids = itertools.count(last + 1)


def add(dialog: Dialog) -> None:
    DIALOGS[dialog.key] = dialog
    BY_CALLID.setdefault(dialog.callid, []).append(dialog)


def remove(dialog: Dialog) -> None:
    DIALOGS.pop(dialog.key, None)
    same = BY_CALLID.get(dialog.callid)
    if same is not None:
        if dialog in same:
            same.remove(dialog)
        if not same:
            del BY_CALLID[dialog.callid]


def find(callid: str, from_tag: str | None, to_tag: str | None) -> Dialog | None:
    """The dialog of an in-dialog request or of (callid, ftag, ttag) in either
    direction (RFC 3261 §12: Call-ID and the two tags)."""
    for dialog in BY_CALLID.get(callid, ()):
        ours = (dialog.caller.tag, dialog.callee.tag)
        if (from_tag, to_tag) == ours or (to_tag, from_tag) == ours:
            return dialog
        if not dialog.callee.tag and from_tag == dialog.caller.tag and not to_tag:
            return dialog
    return None


def get(h_entry: int, h_id: int) -> Dialog | None:
    return DIALOGS.get((h_entry, h_id))


def active() -> Iterator[Dialog]:
    return (d for d in list(DIALOGS.values()) if d.state != DELETED)


def on(event: str, callback: Callable[..., None]) -> None:
    found = CALLBACKS.setdefault(event, [])
    if callback not in found:
        found.append(callback)


def run_callbacks(event: str, dialog: Dialog, ctx: Any = None) -> None:
    for callback in CALLBACKS.get(event, ()):
        try:
            callback(dialog, ctx)
        except Exception:
            log.exception("dialog %s callback failed", event)


def inc(name: str) -> None:
    if CORE and SETTINGS["enable_stats"]:
        CORE[0].stats.inc(name)


def active_dialogs() -> int:
    """dialog:active_dialogs: confirmed dialogs (Kamailio counts from the 2xx on)."""
    return sum(1 for d in DIALOGS.values() if d.state in (CONFIRMED_NA, CONFIRMED))


def early_dialogs() -> int:
    return sum(1 for d in DIALOGS.values() if d.state == EARLY)


STATS = {"dialog:active_dialogs": active_dialogs, "dialog:early_dialogs": early_dialogs}
COUNTERS = ("dialog:processed_dialogs", "dialog:failed_dialogs", "dialog:expired_dialogs")
