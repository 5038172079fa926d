"""What other modules use of registrar (STYLE.md item 4): the AOR of a URI as the
registrar keys it (auth and domain modules need the same key), and its parameters."""

from __future__ import annotations

from .aor import SETTINGS, aor_key

__all__ = ["SETTINGS", "aor_key"]
