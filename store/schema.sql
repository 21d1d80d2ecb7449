-- mailtap database schema, version 1 (PRAGMA user_version = 1).
-- Embedded in the binary by store/schema.c: keep the two identical
-- (tests/unit/test_store_basic.c checks it).
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
