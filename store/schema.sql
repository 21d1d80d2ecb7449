-- mailtap database schema: the migration steps, in order (PRAGMA
-- user_version = the last step applied).  Step 1 creates version 1; step 2
-- (at the end, from its "-- step 2" line) brings a version 1 database to
-- version 2.  A new database runs every step, so new and migrated files are
-- the same.  Embedded in the binary by store/schema.c as one string per
-- step: keep the two identical (tests/unit/test_store_basic.c checks it).
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
