-- A KEMI routing script that runs unchanged on Kamailio 5.6 (app_lua, cfgengine "lua";
-- kamailio_ref/kamailio.cfg) and on geosip (`geosip run -c`). test_kamailio_ref.py
-- sends the same sipp suite to both and expects the same status codes.
--
-- It calls only KSR functions that both servers export: maxfwd, sanity, siputils, rr,
-- tm, sl, pv and the core method tests and logging. What it does:
--   Max-Forwards 0                      -> 483 (maxfwd)
--   CANCEL                              -> relayed when it matches a transaction
--   in-dialog (To tag)                  -> loose_route() and relay; ACK of a non-2xx
--                                          absorbed; anything else 404
--   REGISTER                            -> 200 from here (no registrar module here:
--                                          Kamailio would need usrloc, geosip has none yet)
--   Request-URI user "unknown"          -> 404
--   anything else                       -> record_route() on INVITE, t_relay() statefully
--                                          to the Request-URI, failure route armed

function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.sanity.sanity_check(1511, 7) < 0 then
		KSR.err("malformed request from " .. KSR.pv.get("$si") .. "\n")
		KSR.x.exit()
	end

	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			compat_relay()
		end
		KSR.x.exit()
	end

	if KSR.siputils.has_totag() > 0 then
		if KSR.rr.loose_route() > 0 then
			compat_relay()
		end
		if KSR.is_ACK() then
			if KSR.tm.t_check_trans() > 0 then
				compat_relay()
			end
			KSR.x.exit()
		end
		KSR.sl.sl_send_reply(404, "Not here")
		KSR.x.exit()
	end

	if KSR.is_REGISTER() then
		KSR.sl.sl_send_reply(200, "OK")
		KSR.x.exit()
	end

	if KSR.pv.get("$rU") == "unknown" then
		KSR.sl.sl_send_reply(404, "Not Found")
		KSR.x.exit()
	end

	if KSR.is_INVITE() then
		KSR.rr.record_route()
		KSR.tm.t_on_failure("compat_failure")
	end
	compat_relay()
end

function compat_relay()
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

-- Every branch failed: nothing to try next here, the best reply goes back.
function compat_failure()
	if KSR.tm.t_is_canceled() > 0 then
		KSR.x.exit()
	end
	KSR.info("call to " .. (KSR.pv.get("$ru") or "?") .. " failed\n")
end

function ksr_reply_route()
	KSR.dbg("reply " .. (KSR.pv.get("$rs") or "?") .. "\n")
end
