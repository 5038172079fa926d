"""msilo's parameters (Kamailio's msilo README §3, names and meanings) and the state
they live in: SETTINGS, filled by mod.init(), and the core kept by mod.start() for
what runs outside a request (deliveries, timers, the msilo:stored event, counters).

Defaults are Kamailio's (msilo.c) but one: add_date is 0. Kamailio prefixes a stored
text/plain body with "[Offline message - <date>] " by default; geosip delivers the
body as it was sent unless add_date = 1 (issue #7: no body mangling unless
configured), and the original time travels in a Date header either way.
Kamailio's db_url/db_table/sc_* are not offered: the silo table of the database
`geosip run` opens is used, with Kamailio's column names (db/models.py Silo).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from geosip.script.exports import Param

if TYPE_CHECKING:
    from geosip.core.core import Core

PARAMS = (
    Param("from_address", "", "SIP address the offline notice comes from (PVs allowed, "
          "e.g. sip:$rU@example.com); empty: no notice"),
    Param("offline_message", "", "body of the offline notice (PVs allowed); needs "
          "content_type_hdr"),
    Param("content_type_hdr", "", "\"Content-Type: text/plain\\r\\n\" of the notice"),
    Param("contact_hdr", "", "\"Contact: <...>\\r\\n\" added to the notice (PVs allowed)"),
    Param("use_contact", 1, "1: the notice goes to the sender's Contact, 0: to its "
          "From URI"),
    Param("skip_notification_flag", -1, "message flag (0-31) that suppresses the notice"),
    Param("extra_hdrs", "", "header lines (\"X-A: $tu\\r\\n\", PVs allowed) added to "
          "every MESSAGE m_dump sends"),
    Param("extra_hdrs_avp", "", "AVP ($avp(name)) whose header lines m_store keeps "
          "instead of the request's own extra headers"),
    Param("snd_time_avp", "", "AVP ($avp(name)) holding YYYYMMDDHHMMSS: m_store keeps "
          "the message as a reminder to send then"),
    Param("reminder", "", "SIP address reminders come from; empty: no reminders"),
    Param("outbound_proxy", "", "next hop (SIP URI) of the notices instead of their "
          "R-URI"),
    Param("expire_time", 259200, "seconds a stored message is kept (an Expires header "
          "of the MESSAGE may shorten it)"),
    Param("check_time", 60, "seconds between timer runs: failed deliveries are tried "
          "again (to users still registered), expired rows removed every clean_period "
          "runs"),
    Param("send_time", 0, "seconds between reminder runs (0: no reminders)"),
    Param("clean_period", 10, "check_time runs between two removals of expired rows"),
    Param("add_date", 0, "1: prefix a text/plain body with \"[Offline message - "
          "<date>] \" (Kamailio's default; geosip's is 0: the body is not changed)"),
    Param("add_contact", 0, "1: the MESSAGEs m_dump sends carry Contact: <From "
          "URI>;msilo=yes"),
    Param("max_messages", 0, "most messages kept per AOR (0: no limit); m_store "
          "returns -1 past it"),
    Param("use_mode", 0, "1: keep the Call-ID of the stored MESSAGE and deliver with it"),
    Param("event_callback", "", "Lua function run as fname(\"msilo:stored\") after each "
          "m_store, on the stored MESSAGE ($ru, $fu, $tu, $rb, $ct) with "
          "$avp(msilo_id) and $avp(msilo_owner) set (e.g. to notify a push service)"),
    Param("location_table", "location", "geosip: the usrloc table whose bindings "
          "receive the stored messages of a user"),
)

SETTINGS: dict[str, Any] = {p.name: p.default for p in PARAMS}
CORE: list["Core"] = []     # set by mod.start(): deliveries, timers and events need it

STORED_EVENT = "msilo:stored"
COUNTERS = ("msilo:stored_messages", "msilo:dumped_messages", "msilo:failed_messages",
            "msilo:dumped_reminders", "msilo:failed_reminders")


def apply(params: Any) -> None:
    """Check and keep the modparams. ValueError for an unusable value (Kamailio's
    mod_init refuses the same: offline_message without content_type_hdr, a
    skip_notification_flag outside 0-31, a negative check_time)."""
    settings = {p.name: p.default for p in PARAMS} | dict(params or {})
    for name in ("expire_time", "check_time", "send_time", "clean_period", "max_messages"):
        if int(settings[name]) < 0:
            raise ValueError(f"msilo.{name} must be >= 0, not {settings[name]}")
    if int(settings["check_time"]) == 0 or int(settings["clean_period"]) == 0:
        raise ValueError("msilo.check_time and msilo.clean_period must be positive")
    flag = int(settings["skip_notification_flag"])
    if flag != -1 and not 0 <= flag <= 31:
        raise ValueError(f"msilo.skip_notification_flag must be 0-31 or -1, not {flag}")
    if settings["offline_message"] and not settings["content_type_hdr"]:
        raise ValueError("msilo.offline_message needs msilo.content_type_hdr")
    for name in ("snd_time_avp", "extra_hdrs_avp"):
        if settings[name] and avp_name(str(settings[name])) is None:
            raise ValueError(f"msilo.{name} must name an AVP ($avp(name)), not "
                             f"{settings[name]!r}")
    callback = str(settings["event_callback"] or "")
    if callback and not callback.isidentifier():
        raise ValueError(f"msilo.event_callback must name a Lua function, not {callback!r}")
    SETTINGS.clear()
    SETTINGS.update(settings)


def avp_name(spec: str) -> str | None:
    """"$avp(x)" / "$avp(s:x)" -> "x" (the key of ctx.script.avps); None otherwise."""
    spec = spec.strip()
    if not (spec.startswith("$avp(") and spec.endswith(")")):
        return None
    name = spec[5:-1]
    name = name[2:] if name.startswith("s:") else name
    return name or None


def inc(name: str) -> None:
    if CORE:
        CORE[0].stats.inc(name)
