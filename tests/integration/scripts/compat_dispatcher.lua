-- Load balancing with the dispatcher module, a KEMI script that runs unchanged on
-- Kamailio 5.6 (kamailio_ref/kamailio_ops.cfg, WITH_DISPATCHER) and on geosip;
-- kamailio_ref/test_kamailio_ops.py::test_dispatcher compares which destination got
-- each call. The list file (compat_dispatcher.list, written by the test) has sets 1, 2
-- and 3 of three destinations each. The Request-URI user picks the algorithm:
--   hash  -> set 1, algorithm 0 (hash over the Call-ID)
--   rr    -> set 2, algorithm 4 (round robin)
--   fail  -> set 3, algorithm 4, and on a 500 the failure route tries ds_next_dst()
geosip = {
  -- Kamailio's kamailio_ops.cfg sets the same (flags 2: failover candidates kept)
  modules = { "tm", "sl", "rr", "maxfwd", "siputils", "textops",
              dispatcher = { list_file = "compat_dispatcher.list", flags = 2 } },
}

ALGORITHMS = { hash = { 1, 0 }, rr = { 2, 4 }, fail = { 3, 4 } }

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
	local choice = ALGORITHMS[KSR.pv.get("$rU")]
	if choice == nil then
		KSR.sl.send_reply(404, "No such set")
		KSR.x.exit()
	end
	if KSR.dispatcher.ds_select_dst(choice[1], choice[2]) < 0 then
		KSR.sl.send_reply(503, "No destination")
		KSR.x.exit()
	end
	KSR.tm.t_on_failure("compat_ds_failure")
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

-- A destination answered 500: the next candidate of the set, if any.
function compat_ds_failure()
	if KSR.tm.t_is_canceled() > 0 then
		KSR.x.exit()
	end
	if KSR.tm.t_check_status("500") > 0 and KSR.dispatcher.ds_next_dst() > 0 then
		KSR.tm.t_on_failure("compat_ds_failure")
		KSR.tm.t_relay()
	end
end
