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
 *   server_baseline(server_ip, server_port, host, ...)          (v3)
 *   retry_pairs(retry_session_id, failed_session_id, kind)      (v3)
 * An older file (version 1 or 2) is migrated in place when opened
 * read-write.
 *
 * Write path: store_session_begin only reserves the session's id; the
 * session's messages and findings are kept in memory (bounded, see
 * STORE_PENDING_*) and written together with its row by store_session_end,
 * so a short session costs one INSERT per row and no UPDATE.  A session
 * still open when the batch is committed stays in memory; store_flush,
 * store_capture_finish and store_close write every open session as a
 * row with complete = 0 (and its messages and findings), after which its
 * end is an UPDATE as before.  Ids are handed out in order and never
 * collide with another process writing the same file (the highest id
 * handed out is always in the file when a batch is committed).
 */
#ifndef MAILTAP_STORE_H
#define MAILTAP_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "dissect/record.h"

#define STORE_SCHEMA_VERSION 4
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
    uint64_t evicted, evicted_bytes;    /* flow table full (--max-flows) */
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
/*
 * The probe of a file capture: lower-case hex SHA-256 of its size and its
 * first and last STORE_PROBE_SPAN bytes (computed by the caller).  Equal
 * files have equal probes, so a file whose probe matches no complete
 * capture cannot be a duplicate and is hashed while it is analysed (one
 * pass); only a probe match costs a hashing pass first.
 */
#ifndef STORE_PROBE_SPAN
#define STORE_PROBE_SPAN (64u * 1024u)
#endif
/* store_capture_begin with the probe in the same committed row (a run
 * killed at once is still found by the next one).  probe may be NULL. */
int store_capture_begin_probe(store_t *s, const char *source, const char *kind,
                              const char *sha256, const char *probe, int64_t *id);
/* 1 when a complete file capture has this probe, or a file capture stored
 * before probes existed (schema < 4) is there: the file must be hashed
 * before analysis to tell.  0 when not, -1 on error. */
int store_capture_probe_needs_hash(store_t *s, const char *probe);
/* Sets *id to an interrupted capture with this probe, other than except
 * (an earlier run over the same file that did not finish, to be replaced).
 * Returns 1, 0 when there is none, -1 on error. */
int store_capture_probe_stale(store_t *s, const char *probe, int64_t except, int64_t *id);
/* Fills in the counts and the status ('complete' or 'interrupted') and
 * commits everything pending.  Returns 0 or -1. */
int store_capture_finish(store_t *s, int64_t id, const struct store_capture_stats *st,
                         const char *status);

/* Hands out the id of a new session, usable at once by store_message and
 * store_finding; its row is written by store_session_end (or earlier, with
 * complete = 0: see "Write path" above).  Returns the id, or -1. */
int64_t store_session_begin(store_t *s, int64_t capture_id,
                            const struct store_endpoints *ep, double start_ts);
/* Writes every column of the finished session (complete = 1) and, when
 * ms->chain is set, the server chain: one certificates row per distinct
 * SHA-256 (a repeat widens first_seen/last_seen), session_chain rows, and
 * sessions.cert_id = the leaf.  Certificate fields are never redacted. */
int store_session_end(store_t *s, int64_t session_id,
                      const struct store_endpoints *ep, const struct mt_session *ms);
/* Inserts a message with its recipients (kept with the session until its
 * row is written, when that is not yet the case). */
int store_message(store_t *s, int64_t session_id, const struct mt_message *m);
/* Inserts a finding (likewise); message_id is looked up from (session_id,
 * msg_seq) when msg_seq != 0. */
int store_finding(store_t *s, int64_t session_id, const struct mt_finding *f);

/* Commits the current batch now (e.g. on a timer in live capture); open
 * sessions are written (complete = 0) so that they are visible. */
int store_flush(store_t *s);

/* Copies what the write-ahead log holds into the database file now (a
 * passive checkpoint: never waits for readers), so that closing has little
 * left to do.  Outside a transaction (after store_flush).  0, or -1. */
int store_checkpoint(store_t *s);

/* ---- cross-connection detections (schema v3) -------------------------- */

/* A cleartext connection that carries mail this many seconds (packet time,
 * between the two connections' starts) after a failed, refused or reset
 * STARTTLS between the same client IP and server IP:port is a retry. */
#ifndef STORE_RETRY_WINDOW
#define STORE_RETRY_WINDOW 120.0
#endif
/* Observations a server's baseline needs (STARTTLS offered, a leaf
 * certificate seen) before a change against it is reported; also the
 * sightings a new certificate needs to replace the baseline one. */
#ifndef STORE_BASELINE_MIN_OBS
#define STORE_BASELINE_MIN_OBS 3
#endif
/* Consecutive EHLO replies without STARTTLS (after the baseline offered
 * it) before starttls_capability_disappeared is reported, once per run of
 * such replies. */
#ifndef STORE_DISAPPEAR_STREAK
#define STORE_DISAPPEAR_STREAK 2
#endif
/* STORE_PENDING_MAX_BYTES, STORE_PENDING_SESSION_MAX: config.h. */

/*
 * Cross-connection checks of one stored session; call it right after a
 * successful store_session_end(s, session_id, ep, ms) with the same
 * arguments.  It reads and updates the server baselines and may call
 * emit(arg, f) for each finding (f is borrowed for the call; the caller
 * stores it with store_finding(s, session_id, f) and counts it):
 *   plaintext_retry_after_tls_failure (high), starttls_then_reset (high):
 *     this session is a cleartext connection carrying mail and another,
 *     started at most STORE_RETRY_WINDOW seconds before it between the same
 *     client IP and server IP:port, had its STARTTLS refused, its handshake
 *     fail, or was reset after STARTTLS; at most one per retry session.
 *     When the failed session is stored after its retry (capture order,
 *     another file), the finding goes to the failed session instead.
 *   starttls_capability_disappeared (high; critical with a
 *     starttls_token_masked or ehlo_rejected_helo_fallback finding in this
 *     session): per server (IP, port, greeting host name), STARTTLS offered
 *     in at least STORE_BASELINE_MIN_OBS EHLO replies, then absent from
 *     STORE_DISAPPEAR_STREAK consecutive ones (once per such run).
 *   cert_changed_vs_baseline (medium; high on submission: port 587/465 or
 *     AUTH used): a leaf certificate other than the one the server showed at
 *     least STORE_BASELINE_MIN_OBS times, from another issuer (organisation,
 *     O=, when both names have one; a renewal by the same issuer is not
 *     reported), once per new leaf; a new leaf seen that often, and more
 *     recently, becomes the baseline.
 * Packet times order the observations: a session that started more than
 * CAP_IDLE_TIMEOUT_DEFAULT seconds before the latest one the baseline has
 * seen (an older capture analysed later) updates its counts but raises
 * nothing.  Baselines changed in a batch are written when it is committed.
 * Returns the number of findings emitted, or -1 with the error set.
 */
int store_crosscheck(store_t *s, int64_t session_id, const struct store_endpoints *ep,
                     const struct mt_session *ms,
                     void (*emit)(void *arg, const struct mt_finding *f), void *arg);

/* Last error text (valid until the next call). */
const char *store_errmsg(const store_t *s);

/* For reports/: the underlying handle (read-only use). */
struct sqlite3;
struct sqlite3 *store_db(store_t *s);

/* SQLite version string for --version. */
const char *store_lib_version(void);

#endif
