-- A small Kamailio KEMI proxy for tests/integration/test_lua_sipp.py: Max-Forwards,
-- keep-alive OPTIONS, in-dialog requests by their Route set, Record-Route, and a
-- failover: a call refused (or unanswered) by its callee goes to the destination named
-- by the request's X-Failover header (the test puts the second callee there).
-- X-Abuse: loop / memory / error makes the route misbehave on purpose.
-- X-Sleep: <ms> makes the route wait in place before relaying.

function ksr_request_route()
  local abuse = KSR.hdr.get("X-Abuse")
  if abuse == "loop" then while true do end end
  if abuse == "memory" then local t = {} while true do t[#t+1] = ("x"):rep(1e6) end end
  if abuse == "error" then local missing = nil; return missing.field end

  if KSR.maxfwd.process_maxfwd(10) < 0 then
    KSR.sl.sl_send_reply(483, "Too Many Hops")
    return
  end
  if KSR.is_OPTIONS() and KSR.is_myself_ruri() then
    KSR.sl.sl_send_reply(200, "Keepalive")
    return
  end

  if KSR.siputils.has_totag() > 0 then  -- within a dialog: follow its route set
    if KSR.rr.loose_route() > 0 or KSR.is_ACK() then
      relay()
    else
      KSR.sl.sl_send_reply(404, "Not Here")
    end
    return
  end
  if KSR.is_CANCEL() then
    if KSR.tm.t_check_trans() > 0 then relay() end
    return
  end
  if KSR.tmx.t_precheck_trans() > 0 then
    KSR.tm.t_check_trans()
    return
  end
  if KSR.tm.t_check_trans() == 0 then return end

  local sleep = KSR.hdr.get("X-Sleep")
  if sleep then KSR.async.ms_sleep(tonumber(sleep)) end

  if KSR.is_method_in("IS") then KSR.rr.record_route() end
  if KSR.is_INVITE() then KSR.tm.t_on_failure("failover") end
  relay()
end

function relay()
  if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
  KSR.x.exit()
end

function failover()
  if KSR.tm.t_is_canceled() > 0 then return end
  local backup = KSR.hdr.get("X-Failover")
  if backup and (KSR.tm.t_check_status("486|408|5[0-9][0-9]") > 0) then
    KSR.info("failover of " .. KSR.pv.get("$ci") .. " to " .. backup)
    KSR.setdsturi(backup)
    KSR.tm.t_relay()
  end
end
