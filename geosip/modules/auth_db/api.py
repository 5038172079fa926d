"""What other modules use of auth_db (STYLE.md item 4): authenticate a request
against a subscriber table, and read a user's HA1."""

from __future__ import annotations

from .check import authenticate
from .lookup import DatabaseError, get_ha1

__all__ = ["DatabaseError", "authenticate", "get_ha1"]
