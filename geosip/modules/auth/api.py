"""What other modules use of auth (STYLE.md item 4): backends such as auth_db find
and check credentials with pre_auth, check the password themselves, then call
post_auth; codes holds Kamailio's return values."""

from __future__ import annotations

from . import codes
from .config import SETTINGS
from .credentials import USED, default_realm, header_for, post_auth, pre_auth

# USED: the ctx.script.extra key of the (header, value) that authenticated the request
__all__ = ["SETTINGS", "USED", "codes", "default_realm", "header_for", "post_auth",
           "pre_auth"]
