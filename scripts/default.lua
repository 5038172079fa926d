-- geosip's default routing script: a proxy, registrar and location service in the shape
-- of Kamailio's basic KEMI example (misc/examples/kemi), written for geosip.
-- `geosip run` with no -c runs it; copy it to start your own (`geosip run -c my.lua`).
--
-- The routing is Kamailio's KEMI API: ksr_request_route() runs for every new request,
-- ksr_reply_route() for every reply, and KSR.<module>.<function>() returns Kamailio's
-- codes (> 0 true, < 0 false, 0 stop). KSR.x.exit() ends the route. scripts/API.md lists
-- every function geosip exports.
--
-- Modules that are not loaded have no KSR.<module> table, as in Kamailio. Parts that need
-- a module outside geosip's default set (registrar, usrloc, auth, auth_db) test for it
-- first and step aside when it is absent: drop "auth", "auth_db" below for a server
-- that registers anyone (a lab on loopback), drop "registrar" for a pure proxy.
--
-- Accounts live in the database `geosip run` opens (scripts/README.md):
--   geosipctl db init && geosipctl subscriber add alice@example.com secret
-- and a phone registers as alice@example.com with password secret. Add --alias
-- example.com (or alias below) so that calls from and to example.com are ours.

-- geosip's configuration (scripts/README.md): every value here is the embedded default;
-- the command line wins over it (geosip run -l/--alias/--fr-timer/...).
geosip = {
  listen = { "udp:127.0.0.1:5060", "tcp:127.0.0.1:5060" },
  log_level = "info",
  tm = { fr_timer = 30000, fr_inv_timer = 120000, wt_timer = 5000 },  -- milliseconds
  -- alias = { "example.com" },            -- other names that are ours (is_myself)
  -- geosip's default set plus the registrar, its location store (in memory) and digest
  -- authentication against the subscriber table (Kamailio's kamailio.cfg WITH_AUTH)
  modules = { "tm", "tmx", "sl", "rr", "maxfwd", "textops", "siputils", "sanity", "corex",
              "async", "xlog", "usrloc", "registrar", "auth", "auth_db", "nathelper" },
  -- add "msilo" (and msilo = { ... } parameters) to keep MESSAGEs for users who are
  -- offline until they register: see the MESSAGE section below
}

-- The XMPP gateway (gateways/xmpp/README.md), a process geosip run starts and keeps
-- running: uncomment to chat with XMPP users. A MESSAGE to
-- sip:juliet*xmpp.example.com@xmpp-gw.example.com reaches juliet@xmpp.example.com
-- (ksr_route_gateways below); her replies come here as MESSAGEs to our users.
-- geosip.gateways = { xmpp = {
--   component = "sip.example.com", secret = "component-secret", server = "127.0.0.1:5347",
--   sip_listen = "127.0.0.1:5090", proxy = "127.0.0.1:5060",
--   gateway_domain = "xmpp-gw.example.com", domain_separator = "*" } }

-- The SMS gateway (gateways/sms/README.md), the same way: uncomment to text mobile
-- phones. A MESSAGE to sip:+447700900123@sms.example.com or tel:+447700900123 goes out
-- as an SMS (ksr_route_gateways below); an SMS to one of `numbers` comes here as a
-- MESSAGE from sip:+4930123@sms.example.com to the user the number maps to.
-- geosip.gateways = { sms = {
--   listen = "127.0.0.1:5091", proxy = "127.0.0.1:5060", domain = "sms.example.com",
--   numbers = { ["+447700900001"] = "sip:alice@example.com" },
--   connector = "smpp", smpp = { host = "127.0.0.1", port = 2775, system_id = "geosip",
--                                password = "smsc-secret" } } }
-- Both gateways at once: geosip.gateways = { xmpp = { ... }, sms = { ... } }, each on a
-- SIP port of its own (xmpp's sip_listen, sms's listen).

FLT_NATS = 5        -- transaction flag: the caller is behind NAT
FLB_NATB = 6        -- branch flag: the callee is behind NAT (set at REGISTER)

-- SIP request routing (Kamailio's request_route)
function ksr_request_route()
  -- NAT first (Kamailio's example checks it second): the answers of reqinit (483, the
  -- keep-alive 200) must reach a caller behind NAT too
  ksr_route_natdetect()
  ksr_route_reqinit()

  -- CANCEL: relayed only if it matches a transaction of ours (RFC 3261 §16.10)
  if KSR.is_CANCEL() then
    if KSR.tm.t_check_trans() > 0 then
      ksr_route_relay()
    end
    KSR.x.exit()
  end

  -- requests within a dialog
  ksr_route_withindlg()

  -- only initial requests (no To tag) from here on

  -- a retransmission that arrives while its original is still in this script: its
  -- transaction takes it. (Kamailio's example then also ends the route when
  -- t_check_trans() == 0; geosip's core hands a retransmission to its existing
  -- transaction before any script runs, so that second test is left out here.)
  if KSR.tmx.t_precheck_trans() > 0 then
    KSR.tm.t_check_trans()
    KSR.x.exit()
  end

  ksr_route_auth()

  -- record routing for dialog-forming requests; preloaded Route headers go
  KSR.hdr.remove("Route")
  if KSR.is_method_in("IS") then
    KSR.rr.record_route()
  end

  -- MESSAGEs for a gateway's SIP domain go to the gateway
  ksr_route_gateways()

  -- requests for other domains are relayed as they are
  ksr_route_sipout()

  -- requests for our own domains
  ksr_route_registrar()
  if KSR.corex.has_ruri_user() < 0 then
    KSR.sl.sl_send_reply(484, "Address Incomplete")
    KSR.x.exit()
  end
  ksr_route_location()
end

-- Relay statefully to the Request-URI (or the next Route); INVITEs get a failure route.
function ksr_route_relay()
  if KSR.is_INVITE() and KSR.tm.t_is_set("failure_route") < 0 then
    KSR.tm.t_on_failure("ksr_failure_manage")
  end
  if KSR.tm.t_relay() < 0 then
    KSR.sl.sl_reply_error()
  end
  KSR.x.exit()
end

-- Per request initial checks
function ksr_route_reqinit()
  if KSR.maxfwd.process_maxfwd(10) < 0 then
    KSR.sl.sl_send_reply(483, "Too Many Hops")
    KSR.x.exit()
  end
  -- a keep-alive: OPTIONS to this server itself, no user part
  if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0 then
    KSR.sl.sl_send_reply(200, "Keepalive")
    KSR.x.exit()
  end
  if KSR.sanity.sanity_check(1511, 7) < 0 then
    KSR.err("malformed SIP request from " .. KSR.pv.get("$si") .. ":" .. KSR.pv.get("$sp") .. "\n")
    KSR.x.exit()
  end
end

-- ==== NAT traversal (Kamailio's WITH_NAT, nathelper) ===================================
-- A phone behind NAT, or a WebSocket client (RFC 7118: its Via and Contact name a
-- made-up .invalid host), is reached where its requests came from, not at its Contact:
--  * requests: nat_uac_test(19) (a private Contact, or a Via that is not the source)
--    or WebSocket -> replies go to the source port (force_rport); a REGISTER keeps the
--    source as the binding's received address (fix_nated_register: lookup sends there
--    later); any other first-hop request gets ;alias=ip~port~proto on its Contact;
--  * replies from a callee behind NAT or over WebSocket: ;alias on their Contact too;
--  * requests within the dialog then carry the alias in their Request-URI, and
--    handle_ruri_alias() sends them there ($du): over the client's own connection.
-- Without the nathelper module a plain test stands in (the Via is not the source).
function ksr_route_natdetect()
  if not KSR.nathelper then
    ksr_route_natdetect_plain()
    return
  end
  KSR.force_rport()
  if KSR.nathelper.nat_uac_test(19) > 0 or KSR.nathelper.nat_uac_test(64) > 0 then
    if KSR.is_REGISTER() then
      KSR.nathelper.fix_nated_register()
    elseif KSR.siputils.is_first_hop() > 0 then
      KSR.nathelper.set_contact_alias()
    end
    KSR.setflag(FLT_NATS)
  end
end

-- Within a dialog: a Request-URI with ;alias (added above) goes to that address.
function ksr_route_dlguri()
  if KSR.nathelper and not KSR.pv.get("$du") then
    KSR.nathelper.handle_ruri_alias()
  end
end

-- A reply (ksr_reply_route): a callee behind NAT or over WebSocket answering (its
-- Contact private or the reply over WebSocket) gets ;alias on its Contact, so that the
-- caller's ACK and BYE reach it through handle_ruri_alias.
function ksr_route_natmanage_reply()
  if not KSR.nathelper then
    return
  end
  local status = KSR.pv.get("$rs")
  if status > 100 and status < 300 and KSR.nathelper.nat_uac_test(1 + 64) > 0 then
    KSR.nathelper.set_contact_alias()
  end
end

-- Without nathelper: the top Via's sent-by is not where the request came from, so
-- replies go back to the source address and port (RFC 3581, as if rport was asked).
function ksr_route_natdetect_plain()
  local via = KSR.pv.get("$hdr(Via)") or ""
  local sentby = string.match(via, "^%s*[Ss][Ii][Pp]%s*/%s*2%.0%s*/%s*%a+%s+([^;,%s]+)") or ""
  local host, port = string.match(sentby, "^%[(.-)%]:?(%d*)$")
  if not host then
    host, port = string.match(sentby, "^([^:]*):?(%d*)$")
  end
  -- a sent-by without a port means 5060 (5061 for TLS; close enough here)
  if host ~= KSR.pv.get("$si") or (tonumber(port) or 5060) ~= tonumber(KSR.pv.get("$sp")) then
    KSR.force_rport()
    KSR.setflag(FLT_NATS)
  end
end
-- ==== end of the NAT section ============================================================

-- Requests within a dialog (with a To tag)
function ksr_route_withindlg()
  if KSR.siputils.has_totag() < 0 then
    return
  end
  -- take the path the dialog's Record-Route set lays down
  if KSR.rr.loose_route() > 0 then
    ksr_route_dlguri()
    ksr_route_relay()
  end
  if KSR.is_ACK() then
    -- no Route for us: an ACK of a non-2xx final of our transaction is relayed by it
    -- (hop by hop); an ACK matching nothing is dropped
    if KSR.tm.t_check_trans() > 0 then
      ksr_route_relay()
    end
    KSR.x.exit()
  end
  KSR.sl.sl_send_reply(404, "Not here")
  KSR.x.exit()
end

-- Authentication of our subscribers (auth, auth_db): a REGISTER, and any request that
-- claims to come from one of our domains, must carry the subscriber's digest
-- credentials (401 for REGISTER, 407 for the rest, RFC 3261 §22). Whatever fails (no
-- credentials, wrong password, unknown user, stale or replayed nonce, auth user not the
-- From/To user) gets a fresh challenge, as in Kamailio's kamailio.cfg: a phone that
-- gets a second 401 for the same realm reports a wrong password.
-- Without the modules this server authenticates nobody.
function ksr_route_auth()
  if not (KSR.auth_db and KSR.auth) then
    return
  end
  if KSR.is_REGISTER() or KSR.is_myself_furi() then
    if KSR.auth_db.auth_check(KSR.kx.gete_fhost(), "subscriber", 1) < 0 then
      -- flag 1: qop="auth" (Kamailio's example sends 0). With qop the client counts its
      -- uses of a nonce (nc, RFC 7616 §3.4), and auth's nonce_count refuses a replayed
      -- one; without qop a captured REGISTER could be replayed until the nonce expires.
      KSR.auth.auth_challenge(KSR.kx.gete_fhost(), 1)
      KSR.x.exit()
    end
    -- the credentials are for us; they do not travel further (but REGISTER and PUBLISH
    -- end here anyway)
    if not KSR.is_method_in("RP") then
      KSR.auth.consume_credentials()
    end
  end
  -- not an open relay: a stranger may only call our own users
  if not KSR.is_myself_furi() and not KSR.is_myself_ruri() then
    KSR.sl.sl_send_reply(403, "Not relaying")
    KSR.x.exit()
  end
end

-- ==== gateways: MESSAGEs to XMPP users and to mobile phones ============================
-- A MESSAGE for a gateway goes to it on loopback; it answers 202 once the XMPP server or
-- the SMS centre took the message, or 503 with Retry-After while it cannot pass it on
-- (its XMPP server down, the SMSC busy or unbound). Off unless geosip.gateways has the
-- gateway; the defaults below are the gateways' own (their settings.py).
--  * sms: a tel: URI, or the SMS domain (geosip.gateways.sms.domain);
--  * xmpp: the gateway domain (geosip.gateways.xmpp.gateway_domain).
-- Test $rz before $rd: a tel: URI has no host ($rd is $null, as in Kamailio).
-- MESSAGE_MAX_UDP is not applied here: the gateways listen on loopback, and the SMS
-- gateway splits long text into SMS parts itself.
local function ksr_message_gateway()
  local gws = geosip.gateways
  if not gws or not KSR.is_MESSAGE() then
    return nil
  end
  local sms, xmpp = gws.sms, gws.xmpp
  if sms and sms.enabled ~= false and (KSR.pv.get("$rz") == "tel"
      or KSR.pv.get("$rd") == (sms.domain or "sms.localhost")) then
    return "sms", sms.listen or "127.0.0.1:5090"
  end
  if xmpp and xmpp.enabled ~= false
      and KSR.pv.get("$rd") == (xmpp.gateway_domain or "xmpp-gw.example.com") then
    return "xmpp", xmpp.sip_listen or "127.0.0.1:5090"
  end
  return nil
end

-- Relays a MESSAGE for a gateway there (and ends the route); returns for anything else.
-- A tel: URI that no gateway takes has nowhere to go (t_relay cannot route a number and
-- would answer 500): 416, the proxy's answer to a scheme it cannot serve (RFC 3261
-- §16.3 step 2).
function ksr_route_gateways()
  local name, listen = ksr_message_gateway()
  if not name then
    if KSR.pv.get("$rz") == "tel" then
      KSR.sl.sl_send_reply(416, "Unsupported URI Scheme")
      KSR.x.exit()
    end
    return
  end
  KSR.pv.sets("$du", "sip:" .. listen)
  KSR.pv.sets("$avp(gateway)", name)   -- for the failure route: which gateway said 503
  KSR.tm.t_on_failure("ksr_failure_gateway")
  ksr_route_relay()
end

GATEWAY_BUSY = { xmpp = "XMPP Server Unreachable", sms = "SMS Centre Busy" }

-- The gateway said 503 (it cannot pass the message on now): a proxy forwards a 503 as
-- 500 (RFC 3261 §16.7 step 6), so say "unavailable, retry" to the sender ourselves,
-- with the gateway's Retry-After (RFC 3261 §21.5.4). Other failures (404/484 for a bad
-- number, 415, ...) reach the sender as the gateway gave them.
function ksr_failure_gateway()
  if KSR.pv.get("$T_reply_code") ~= 503 then
    return
  end
  local name = KSR.pv.get("$avp(gateway)")
  KSR.hdr.append_to_reply("Retry-After: " .. (geosip.gateways[name].retry_after or 30) .. "\r\n")
  KSR.tm.t_reply(503, GATEWAY_BUSY[name])
end
-- ==== end of the gateways section =======================================================

-- Requests for a domain that is not ours
function ksr_route_sipout()
  if KSR.is_myself_ruri() then
    return
  end
  ksr_route_relay()
end

-- Registrations (needs the registrar module, with usrloc).
function ksr_route_registrar()
  if not KSR.is_REGISTER() then
    return
  end
  if not KSR.registrar then
    -- No registrar loaded: this server offers no registration service. 501 says so
    -- (RFC 3261 §21.5.2: it does not support what the request asks for); a phone then
    -- reports the server as unable to register it, rather than a wrong password (403)
    -- or an unknown user (404).
    KSR.sl.sl_send_reply(501, "Not Implemented")
    KSR.x.exit()
  end
  if KSR.isflagset(FLT_NATS) then
    KSR.setbflag(FLB_NATB)
  end
  if KSR.registrar.save("location", 0) < 0 then
    KSR.sl.sl_reply_error()
    KSR.x.exit()
  end
  ksr_route_message_dump()
  KSR.x.exit()
end

-- The location service: the Request-URI becomes the user's registered contact(s).
function ksr_route_location()
  if not KSR.registrar then
    -- nobody registers here, so no user of ours can be reached
    KSR.sl.sl_send_reply(404, "Not Found")
    KSR.x.exit()
  end
  ksr_route_message()
  local rc = KSR.registrar.lookup("location")
  if rc < 0 then
    KSR.tm.t_newtran()
    if rc == -2 then
      KSR.tm.t_reply(405, "Method Not Allowed")
    else
      KSR.tm.t_reply(404, "Not Found")   -- -1: no contact, -3: contacts all expired
    end
    KSR.x.exit()
  end
  ksr_route_relay()
end

-- ==== MESSAGE: instant messages (RFC 3428) and offline storage (msilo) ==============
-- A MESSAGE for one of our users goes to the user's registered contacts like any
-- request; the 200 or 202 of the phone comes back to the sender, and the body and its
-- Content-Type travel unchanged. For a user with no live registration:
--  * with the msilo module loaded, the message is kept in the silo table and the
--    sender gets 202 Accepted (RFC 3428 §7: accepted, not yet delivered); when the
--    user next registers, ksr_route_message_dump() sends the kept messages in order,
--    each with its original Date, each row deleted after the phone's 2xx;
--  * without msilo: 404 Not Found, as for any other request.
-- A registered user whose phones do not take it (no answer 408, 480, unreachable 503):
-- with msilo it is kept and the sender gets 202 (ksr_failure_message, Kamailio's msilo
-- README example); without msilo the sender gets the phone's answer.
-- Size (RFC 3428 §7): a MESSAGE must not exceed 1300 bytes unless every hop has
-- congestion control. A MESSAGE that would leave here over UDP larger than
-- MESSAGE_MAX_UDP is answered 513 Message Too Large; MESSAGE_MAX_SIZE (0: none) bounds
-- it on any transport. Larger than 65535 bytes never reaches the script: a UDP
-- datagram cannot be, and over TCP the core closes the connection (as Kamailio does).
MESSAGE_MAX_UDP = 1300
MESSAGE_MAX_SIZE = 0

-- The transport the request leaves on: sips: or ;transport= of $du, else of the R-URI.
local function ksr_next_hop_proto()
  local hop = string.lower(KSR.pv.get("$du") or KSR.pv.get("$ru") or "")
  if string.find(hop, "^sips:") then
    return "tls"
  end
  return string.match(hop, ";transport=(%a+)") or "udp"
end

-- A MESSAGE for one of our users (called before the location lookup); ends the route.
function ksr_route_message()
  if not KSR.is_method("MESSAGE") then
    return
  end
  local rc = KSR.registrar.lookup("location")
  if rc < 0 then
    KSR.tm.t_newtran()
    if rc == -2 then
      KSR.tm.t_reply(405, "Method Not Allowed")
    elseif not KSR.msilo then
      KSR.tm.t_reply(404, "Not Found")
    elseif KSR.msilo.m_store() > 0 then
      KSR.tm.t_reply(202, "Accepted")
    else
      -- not stored (the user's box is full, the database failed): try later
      KSR.tm.t_reply(503, "Service Unavailable")
    end
    KSR.x.exit()
  end
  local size = KSR.pv.get("$ml")
  if (MESSAGE_MAX_SIZE > 0 and size > MESSAGE_MAX_SIZE)
      or (size > MESSAGE_MAX_UDP and ksr_next_hop_proto() == "udp") then
    KSR.sl.sl_send_reply(513, "Message Too Large")
    KSR.x.exit()
  end
  if KSR.msilo then
    KSR.tm.t_on_failure("ksr_failure_message")
  end
  ksr_route_relay()
end

-- Every contact of a registered user failed the MESSAGE. No answer (408), not available
-- now (480) or not reachable (503, also tm's own when sending fails): keep it and
-- answer 202 (Kamailio's msilo README: failure_route with m_store("$ou")). Refusals
-- that storing would not cure (403, 415, 486, ...) reach the sender as they are.
function ksr_failure_message()
  if KSR.tm.t_is_canceled() > 0 or KSR.tm.t_check_status("^(408|480|503)$") < 0 then
    return
  end
  -- $ou: the R-URI as it arrived (the AOR), not the contact lookup put in $ru
  if KSR.msilo.m_store_addr(KSR.pv.get("$ou")) > 0 then
    KSR.tm.t_reply(202, "Accepted")
  else
    KSR.tm.t_reply(503, "Service Unavailable")
  end
end

-- After a successful registration: deliver what msilo kept for the user.
function ksr_route_message_dump()
  if KSR.msilo then
    KSR.msilo.m_dump()
  end
end
-- ==== end of the MESSAGE section ========================================================

-- Every branch of an INVITE failed (Kamailio's failure_route). Nothing to try next by
-- default: the best reply goes back to the caller. A script adding voicemail or a
-- second target does it here (KSR.tm.t_check_status("486|408") ... t_relay()).
function ksr_failure_manage()
  if KSR.tm.t_is_canceled() > 0 then
    return
  end
end

-- Every reply to a transaction of ours (Kamailio's reply_route).
function ksr_reply_route()
  ksr_route_natmanage_reply()
end
