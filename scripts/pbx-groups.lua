-- Within-group short dialing (Centrex-like), the worked example of Kamailio's slides
-- "Extensibility: within-group dialing": users belong to a PBX group, and inside the
-- group each member has a short extension. It takes one table and one more column per
-- user, plus a few lines of script:
--
--   ALTER TABLE subscriber ADD COLUMN pbxgroupid INT NOT NULL DEFAULT 0;
--   CREATE TABLE pbxgroups (
--     id INTEGER PRIMARY KEY,                  -- SERIAL on PostgreSQL
--     pbxgroupid INT NOT NULL DEFAULT 0,
--     shortdial VARCHAR(16) NOT NULL DEFAULT '',
--     extension VARCHAR(64) NOT NULL DEFAULT '',
--     CONSTRAINT pg_u UNIQUE (pbxgroupid, shortdial));
--   UPDATE subscriber SET pbxgroupid = 1 WHERE username IN ('alice', 'bob');
--   INSERT INTO pbxgroups (pbxgroupid, shortdial, extension) VALUES (1, '11', 'bob');
--
-- Then, with the database of `geosip run --db URL` and --alias for your domain, alice
-- dialing 11 reaches bob. Callers authenticate (auth_db); load_credentials puts the
-- caller's pbxgroupid into $avp(pbxgroupid); one sql_query turns the short number
-- into the member's extension, and the location service does the rest.
--
-- The slide builds the query with '$rU{s.escape.common}': that escaping is MySQL's
-- (a backslash before the quote), which SQLite and PostgreSQL do not read. Here the
-- values go through {sql.val.int} and {sql.val.str} (sqlops' transformations: an SQL
-- literal with quotes doubled); KSR.sqlops.sql_pquery with ? parameters does it too.

geosip = {
  listen = { "udp:127.0.0.1:5060", "tcp:127.0.0.1:5060" },
  modules = {
    "tm", "tmx", "sl", "rr", "maxfwd", "siputils", "sanity", "xlog",
    "usrloc", "registrar", "auth",
    auth_db = { load_credentials = "$avp(s:pbxgroupid)=pbxgroupid" },
    sqlops = { sqlcon = { ca = "geosip" } },     -- "geosip": the database geosip run opened
  },
}

function ksr_request_route()
  if KSR.maxfwd.process_maxfwd(10) < 0 then
    KSR.sl.sl_send_reply(483, "Too Many Hops")
    return
  end
  if KSR.is_CANCEL() then
    if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
    return
  end
  if KSR.siputils.has_totag() > 0 then
    ksr_route_withindlg()
    return
  end
  if KSR.tmx.t_precheck_trans() > 0 then
    KSR.tm.t_check_trans()
    return
  end
  KSR.tm.t_check_trans()

  local realm = KSR.pv.get("$fd")
  if KSR.auth_db.auth_check(realm, "subscriber", 1) < 0 then
    KSR.auth.auth_challenge(realm, 1)
    return
  end
  if KSR.is_REGISTER() then
    KSR.registrar.save("location", 0)
    return
  end
  KSR.auth.consume_credentials()

  ksr_route_shortdial()

  KSR.rr.record_route()
  local rc = KSR.registrar.lookup("location")
  if rc < 0 then
    KSR.sl.sl_send_reply(404, "Not Found")
    return
  end
  KSR.tm.t_relay()
end

-- The caller's group ($avp(pbxgroupid), loaded by auth_db) and the dialed number
-- name a member: the R-URI user becomes that member's extension.
function ksr_route_shortdial()
  local group = KSR.pv.get("$avp(pbxgroupid)")
  if group == nil or group == 0 then return end     -- the caller is in no group
  local query = "select extension from pbxgroups where pbxgroupid="
    .. KSR.pv.get("$(avp(pbxgroupid){sql.val.int})")
    .. " and shortdial=" .. KSR.pv.get("$(rU{sql.val.str})")
  -- Kamailio's KEMI sql_query is 0 for any success (rows or none), -1 an error
  if KSR.sqlops.sql_query("ca", query, "ra") == 0 and KSR.pv.get("$dbr(ra=>rows)") > 0 then
    KSR.pv.sets("$rU", KSR.pv.get("$dbr(ra=>[0,0])"))
  end
  KSR.sqlops.sql_result_free("ra")
end

function ksr_route_withindlg()
  if KSR.rr.loose_route() > 0 then
    KSR.tm.t_relay()
    return
  end
  if KSR.is_ACK() then
    if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
    return
  end
  KSR.sl.sl_send_reply(404, "Not here")
end
