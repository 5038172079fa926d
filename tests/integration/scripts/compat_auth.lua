-- Digest registration and calls to registered users, a KEMI script that runs unchanged
-- on Kamailio 5.6 (kamailio_ref/kamailio_ops.cfg, WITH_AUTH: auth_db on db_sqlite) and on
-- geosip; kamailio_ref/test_kamailio_ops.py::test_auth_registrar sends both the same
-- sipp suite. The subscriber table is geosip's, filled by `geosipctl subscriber add`.
--   REGISTER without credentials          -> 401 (auth_challenge)
--   REGISTER, wrong password/unknown user -> 403 with auth_check's code in the reason,
--                                            so the two servers' codes are compared
--   REGISTER with the right password      -> save("location"): 200 listing the Contacts
--   INVITE to a registered user           -> lookup("location") and t_relay
--   INVITE to anyone else                 -> 404
-- geosip reads its configuration from this table; Kamailio sees a global it never uses.
geosip = {
  modules = { "tm", "sl", "rr", "maxfwd", "siputils", "textops", "usrloc", "registrar",
              "auth", "auth_db" },
}

REALM = "example.com"

function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			KSR.tm.t_relay()
		end
		KSR.x.exit()
	end
	if KSR.siputils.has_totag() > 0 then
		if KSR.rr.loose_route() > 0 or KSR.tm.t_check_trans() > 0 then
			KSR.tm.t_relay()
		end
		KSR.x.exit()
	end

	if KSR.is_REGISTER() then
		local rc = KSR.auth_db.auth_check(REALM, "subscriber", 1)
		if rc == -2 or rc == -3 then
			-- auth_check's codes (Kamailio's auth_db README): -2 invalid password,
			-- -3 user unknown
			KSR.sl.send_reply(403, "Forbidden (auth " .. rc .. ")")
			KSR.x.exit()
		end
		if rc < 0 then
			KSR.auth.auth_challenge(REALM, 0)
			KSR.x.exit()
		end
		if KSR.registrar.save("location", 0) < 0 then
			KSR.sl.sl_reply_error()
		end
		KSR.x.exit()
	end

	if KSR.is_INVITE() then
		local rc = KSR.registrar.lookup("location")
		if rc < 0 then
			KSR.sl.send_reply(404, "Not Found (lookup " .. rc .. ")")
			KSR.x.exit()
		end
		KSR.rr.record_route()
	end
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end
