-- A registrar and proxy for tests/integration/test_registrar_sipp.py: REGISTER is
-- saved to usrloc (memory), a call to a registered user goes to its contacts
-- (KSR.registrar.lookup, then t_relay), an unknown user gets 404.
geosip = {
  modules = { "tm", "tmx", "sl", "rr", "maxfwd", "siputils",
              registrar = { max_contacts = 5 }, usrloc = { timer_interval = 5 } },
}

function ksr_request_route()
  if KSR.maxfwd.process_maxfwd(10) < 0 then
    KSR.sl.sl_send_reply(483, "Too Many Hops")
    return
  end

  if KSR.siputils.has_totag() > 0 then  -- within a dialog: follow its route set
    if KSR.rr.loose_route() > 0 then relay() end
    if KSR.is_ACK() then  -- the ACK of a 404 we sent ends here
      if KSR.tm.t_check_trans() > 0 then relay() end
      return
    end
    KSR.sl.sl_send_reply(404, "Not Here")
    return
  end
  if KSR.is_CANCEL() then
    if KSR.tm.t_check_trans() > 0 then relay() end
    return
  end
  if KSR.tm.t_check_trans() == 0 then return end

  if KSR.is_REGISTER() then
    KSR.registrar.save("location", 0)
    return
  end

  local rc = KSR.registrar.lookup("location")
  if rc == -1 or rc == -3 then
    KSR.sl.sl_send_reply(404, "Not Found")
    return
  elseif rc == -2 then
    KSR.sl.sl_send_reply(405, "Method Not Allowed")
    return
  end
  if KSR.is_INVITE() then KSR.rr.record_route() end
  relay()
end

function relay()
  if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
  KSR.x.exit()
end
