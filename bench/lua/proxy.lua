-- The stateful proxy of bench/kamailio/stateful.cfg as a KEMI Lua script, run as it is
-- by Kamailio (app_lua, bench/kamailio/stateful-lua.cfg) and by geosip (-c): the cost
-- of routing in Lua, side by side (bench/proxy.py, scenario stateful-lua).

local function relay()
  if KSR.tm.t_relay() < 0 then
    KSR.sl.sl_reply_error()
  end
  KSR.x.exit()
end

function ksr_request_route()
  if KSR.maxfwd.process_maxfwd(10) < 0 then
    KSR.sl.sl_send_reply(483, "Too Many Hops")
    KSR.x.exit()
  end
  if KSR.siputils.has_totag() > 0 then
    if KSR.rr.loose_route() > 0 then
      relay()
    end
    if KSR.is_ACK() and KSR.tm.t_check_trans() > 0 then
      KSR.x.exit()  -- ACK of a non-2xx final response: absorbed by its transaction
    end
    KSR.sl.sl_send_reply(404, "Not here")
    KSR.x.exit()
  end
  if KSR.is_INVITE() then
    KSR.rr.record_route()
  end
  relay()
end
