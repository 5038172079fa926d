-- geosip example: a load balancer in front of media servers (Kamailio's dispatcher
-- sample config, README §6.2, as a KEMI Lua script).
--
-- New calls go round robin (algorithm 4) over destination set 1. When a server answers
-- 500, or its branch times out without any reply, the failure route sends the call to
-- the next server of the set (ds_next_dst). Every server is probed with OPTIONS every
-- ds_ping_interval seconds (ds_probing_mode 1: all of them); one that stops answering
-- is marked inactive and gets no new calls until it answers again. `geosipctl ds.list`
-- shows the states (AP active, IP inactive, both probed).
--
-- The destinations are read from dispatcher.list in geosip's working directory, one
-- per line in Kamailio's format: setid destination [flags [priority [attrs]]]
--   1 sip:10.0.0.11:5060
--   1 sip:10.0.0.12:5060 0 0 weight=50;duid=ms2
--   1 sip:media.example.com        # a name: SRV or A/AAAA
-- Servers of equal priority are taken in the reverse of the file's order, as Kamailio
-- does: round robin starts with the last line, and a failed server's call goes to the
-- line above it. Edit the file and run `geosipctl ds.reload`: calls in progress keep
-- their candidates.

geosip = {
  listen = { "udp:127.0.0.1:5060" },
  -- a branch that gets no final answer within 2 s fails over (Kamailio's sample: 2000)
  tm = { fr_timer = 2000, fr_inv_timer = 40000 },
  modules = {
    "tm", "tmx", "sl", "rr", "maxfwd", "siputils", "xlog",
    dispatcher = {
      list_file = "dispatcher.list",
      flags = 2,                        -- keep the other servers for failover
      ds_ping_interval = 10,            -- seconds between keepalive rounds
      ds_probing_mode = 1,              -- probe every server
      ds_probing_threshold = 1,         -- one lost keepalive: inactive
      ds_inactive_threshold = 1,        -- one answered keepalive: active again
      ds_ping_from = "sip:dispatcher@geosip.invalid",
      event_callback = "ksr_dispatcher_event",
    },
  },
}

function ksr_request_route()
  if KSR.maxfwd.process_maxfwd(10) < 0 then
    KSR.sl.sl_send_reply(483, "Too Many Hops")
    KSR.x.exit()
  end

  -- CANCEL: to the transaction it cancels (RFC 3261 §16.10)
  if KSR.is_CANCEL() then
    if KSR.tm.t_check_trans() > 0 then
      ksr_route_relay()
    end
    KSR.x.exit()
  end

  -- within a dialog: the path recorded by Record-Route
  if KSR.siputils.has_totag() > 0 then
    if KSR.rr.loose_route() > 0 or (KSR.is_ACK() and KSR.tm.t_check_trans() > 0) then
      ksr_route_relay()
    elseif not KSR.is_ACK() then
      KSR.sl.sl_send_reply(404, "Not here")
    end
    KSR.x.exit()
  end

  if KSR.is_INVITE() then
    KSR.rr.record_route()
  end
  ksr_route_dispatch()
end

-- Kamailio's route[DISPATCH]: round robin over set 1
function ksr_route_dispatch()
  if KSR.dispatcher.ds_select_dst(1, 4) < 0 then
    KSR.sl.send_reply(404, "No destination")
    KSR.x.exit()
  end
  KSR.xlog.xinfo("dispatch: call $ci to $du\n")
  KSR.tm.t_on_failure("ksr_failure_dispatch")
  ksr_route_relay()
end

function ksr_route_relay()
  if KSR.tm.t_relay() < 0 then
    KSR.sl.sl_reply_error()
  end
  KSR.x.exit()
end

-- Kamailio's failure_route[RTF_DISPATCH]: the next server, on 500 or a silent branch
function ksr_failure_dispatch()
  if KSR.tm.t_is_canceled() > 0 then
    KSR.x.exit()
  end
  if KSR.tm.t_check_status("500") > 0
      or (KSR.tm.t_branch_timeout() > 0 and KSR.tm.t_branch_replied() < 0) then
    local failed = KSR.pv.get("$du")
    if KSR.dispatcher.ds_next_dst() > 0 then
      KSR.xlog.xinfo("dispatch: call $ci failed over from " .. failed .. " to $du\n")
      KSR.tm.t_on_failure("ksr_failure_dispatch")
      ksr_route_relay()
    end
  end
end

-- dispatcher's events: a server stopped or started answering the keepalives
function ksr_dispatcher_event(evname)
  KSR.xlog.xinfo("dispatch: " .. evname .. " $du\n")
end
