-- Accounting and CDRs (issue 6 items 2 and 3): a record-routing proxy that tracks every
-- call with the dialog module and accounts it with acc, as Kamailio's kamailio.cfg
-- WITH_ACCDB does:
--   * acc rows for the INVITE (answered), its ACK and the BYE, with the caller's and
--     callee's user and domain (the seed's "Accounting Table");
--   * missed_calls rows for calls that fail (busy, cancelled, unanswered);
--   * one CDR per ended call: start, end, duration, caller, callee (the seed's "CDRS").
-- The extra columns are the operator's, as in Kamailio's documentation:
--   ALTER TABLE acc ADD COLUMN src_user VARCHAR(64) NOT NULL DEFAULT '';  (and src_domain,
--   dst_user, dst_domain, src_ip; the same on missed_calls)
--   ALTER TABLE acc_cdrs ADD COLUMN src_username VARCHAR(64) NOT NULL DEFAULT ''; (and
--   src_domain, dst_username, dst_domain)
-- Run: geosipctl db init && geosip run -c scripts/acc-cdr.lua
-- Calls in progress: geosipctl dlg.list; end one: geosipctl dlg.end_dlg H_ENTRY H_ID.

FLT_ACC = 1         -- account the transaction (acc rows, log lines)
FLT_ACCMISSED = 2   -- account a failed call as missed
FLT_ACCFAILED = 3   -- account a failed transaction in acc too

geosip = {
  listen = { "udp:127.0.0.1:5060", "tcp:127.0.0.1:5060" },
  modules = {
    "tm", "tmx", "sl", "rr", "maxfwd", "siputils",
    dialog = { default_timeout = 7200, event_callback = "ksr_dialog_event",
               profiles_with_value = "caller" },
    acc = { log_flag = FLT_ACC, db_flag = FLT_ACC, log_missed_flag = FLT_ACCMISSED,
            db_missed_flag = FLT_ACCMISSED, failed_transaction_flag = FLT_ACCFAILED,
            report_ack = 1, detect_direction = 1,
            db_extra = "src_user=$fU;src_domain=$fd;dst_user=$tU;dst_domain=$rd;src_ip=$si",
            log_extra = "src_user=$fU;dst_user=$tU",
            cdr_enable = 1, cdrs_table = "acc_cdrs",
            cdr_extra = "src_username=$fU;src_domain=$fd;dst_username=$tU;dst_domain=$rd" },
  },
}

function ksr_request_route()
  if KSR.maxfwd.process_maxfwd(10) < 0 then
    KSR.sl.sl_send_reply(483, "Too Many Hops")
    return
  end
  if KSR.siputils.has_totag() > 0 then       -- within a dialog: its route set
    if KSR.rr.loose_route() > 0 or KSR.is_ACK() then
      if KSR.is_BYE() then
        KSR.setflag(FLT_ACC)
        KSR.setflag(FLT_ACCFAILED)
      end
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
  if KSR.tm.t_check_trans() == 0 then return end
  if KSR.is_INVITE() then
    KSR.dialog.dlg_manage()
    KSR.dialog.set_dlg_profile("caller", KSR.pv.get("$fu"))
    KSR.setflag(FLT_ACC)
    KSR.setflag(FLT_ACCMISSED)
    KSR.rr.record_route()
  end
  relay()
end

function relay()
  if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
end

function ksr_dialog_event(evname)
  KSR.info(evname .. " " .. (KSR.pv.get("$dlg(callid)") or "-"))
end
