/*
 * store.h — the SQLite database (SPEC §4).  Only store/ and reports/ touch
 * SQLite.  Every captured string arrives already escaped (record.h) and is
 * bound as a parameter with its length; nothing is spliced into SQL.
 *
 * Writes are batched in transactions of STORE_BATCH_ROWS rows; a capture
 * row is written with status 'interrupted' when its analysis starts and set
 * to 'complete' at the end, so a run killed at any point leaves a
 * consistent database whose unfinished capture says so.
 *
 * Schema (PRAGMA user_version = STORE_SCHEMA_VERSION), see schema.sql:
 *   captures(id, source, kind, sha256, packets, bytes, first_ts, last_ts,
 *            dropped, ifdropped, truncated, undecodable, status,
 *            mailtap_version, analysed_at)
 *   sessions(id, capture_id, client_ip, client_port, server_ip,
 *            server_port, vlan, start_ts, end_ts, end_reason, protection,
 *            confidence, starttls_offered, starttls_requested,
 *            starttls_reply, banner, helo, helo_verb, ehlo_keywords,
 *            auth_mechanism, auth_user, auth_outcome, tls_version,
 *            tls_cipher, tls_sni, cert_sha256, cert_subject, cert_issuer,
 *            cert_not_before, cert_not_after, exposed_envelope,
 *            exposed_content, exposed_credentials, cleartext_messages,
 *            client_bytes, server_bytes, gap_bytes, syn_seen, one_sided,
 *            complete, tls_alpn, ja3, ja4, tls_handshake_complete,
 *            tls_resumed, cert_id)                              (v2: the last 6)
 *   messages(id, session_id, seq, method, mail_from, rcpt_count, size,
 *            body_sha256, subject, message_id, from_hdr, date_hdr, ts,
 *            reply_code, content_exposed, complete)
 *   recipients(message_id, address, domain, reply_code)
 *   findings(id, session_id, message_id, kind, severity, ts, evidence)
 *   certificates(id, sha256 UNIQUE, subject, issuer, sans, not_before,
 *            not_after, key_type, key_bits, sig_alg, self_signed,
 *            first_seen, last_seen)                             (v2)
 *   session_chain(session_id, depth, cert_id)                   (v2)
 * A version 1 file is migrated in place when opened read-write.
 */
#ifndef MAILTAP_STORE_H
#define MAILTAP_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "dissect/record.h"

#define STORE_SCHEMA_VERSION 2
#define STORE_ERRBUF_SIZE 512

typedef struct store store_t;

/* Session endpoints as canonical text (capture/ formats them). */
struct store_endpoints {
    char client_ip[46];
    uint16_t client_port;
    char server_ip[46];
    uint16_t server_port;
    uint16_t vlan;
};

/* What the capture layer counted for one input. */
struct store_capture_stats {
    uint64_t packets, bytes, dropped, ifdropped, truncated, undecodable;
    double first_ts, last_ts;
};

enum store_mode { STORE_RW = 0, STORE_RO = 1 };

/*
 * Opens (creating when RW and missing) the database at path, migrating an
 * older schema, refusing a newer one ("database schema N is newer than this
 * mailtap (M)").  WAL mode for RW.  Returns NULL with errbuf filled.
 */
store_t *store_open(const char *path, enum store_mode mode, char *errbuf);
/* Commits what is pending and closes.  Returns 0, or -1 with errbuf. */
int store_close(store_t *s, char *errbuf);

/* --redact KEYFILE: from now on local parts of addresses, usernames and
 * subjects are replaced by a keyed HMAC-SHA-256 tag ("h:" + 12 hex digits,
 * stable for the same key), domains kept.  Returns 0 or -1. */
int store_set_redact_key(store_t *s, const uint8_t *key, size_t len);

/* Looks up a capture by SHA-256.  Returns 1 and sets *id and *complete
 * when found, 0 when not, -1 on error. */
int store_capture_find(store_t *s, const char *sha256, int64_t *id, int *complete);
/* Deletes a capture and everything that hangs off it (--force, or redo of
 * an interrupted one).  Returns 0 or -1. */
int store_capture_delete(store_t *s, int64_t id);
/* Inserts a capture row with status 'interrupted' (committed at once).
 * kind is "file" or "live"; sha256 may be "" (unknown yet). */
int store_capture_begin(store_t *s, const char *source, const char *kind,
                        const char *sha256, int64_t *id);
/* Sets the sha256 of a capture once known (stdin).  Returns 0 or -1. */
int store_capture_set_sha256(store_t *s, int64_t id, const char *sha256);
/* Fills in the counts and the status ('complete' or 'interrupted') and
 * commits everything pending.  Returns 0 or -1. */
int store_capture_finish(store_t *s, int64_t id, const struct store_capture_stats *st,
                         const char *status);

/* Inserts a session row (complete = 0) and returns its id, or -1. */
int64_t store_session_begin(store_t *s, int64_t capture_id,
                            const struct store_endpoints *ep, double start_ts);
/* Writes every column of the finished session (complete = 1) and, when
 * ms->chain is set, the server chain: one certificates row per distinct
 * SHA-256 (a repeat widens first_seen/last_seen), session_chain rows, and
 * sessions.cert_id = the leaf.  Certificate fields are never redacted. */
int store_session_end(store_t *s, int64_t session_id,
                      const struct store_endpoints *ep, const struct mt_session *ms);
/* Inserts a message with its recipients. */
int store_message(store_t *s, int64_t session_id, const struct mt_message *m);
/* Inserts a finding; message_id is looked up from (session_id, msg_seq)
 * when msg_seq != 0. */
int store_finding(store_t *s, int64_t session_id, const struct mt_finding *f);

/* Commits the current batch now (e.g. on a timer in live capture). */
int store_flush(store_t *s);

/* Last error text (valid until the next call). */
const char *store_errmsg(const store_t *s);

/* For reports/: the underlying handle (read-only use). */
struct sqlite3;
struct sqlite3 *store_db(store_t *s);

/* SQLite version string for --version. */
const char *store_lib_version(void);

#endif
