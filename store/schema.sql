-- mailtap database schema: the migration steps, in order (PRAGMA
-- user_version = the last step applied).  Step 1 creates version 1; step 2
-- (from its "-- step 2" line) brings a version 1 database to version 2,
-- step 3 (from the empty line before "-- step 3") version 2 to 3.  A new
-- database runs every step, so new and migrated files are the same.
-- Embedded in the binary by store/schema.c as one string per step: keep
-- the two identical (tests/unit/test_store_basic.c checks it).
-- CHECK constraints use OR chains: an IN list would make SQLite build a
-- temporary b-tree on every INSERT and UPDATE.
-- Timestamps are packet time, seconds since the epoch (REAL), except
-- captures.analysed_at (wall clock, ISO 8601 UTC text).  Strings are the
-- escaped text dissect/ produced; an empty value is NULL.

CREATE TABLE captures (
    id              INTEGER PRIMARY KEY,
    source          TEXT,
    kind            TEXT NOT NULL CHECK (kind = 'file' OR kind = 'live'),
    sha256          TEXT,
    packets         INTEGER NOT NULL DEFAULT 0,
    bytes           INTEGER NOT NULL DEFAULT 0,
    first_ts        REAL,
    last_ts         REAL,
    dropped         INTEGER NOT NULL DEFAULT 0,
    ifdropped       INTEGER NOT NULL DEFAULT 0,
    truncated       INTEGER NOT NULL DEFAULT 0,
    undecodable     INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'interrupted'
                    CHECK (status = 'complete' OR status = 'interrupted'),
    mailtap_version TEXT NOT NULL,
    analysed_at     TEXT NOT NULL
);

