-- The proxy of the seed's "Extensibility: accounting server" example (Kamailio, ClueCon
-- 2010), in KEMI Lua: a stateful proxy that, when an INVITE is answered 200 OK, sends an
-- ACCOUNTING request describing the call to an accounting server (a second geosip
-- running scripts/accounting-server.lua), which stores it in a database table.
--
-- The seed's Kamailio configuration:
--   onreply_route[OK] {
--     if(status!="200") return;
--     $uac_req(method)="ACCOUNTING";
--     $uac_req(ruri)="sip:store@accounting.kamailio.org;transport=sctp";
--     $uac_req(furi)="sip:server@server1.kamailio.org";
--     $uac_req(hdrs)="Content-Type: text/accounting-csv\r\n";
--     pv_printf($uac_req(body), "$TS,$ci,$ft,$tt,$T_req($fu),$T_req($ru)");
--     uac_send_req();
--   }
-- The body is one CSV line: time, Call-ID, From tag, To tag, From URI, Request-URI.
-- The time is $Ts, the current time: in Kamailio $TS is the time the server started,
-- which would stamp every call alike. In a reply route $fu reads the reply's From (the
-- request's, copied by the callee) and $ru the request's R-URI, which is what Kamailio's
-- $T_req($fu) and $T_req($ru) give. The ACCOUNTING request leaves at once (uac_req_send
-- does not wait for its answer); the call goes on whatever the accounting server says,
-- and its answer is logged by the uac:reply event callback below.
--
-- Run: geosip run -c scripts/accounting-proxy.lua -l udp:127.0.0.1:5060
-- and set ACCOUNTING_URI below to where accounting-server.lua listens.

geosip = {
  listen = { "udp:127.0.0.1:5060" },
  modules = { "tm", "tmx", "sl", "rr", "maxfwd", "siputils",
              -- the reply to each ACCOUNTING request runs ksr_uac_reply("uac:reply")
              uac = { event_callback = "ksr_uac_reply" } },
}

-- where the ACCOUNTING requests go (the seed used SCTP; geosip speaks UDP, TCP, TLS)
ACCOUNTING_URI = "sip:store@127.0.0.1:5070"
-- who the ACCOUNTING requests come from
SERVER_URI = "sip:server@server1.example.org"

function ksr_request_route()
  if KSR.maxfwd.process_maxfwd(10) < 0 then
    KSR.sl.sl_send_reply(483, "Too Many Hops")
    KSR.x.exit()
  end

  -- CANCEL: relayed only if it matches a transaction of ours (RFC 3261 §16.10)
  if KSR.is_CANCEL() then
    if KSR.tm.t_check_trans() > 0 then
      KSR.tm.t_relay()
    end
    KSR.x.exit()
  end

  -- requests within a dialog follow the record-routed path
  if KSR.siputils.has_totag() > 0 then
    if KSR.rr.loose_route() > 0 or KSR.is_ACK() then
      KSR.tm.t_relay()
    else
      KSR.sl.sl_send_reply(404, "Not here")
    end
    KSR.x.exit()
  end

  if KSR.is_INVITE() then
    KSR.rr.record_route()
    KSR.tm.t_on_reply("ksr_onreply_ok")   -- the seed's onreply_route[OK]
  end
  if KSR.tm.t_relay() < 0 then
    KSR.sl.sl_send_reply(500, "Server Error")
  end
end

-- every reply of an INVITE transaction: account the answered ones
function ksr_onreply_ok()
  if KSR.pv.get("$rs") ~= 200 then
    return
  end
  KSR.pv.sets("$uac_req(method)", "ACCOUNTING")
  KSR.pv.sets("$uac_req(ruri)", ACCOUNTING_URI)
  KSR.pv.sets("$uac_req(furi)", SERVER_URI)
  KSR.pv.sets("$uac_req(hdrs)", "Content-Type: text/accounting-csv\r\n")
  local fields = {}
  for _, name in ipairs({ "$Ts", "$ci", "$ft", "$tt", "$fu", "$ru" }) do
    fields[#fields + 1] = tostring(KSR.pv.gete(name))
  end
  KSR.pv.sets("$uac_req(body)", table.concat(fields, ","))
  KSR.pv.seti("$uac_req(evroute)", 1)
  if KSR.uac.uac_req_send() < 0 then
    KSR.err("accounting: cannot send the record of call " .. KSR.pv.gete("$ci") .. "\n")
  end
end

-- the accounting server's answer (Kamailio's event_route[uac:reply]); evtype 2: no answer
function ksr_uac_reply(evname)
  local code = KSR.pv.get("$uac_req(evcode)")
  if code == 200 then
    KSR.info("accounting: record stored\n")
  else
    KSR.err("accounting: record not stored: " .. code .. " (evtype " ..
            KSR.pv.get("$uac_req(evtype)") .. ")\n")
  end
end
