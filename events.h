/*
 * events.h — the --events stream: one JSON object per line for every
 * session, message and finding, written as it is stored.
 *
 * The shape is a stable interface (README "Running on a span port",
 * "The events file"):
 *   {"type":"session","capture_id":N,"session_id":N,"ts":T,
 *    "client":"IP:PORT","server":"IP:PORT", <every column of the session>}
 *   {"type":"message","capture_id":N,"session_id":N,"seq":N,...,
 *    "recipients":[{"address":..,"domain":..,"reply_code":..}]}
 *   {"type":"finding","capture_id":N,"session_id":N,"message_seq":N|null,
 *    "kind":..,"severity":..,"ts":T,"evidence":..}
 * Keys are never removed or renamed; new keys may be added at the end.
 * An empty (not seen) string or a 0 reply code / unknown time is null, as
 * in the database.  Strings are JSON-escaped (quote, backslash, control
 * characters, U+2028/U+2029; bytes that are not UTF-8 become U+FFFD).
 *
 * Each line is written with one write(2) as soon as it is complete (no
 * stdio buffering), so `tail -f` never sees half a line.  A write error is
 * reported once on stderr and counted; capture goes on.
 *
 * Reopening (log rotation): ev_request_reopen() only sets a flag and is
 * async-signal-safe; the file is reopened (append, created 0640 when
 * missing) before the next line is written or at the next ev_poll().
 */
#ifndef MAILTAP_EVENTS_H
#define MAILTAP_EVENTS_H

#include <stdint.h>
#include <sys/types.h>
#include "dissect/record.h"
#include "store/store.h"

typedef struct ev_writer ev_writer_t;

/* Opens path for appending ("-" = standard output).  Returns NULL with
 * why filled on failure.  *created is set to 1 when the file was created
 * by this call (so the caller may hand it to the unprivileged user). */
ev_writer_t *ev_open(const char *path, int *created, char *why, size_t whysz);
/* Gives the open file to uid:gid (fchown).  0, or -1 with errno. */
int ev_chown(ev_writer_t *w, uid_t uid, gid_t gid);

/* Async-signal-safe: asks for a reopen (SIGHUP). */
void ev_request_reopen(void);
/* Reopens now if a reopen was requested.  NULL-safe. */
void ev_poll(ev_writer_t *w);

void ev_session(ev_writer_t *w, int64_t capture_id, int64_t session_id,
                const struct store_endpoints *ep, const struct mt_session *s);
void ev_message(ev_writer_t *w, int64_t capture_id, int64_t session_id,
                const struct mt_message *m);
void ev_finding(ev_writer_t *w, int64_t capture_id, int64_t session_id,
                const struct mt_finding *f);

/* Lines written, and write/reopen errors so far. */
uint64_t ev_lines(const ev_writer_t *w);
uint64_t ev_errors(const ev_writer_t *w);

/* Closes (NULL-safe).  Returns -1 when any write or the close failed. */
int ev_close(ev_writer_t *w);

#endif
