#!/bin/sh
# dump.sh DB — the canonical text form of what a database holds, for golden
# tests.  One block per session (ordered by start time, then ports):
#   session C > S PROTECTION offered= requested= reply= env= content= cred= msgs= auth=MECH/OUTCOME user=U
#   message SEQ METHOD from=<A> rcpt=N size=N reply=N complete=0|1
#   rcpt SEQ ADDRESS REPLY
#   finding KIND SEVERITY [msg=SEQ]
# Evidence text, timestamps and byte counts are left out on purpose: the
# expected files state verdicts, not excerpts.
set -eu
db=$1
sqlite3 -batch -noheader "$db" <<'SQL'
WITH s AS (
  SELECT id, start_ts, client_port, server_port,
         ROW_NUMBER() OVER (ORDER BY start_ts, client_ip, client_port, server_ip, server_port, id) AS n,
         (CASE WHEN instr(client_ip, ':') > 0 THEN '[' || client_ip || ']' ELSE client_ip END) || ':' || client_port AS c,
         (CASE WHEN instr(server_ip, ':') > 0 THEN '[' || server_ip || ']' ELSE server_ip END) || ':' || server_port AS sv,
         protection, starttls_offered, starttls_requested, starttls_reply, exposed_envelope,
         exposed_content, exposed_credentials, cleartext_messages, auth_mechanism, auth_outcome, auth_user
  FROM sessions
)
SELECT line FROM (
  SELECT s.n AS n, 0 AS part, 0 AS k1, '' AS k2, 0 AS k3,
         'session ' || s.c || ' > ' || s.sv || ' ' || s.protection ||
         ' offered=' || s.starttls_offered || ' requested=' || s.starttls_requested ||
         ' reply=' || ifnull(s.starttls_reply, 0) ||
         ' env=' || s.exposed_envelope || ' content=' || s.exposed_content ||
         ' cred=' || s.exposed_credentials || ' msgs=' || s.cleartext_messages ||
         ' auth=' || ifnull(s.auth_mechanism, '-') || '/' || ifnull(s.auth_outcome, '-') ||
         ' user=' || ifnull(s.auth_user, '-') AS line
  FROM s
  UNION ALL
  SELECT s.n, 1, m.seq, '', 0,
         'message ' || m.seq || ' ' || m.method || ' from=' || ifnull('<' || m.mail_from || '>', '?') ||
         ' rcpt=' || m.rcpt_count || ' size=' || m.size || ' reply=' || ifnull(m.reply_code, 0) ||
         ' complete=' || m.complete
  FROM messages m JOIN s ON s.id = m.session_id
  UNION ALL
  SELECT s.n, 1, m.seq, r.address, r.rowid,
         'rcpt ' || m.seq || ' ' || r.address || ' ' || ifnull(r.reply_code, 0)
  FROM recipients r JOIN messages m ON m.id = r.message_id JOIN s ON s.id = m.session_id
  UNION ALL
  SELECT s.n, 2, 0, f.kind || ' ' || ifnull(mm.seq, 0), 0,
         'finding ' || f.kind || ' ' || f.severity ||
         CASE WHEN mm.seq IS NOT NULL THEN ' msg=' || mm.seq ELSE '' END
  FROM findings f JOIN s ON s.id = f.session_id LEFT JOIN messages mm ON mm.id = f.message_id
) ORDER BY n, part, k1, k2, k3;
SQL
