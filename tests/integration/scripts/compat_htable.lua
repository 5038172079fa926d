-- htable, sqlops, header and PV work in a route, a KEMI script that runs unchanged on
-- Kamailio 5.6 (kamailio_ref/kamailio_ops.cfg, WITH_HTABLE) and on geosip;
-- kamailio_ref/test_kamailio_ops.py::test_htable_sqlops_headers compares what the
-- callee and the caller see. Per request:
--   the htable "cnt" (no initval) counts requests per From user: sht_inc of a user not
--                              counted yet is -255 and creates nothing, so the script
--                              sets 1 (sht_inc's first code goes in X-Inc); $shtdec
--                              of a missing item is $null and creates nothing either
--                              (X-Missing)
--   sql_query reads the From user's greeting from compat_greetings (SQLite); its code
--                              goes in X-Sql, that of a query on a missing table in
--                              X-Sql-Error (KEMI's: 0 success, with rows or none, -1 error)
--   KSR.hdr.append adds X-Count and X-Greeting to the request
--   Request-URI user "echo" -> answered here: 480 with a reason built from PVs and the
--                              values above, X-Count also in the reply (append_to_reply)
--   anyone else             -> relayed to the Request-URI (the callee sees the headers)
geosip = {
  -- Kamailio's kamailio_ops.cfg sets the same; "geosip" is the database geosip run opened
  modules = { "tm", "sl", "rr", "maxfwd", "siputils", "textops",
              htable = { htable = "cnt=>size=4;" }, sqlops = { sqlcon = "ca=>geosip" } },
}

function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.is_ACK() or KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			KSR.tm.t_relay()
		end
		KSR.x.exit()
	end

	local user = KSR.pv.get("$fU")
	local count = KSR.htable.sht_inc("cnt", user)
	local inc = count
	if count == -255 then
		KSR.htable.sht_seti("cnt", user, 1)
		count = 1
	end
	local missing = tostring(KSR.pv.get("$shtdec(cnt=>never-" .. user .. ")")) .. "/"
		.. tostring(KSR.pv.get("$sht(cnt=>never-" .. user .. ")"))
	local greeting = "none"
	local rc = KSR.sqlops.sql_query("ca",
		"SELECT greeting FROM compat_greetings WHERE username = '" .. user .. "'", "ra")
	if rc == 0 and KSR.pv.get("$dbr(ra=>rows)") > 0 then
		greeting = KSR.pv.get("$dbr(ra=>[0,0])")
	end
	KSR.sqlops.sql_result_free("ra")
	local failed = KSR.sqlops.sql_query("ca", "SELECT greeting FROM compat_nosuchtable", "ra")

	KSR.hdr.append("X-Count: " .. count .. "\r\n")
	KSR.hdr.append("X-Inc: " .. inc .. "\r\n")
	KSR.hdr.append("X-Missing: " .. missing .. "\r\n")
	KSR.hdr.append("X-Greeting: " .. greeting .. "\r\n")
	KSR.hdr.append("X-Sql: " .. rc .. "\r\n")
	KSR.hdr.append("X-Sql-Error: " .. failed .. "\r\n")

	if KSR.pv.get("$rU") == "echo" then
		KSR.hdr.append_to_reply("X-Count: " .. count .. "\r\n")
		KSR.hdr.append_to_reply("X-Inc: " .. inc .. "\r\n")
		KSR.hdr.append_to_reply("X-Sql: " .. rc .. "\r\n")
		KSR.sl.send_reply(480, greeting .. " " .. user .. " #" .. count .. " "
			.. KSR.pv.get("$rm") .. " from " .. KSR.pv.get("$si"))
		KSR.x.exit()
	end
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end