CREATE TABLE sessions (
    id                  INTEGER PRIMARY KEY,
    capture_id          INTEGER NOT NULL REFERENCES captures(id) ON DELETE CASCADE,
    client_ip           TEXT NOT NULL,
    client_port         INTEGER NOT NULL,
    server_ip           TEXT NOT NULL,
    server_port         INTEGER NOT NULL,
    vlan                INTEGER NOT NULL DEFAULT 0,
    start_ts            REAL NOT NULL,
    end_ts              REAL,
    end_reason          TEXT CHECK (end_reason = 'fin' OR end_reason = 'rst'
                                    OR end_reason = 'timeout' OR end_reason = 'eof'),
    protection          TEXT NOT NULL DEFAULT 'indeterminate'
                        CHECK (protection = 'implicit_tls' OR protection = 'starttls'
                               OR protection = 'partial' OR protection = 'cleartext'
                               OR protection = 'indeterminate'),
    confidence          TEXT,
    starttls_offered    INTEGER NOT NULL DEFAULT 0,
    starttls_requested  INTEGER NOT NULL DEFAULT 0,
    starttls_reply      INTEGER,
    banner              TEXT,
    helo                TEXT,
    helo_verb           TEXT,
    ehlo_keywords       TEXT,
    auth_mechanism      TEXT,
    auth_user           TEXT,
    auth_outcome        TEXT,
    tls_version         TEXT,
    tls_cipher          TEXT,
    tls_sni             TEXT,
    cert_sha256         TEXT,
    cert_subject        TEXT,
    cert_issuer         TEXT,
    cert_not_before     REAL,
    cert_not_after      REAL,
    exposed_envelope    INTEGER NOT NULL DEFAULT 0,
    exposed_content     INTEGER NOT NULL DEFAULT 0,
    exposed_credentials INTEGER NOT NULL DEFAULT 0,
    cleartext_messages  INTEGER NOT NULL DEFAULT 0,
    client_bytes        INTEGER NOT NULL DEFAULT 0,
    server_bytes        INTEGER NOT NULL DEFAULT 0,
    gap_bytes           INTEGER NOT NULL DEFAULT 0,
    syn_seen            INTEGER NOT NULL DEFAULT 0,
    one_sided           INTEGER NOT NULL DEFAULT 0,
    complete            INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    method          TEXT NOT NULL CHECK (method = 'DATA' OR method = 'BDAT'),
    mail_from       TEXT,
    rcpt_count      INTEGER NOT NULL DEFAULT 0,
    size            INTEGER NOT NULL DEFAULT 0,
    body_sha256     TEXT,
    subject         TEXT,
    message_id      TEXT,
    from_hdr        TEXT,
    date_hdr        TEXT,
    ts              REAL,
    reply_code      INTEGER,
    content_exposed INTEGER NOT NULL DEFAULT 0,
    complete        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE recipients (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    address    TEXT,
    domain     TEXT,
    reply_code INTEGER
);

CREATE TABLE findings (
    id         INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    kind       TEXT NOT NULL,
    severity   TEXT NOT NULL
               CHECK (severity = 'critical' OR severity = 'high' OR severity = 'medium'
                      OR severity = 'low' OR severity = 'info'),
    ts         REAL,
    evidence   TEXT
);

CREATE INDEX idx_captures_sha256     ON captures(sha256);
CREATE INDEX idx_sessions_capture    ON sessions(capture_id);
CREATE INDEX idx_sessions_start      ON sessions(start_ts);
CREATE INDEX idx_sessions_server     ON sessions(server_ip, server_port);
CREATE INDEX idx_messages_session    ON messages(session_id, seq);
CREATE INDEX idx_recipients_message  ON recipients(message_id);
CREATE INDEX idx_findings_session    ON findings(session_id);
CREATE INDEX idx_findings_kind       ON findings(kind);
CREATE INDEX idx_findings_message    ON findings(message_id);

-- step 2: TLS handshake details and server certificates (version 2).
-- certificates: one row per distinct certificate (by SHA-256 of the DER),
-- first_seen/last_seen = packet time of the sessions that presented it;
-- rows are shared between captures and never deleted with them.
-- session_chain: the chain a session's server presented, depth 0 = leaf.
-- sessions.cert_id: the leaf (NULL when no certificate was visible: TLS 1.3,
-- resumption, no TLS).  The new session flags are NULL on rows written by
-- version 1 (unknown), 0/1 on rows written since.  Sessions of version 1
-- that carry a leaf SHA-256 get a certificates row and their cert_id.

CREATE TABLE certificates (
    id          INTEGER PRIMARY KEY,
    sha256      TEXT NOT NULL UNIQUE,
    subject     TEXT,
    issuer      TEXT,
    sans        TEXT,
    not_before  REAL,
    not_after   REAL,
    key_type    TEXT,
    key_bits    INTEGER,
    sig_alg     TEXT,
    self_signed INTEGER NOT NULL DEFAULT 0,
    first_seen  REAL,
    last_seen   REAL
);

CREATE TABLE session_chain (
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    depth      INTEGER NOT NULL,
    cert_id    INTEGER NOT NULL REFERENCES certificates(id),
    PRIMARY KEY (session_id, depth)
);

ALTER TABLE sessions ADD COLUMN tls_alpn TEXT;
ALTER TABLE sessions ADD COLUMN ja3 TEXT;
ALTER TABLE sessions ADD COLUMN ja4 TEXT;
ALTER TABLE sessions ADD COLUMN tls_handshake_complete INTEGER;
ALTER TABLE sessions ADD COLUMN tls_resumed INTEGER;
ALTER TABLE sessions ADD COLUMN cert_id INTEGER REFERENCES certificates(id);

INSERT INTO certificates (sha256, subject, issuer, not_before, not_after, first_seen,
                          last_seen)
    SELECT cert_sha256, max(cert_subject), max(cert_issuer), max(cert_not_before),
           max(cert_not_after), min(start_ts), max(start_ts)
    FROM sessions WHERE cert_sha256 IS NOT NULL GROUP BY cert_sha256;
UPDATE sessions SET cert_id = (SELECT c.id FROM certificates c
                               WHERE c.sha256 = sessions.cert_sha256)
    WHERE cert_sha256 IS NOT NULL;

CREATE INDEX idx_sessions_cert       ON sessions(cert_id);
CREATE INDEX idx_session_chain_cert  ON session_chain(cert_id);

-- step 3: cross-connection baselines (version 3).
-- server_baseline: what each server (IP, port, host = first word of its 220
-- greeting, lower case, '' when none was seen) showed so far, by packet
-- time: EHLO replies with and without STARTTLS, the run of replies without
-- it since the last one with it (and whether that run was reported), the
-- baseline leaf certificate and a different leaf seen since (candidate).
-- retry_pairs: a cleartext retry session already reported with the failed
-- STARTTLS session it followed (kind = the finding raised), so that the
-- pair is reported once whichever of the two is stored first.
-- idx_sessions_tls_fail / idx_sessions_clear_mail: the two sides of a
-- retry, partial so that other sessions cost nothing.  idx_findings_message
-- and idx_sessions_cert become partial too (most findings have no message,
-- most sessions no certificate: their inserts skip the index; lookups by a
-- value, the ON DELETE SET NULL of findings included, still use it).
-- idx_findings_kind and idx_sessions_server go: no lookup uses them (the
-- reports that scanned findings in kind order sort them instead), and they
-- cost a B-tree insert per finding and per session, about 15 % of the time
-- to store a short session.  The baselines are filled from the sessions
-- already stored.

CREATE TABLE server_baseline (
    server_ip           TEXT NOT NULL,
    server_port         INTEGER NOT NULL,
    host                TEXT NOT NULL,
    starttls_seen_count INTEGER NOT NULL DEFAULT 0,
    no_starttls_count   INTEGER NOT NULL DEFAULT 0,
    no_starttls_streak  INTEGER NOT NULL DEFAULT 0,
    streak_reported     INTEGER NOT NULL DEFAULT 0,
    last_starttls_ts    REAL,
    last_seen_ts        REAL,
    keywords            TEXT,
    cert_sha256         TEXT,
    cert_issuer         TEXT,
    cert_seen_count     INTEGER NOT NULL DEFAULT 0,
    cert_last_ts        REAL,
    cand_sha256         TEXT,
    cand_issuer         TEXT,
    cand_seen_count     INTEGER NOT NULL DEFAULT 0,
    cand_last_ts        REAL,
    PRIMARY KEY (server_ip, server_port, host)
) WITHOUT ROWID;

CREATE TABLE retry_pairs (
    retry_session_id  INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    failed_session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    kind              TEXT NOT NULL
);

CREATE INDEX idx_retry_pairs_failed ON retry_pairs(failed_session_id);
DROP INDEX idx_findings_message;
CREATE INDEX idx_findings_message ON findings(message_id) WHERE message_id IS NOT NULL;
DROP INDEX idx_sessions_cert;
CREATE INDEX idx_sessions_cert ON sessions(cert_id) WHERE cert_id IS NOT NULL;
DROP INDEX idx_findings_kind;
DROP INDEX idx_sessions_server;
CREATE INDEX idx_sessions_tls_fail   ON sessions(client_ip, server_ip, server_port, start_ts)
    WHERE starttls_requested = 1 AND tls_handshake_complete = 0;
CREATE INDEX idx_sessions_clear_mail ON sessions(client_ip, server_ip, server_port, start_ts)
    WHERE starttls_requested = 0 AND (exposed_envelope = 1 OR exposed_content = 1);

WITH obs AS (
    SELECT id, server_ip, server_port,
           lower(CASE WHEN instr(ltrim(ifnull(banner, ''), ' '), ' ') > 0
                      THEN substr(ltrim(banner, ' '), 1, instr(ltrim(banner, ' '), ' ') - 1)
                      ELSE ltrim(ifnull(banner, ''), ' ') END) AS host,
           start_ts, starttls_offered, ehlo_keywords, helo_verb, server_bytes, gap_bytes,
           exposed_envelope, cert_sha256, cert_issuer
    FROM sessions WHERE complete = 1
),
ehlo AS (
    SELECT * FROM obs
    WHERE ehlo_keywords IS NOT NULL
       OR (helo_verb = 'EHLO' AND server_bytes > 0 AND gap_bytes = 0 AND exposed_envelope = 1)
       OR (helo_verb = 'HELO' AND EXISTS (SELECT 1 FROM findings f WHERE f.session_id = obs.id
                                          AND f.kind = 'ehlo_rejected_helo_fallback'))
),
st AS (
    SELECT server_ip, server_port, host, sum(starttls_offered = 1) AS n_st,
           sum(starttls_offered = 0) AS n_no, max(start_ts) AS last_seen,
           max(CASE WHEN starttls_offered = 1 THEN start_ts END) AS last_st
    FROM ehlo GROUP BY server_ip, server_port, host
),
streak AS (
    SELECT e.server_ip, e.server_port, e.host, count(*) AS n
    FROM ehlo e JOIN st ON st.server_ip = e.server_ip AND st.server_port = e.server_port
                       AND st.host = e.host
    WHERE e.starttls_offered = 0 AND e.start_ts > st.last_st
    GROUP BY e.server_ip, e.server_port, e.host
),
kw AS (
    SELECT server_ip, server_port, host, ehlo_keywords,
           row_number() OVER (PARTITION BY server_ip, server_port, host
                              ORDER BY start_ts DESC) AS rn
    FROM ehlo WHERE starttls_offered = 1
),
leaf AS (
    SELECT server_ip, server_port, host, cert_sha256, max(cert_issuer) AS issuer,
           count(*) AS n, max(start_ts) AS last_ts,
           row_number() OVER (PARTITION BY server_ip, server_port, host
                              ORDER BY max(start_ts) DESC) AS rn
    FROM obs WHERE cert_sha256 IS NOT NULL GROUP BY server_ip, server_port, host, cert_sha256
),
srv AS (
    SELECT server_ip, server_port, host FROM st
    UNION SELECT server_ip, server_port, host FROM leaf
)
INSERT INTO server_baseline (server_ip, server_port, host, starttls_seen_count,
                             no_starttls_count, no_starttls_streak, last_starttls_ts,
                             last_seen_ts, keywords, cert_sha256, cert_issuer,
                             cert_seen_count, cert_last_ts)
SELECT srv.server_ip, srv.server_port, srv.host, ifnull(st.n_st, 0), ifnull(st.n_no, 0),
       ifnull(streak.n, 0), st.last_st, st.last_seen, kw.ehlo_keywords,
       leaf.cert_sha256, leaf.issuer, ifnull(leaf.n, 0), leaf.last_ts
FROM srv
LEFT JOIN st ON st.server_ip = srv.server_ip AND st.server_port = srv.server_port
            AND st.host = srv.host
LEFT JOIN streak ON streak.server_ip = srv.server_ip AND streak.server_port = srv.server_port
                AND streak.host = srv.host
LEFT JOIN kw ON kw.server_ip = srv.server_ip AND kw.server_port = srv.server_port
            AND kw.host = srv.host AND kw.rn = 1
LEFT JOIN leaf ON leaf.server_ip = srv.server_ip AND leaf.server_port = srv.server_port
              AND leaf.host = srv.host AND leaf.rn = 1;

-- step 4: captures.probe (version 4): SHA-256 of a file's size and its
-- first and last 64 KiB.  A file whose probe no complete capture has
-- cannot be one already analysed, so it is hashed while it is read (one
-- pass); captures stored before this step have no probe.
-- captures.evicted, evicted_bytes: connections ended early because the
-- flow table was full (--max-flows), and the payload bytes they carried
-- afterwards, which were not analysed.

ALTER TABLE captures ADD COLUMN probe TEXT;
ALTER TABLE captures ADD COLUMN evicted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE captures ADD COLUMN evicted_bytes INTEGER NOT NULL DEFAULT 0;
CREATE INDEX idx_captures_probe ON captures(probe) WHERE probe IS NOT NULL;
