"""auth_db's modparams, filled by mod.init."""

from __future__ import annotations

from typing import Any

SETTINGS: dict[str, Any] = {}
