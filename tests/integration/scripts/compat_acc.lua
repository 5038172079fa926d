-- Accounting into the acc table, a KEMI script that runs unchanged on Kamailio 5.6
-- (kamailio_ref/kamailio_ops.cfg, WITH_ACC: acc on db_sqlite) and on geosip;
-- kamailio_ref/test_kamailio_ops.py::test_acc compares the rows both write for the
-- same calls. Flag 1 is acc's db_flag, flag 2 its failed_transaction_flag (so a
-- refused INVITE is accounted too). INVITEs and BYEs are accounted; calls are relayed
-- to the Request-URI, record-routed so that the BYE comes through here.
geosip = {
  -- Kamailio's kamailio_ops.cfg sets the same
  modules = { "tm", "sl", "rr", "maxfwd", "siputils", "textops",
              acc = { db_flag = 1, failed_transaction_flag = 2 } },
}

FLT_ACC = 1
FLT_ACCFAILED = 2

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
		if KSR.rr.loose_route() > 0 then
			if KSR.is_BYE() then
				KSR.setflag(FLT_ACC)
				KSR.setflag(FLT_ACCFAILED)
			end
			KSR.tm.t_relay()
		elseif KSR.is_ACK() and KSR.tm.t_check_trans() > 0 then
			KSR.tm.t_relay()
		end
		KSR.x.exit()
	end
	if KSR.is_INVITE() then
		KSR.rr.record_route()
		KSR.setflag(FLT_ACC)
		KSR.setflag(FLT_ACCFAILED)
	end
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end
