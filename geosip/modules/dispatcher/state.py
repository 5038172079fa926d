"""A destination's state machine (Kamailio's ds_update_state and its probe callback).

States are flag bits (destinations.py): active (none), TRYING (selectable, but it
failed lately), INACTIVE (skipped), DISABLED (skipped, by the administrator), each
with PROBING or not (OPTIONS keepalives). Inputs:
- `mark(dest, state)`: ds_mark_dst and dispatcher.set_state ("a", "i", "t", "d",
  each but "d" optionally followed by "p").
- `probe_result(dest, ok)`: a keepalive answered with an accepted code (ok) or not
  (another code, a local 408 timeout or 503 send failure).
Thresholds: a TRYING destination becomes INACTIVE after ds_probing_threshold failures
in a row; an INACTIVE one becomes active after ds_inactive_threshold successes in a
row (Kamailio README §3.22, §3.23).
Both return "dispatcher:dst-down" when the destination stopped being selectable,
"dispatcher:dst-up" when it became selectable again, else None (README §7).
Nothing here does I/O: the caller runs the event.
"""

from __future__ import annotations

from dataclasses import dataclass

from .destinations import DISABLED, INACTIVE, PROBING, TRYING, Destination

DOWN = "dispatcher:dst-down"
UP = "dispatcher:dst-up"

# ds_probing_mode values (README §3.25)
PROBE_FLAGGED = 0   # only PROBING ones; a success clears PROBING
PROBE_ALL = 1       # every destination not disabled
PROBE_INACTIVE = 2  # only INACTIVE and PROBING ones
PROBE_KEEP = 3      # PROBING ones, and PROBING is never cleared


@dataclass(frozen=True, slots=True)
class Thresholds:
    probing: int = 1    # ds_probing_threshold
    inactive: int = 1   # ds_inactive_threshold
    mode: int = PROBE_FLAGGED


def parse_state(text: str) -> int | None:
    """"a", "i", "t", "d" (or Kamailio's digits 1, 0, 3, 2), "p" added for probing:
    the flag bits; None when the text is none of these."""
    if not text:
        return None
    first = text[0].lower()
    base = {"a": 0, "1": 0, "i": INACTIVE, "0": INACTIVE, "t": TRYING, "3": TRYING,
            "d": DISABLED, "2": DISABLED}.get(first)
    if base is None:
        return None
    if base != DISABLED and "p" in text[1:].lower():
        base |= PROBING
    return base


def flags_text(flags: int) -> str:
    """Two letters as kamcmd dispatcher.list shows them: A/I/D/T then P or X."""
    first = ("I" if flags & INACTIVE else "D" if flags & DISABLED else
             "T" if flags & TRYING else "A")
    return first + ("P" if flags & PROBING else "X")


def _edge(before: bool, after: bool) -> str | None:
    if before and not after:
        return DOWN
    if after and not before:
        return UP
    return None


def mark(dest: Destination, state: int, limits: Thresholds) -> str | None:
    """Set the state the script or the administrator asked for (ds_update_state):
    "t" counts one failure toward the threshold instead of setting TRYING outright,
    and an INACTIVE destination stays inactive on "t" (it must become active first)."""
    before = dest.usable
    old = dest.flags
    dest.flags &= ~(INACTIVE | TRYING | DISABLED | PROBING)
    if limits.mode == PROBE_KEEP and old & PROBING:
        dest.flags |= PROBING
    if state & DISABLED:
        dest.flags |= DISABLED
        dest.failures = dest.successes = 0
        return _edge(before, dest.usable)
    dest.flags |= state & PROBING
    if state & TRYING:
        if old & INACTIVE:
            dest.flags |= INACTIVE
        else:
            dest.failures += 1
            dest.flags |= INACTIVE if dest.failures >= limits.probing else TRYING
            if dest.flags & INACTIVE:
                dest.failures = 0
    else:
        dest.flags |= state & INACTIVE
        dest.failures = dest.successes = 0
    return _edge(before, dest.usable)


def probe_result(dest: Destination, ok: bool, limits: Thresholds) -> str | None:
    """A keepalive's outcome. A disabled destination is left alone (the administrator
    disabled it while the probe was out)."""
    if dest.flags & DISABLED:
        return None
    before = dest.usable
    keep_probing = limits.mode != PROBE_FLAGGED or not ok
    probing = PROBING if (limits.mode == PROBE_ALL or
                          (keep_probing and dest.flags & PROBING)) else 0
    if ok:
        dest.failures = 0
        if dest.flags & INACTIVE:
            dest.successes += 1
            if dest.successes < limits.inactive:
                return None  # not yet: still inactive
        dest.successes = 0
        dest.flags = (dest.flags & ~(INACTIVE | TRYING | PROBING)) | probing
    else:
        dest.successes = 0
        if not dest.flags & INACTIVE:
            dest.failures += 1
            if dest.failures >= limits.probing:
                dest.failures = 0
                dest.flags = (dest.flags & ~TRYING) | INACTIVE
            else:
                dest.flags |= TRYING
        dest.flags = (dest.flags & ~PROBING) | probing
    return _edge(before, dest.usable)


__all__ = ["DOWN", "PROBE_ALL", "PROBE_FLAGGED", "PROBE_INACTIVE", "PROBE_KEEP", "UP",
           "Thresholds", "flags_text", "mark", "parse_state", "probe_result"]
