"""Kamailio's auth return codes (auth/api.h, enum auth_cfg_result): what
KSR.auth_db.* return, and what auth's pre_auth hands its backends."""

from __future__ import annotations

AUTH_OK = 1
AUTH_ERROR = -1             # malformed credentials, a nonce we did not issue, db errors
AUTH_INVALID_PASSWORD = -2
AUTH_USER_UNKNOWN = -3
AUTH_STALE_NONCE = -4       # genuine but expired: the next challenge says stale=true
AUTH_NO_CREDENTIALS = -5    # no credentials for this realm
AUTH_NONCE_REUSED = -6      # nc not above the last accepted one (or a one-time nonce again)
AUTH_USER_MISMATCH = -8     # auth_check flag 1: auth user is not the From/To user

DO_AUTHENTICATION = 0       # pre_auth only: the backend checks the password now
