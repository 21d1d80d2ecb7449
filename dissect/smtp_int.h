/*
 * smtp_int.h — internals of the SMTP dissector, shared by dissect/smtp*.c
 * only (nothing outside those files includes it).
 *
 * Layout:
 *   smtp.c        public API (dis_*), direction sniffing, capture events,
 *                 gaps, the verdict and the session-level findings
 *   smtp_line.c   per-direction line splitter (carry buffers), the TLS
 *                 check at line starts, the TLS byte counter, the hold
 *                 buffer
 *   smtp_cmd.c    client side: command table, command parsing, the
 *                 pending-command FIFO
 *   smtp_reply.c  server side: reply parsing, greeting, EHLO keywords,
 *                 reply-driven transitions
 *   smtp_msg.c    messages: transactions, DATA/BDAT content, emission
 *   smtp_auth.c   AUTH / SASL
 *   smtp_tls.c    the TLS handshake reader fed with the TLS bytes, its
 *                 summary, the failed-handshake rule and the findings of
 *                 groups E and F
 *
 * Roles.  The capture numbers the endpoints 0/1 ("sides"); once the client
 * is known everything inside works with roles R_CLI / R_SRV.
 *
 * Ownership.  Every buffer below belongs to the session and is freed by
 * dis_session_free().  Message objects (struct smtp_msg) are reference
 * counted: the current transaction, the content being streamed and every
 * FIFO entry that will still need the message hold one reference; the last
 * reference dropped emits a message whose content command was sent (see
 * smtp_msg.c).
 */
#ifndef MAILTAP_SMTP_INT_H
#define MAILTAP_SMTP_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "dissect.h"
#include "record.h"
#include "span.h"
#include "body.h"
#include "sasl.h"
#include "tls.h"
#include "tlspeek.h"

enum smtp_role { R_CLI = 0, R_SRV = 1 };

/* What nDPI called the flow (DIS_EV_PROTOCOL, --all-ports), by its master
 * protocol (the part of "X.Y" before the dot). */
enum smtp_ndpi {
    PNAME_NONE = 0,     /* no verdict (yet), or "Unknown"                   */
    PNAME_SMTP,         /* SMTP or SMTPS                                    */
    PNAME_TUNNEL,       /* SOCKS, HTTP_Proxy, HTTP_Connect: a tunnel that
                           may carry SMTP; decides nothing                  */
    PNAME_OTHER         /* anything else: TLS, HTTP, ...                    */
};

/* Internal bounds.  The attacker-facing limits live in config.h; these
 * are derived bookkeeping sizes, each with its overflow behaviour. */
#define SMTP_MSG_LIVE_MAX     16u   /* message objects alive at once; past it
                                       the oldest one is emitted early      */
#define SMTP_HOLD_ITEMS       16u   /* runs of bytes / gaps remembered in the
                                       hold (segments after the trigger's
                                       own merge, chunk id 0); past it the
                                       hold is resolved as an overflow      */
#define SMTP_SNIFF_ITEMS_MAX  512u  /* sniff log entries; past it the
                                       direction is decided by port         */
#define SMTP_EXCERPT_MAX      40u   /* raw bytes quoted in an evidence      */
#define SMTP_CARRY_MIN        256u  /* first carry-buffer allocation        */
#define SMTP_CARRY_KEEP       2048u /* larger carry buffers are freed when
                                       the line is done                     */
#define SMTP_FIFO_MIN         8u    /* first FIFO allocation (entries)      */
#define SMTP_KW_TOKEN_MAX     128u  /* raw bytes of one EHLO keyword kept   */
#define SMTP_DETAIL_MAX       96u   /* capture-event detail kept while sniffing */
#define SMTP_TLS_FEED_MAX     (256u * 1024u)  /* TLS bytes read by the handshake
                                       reader; past it (a handshake never
                                       seen to complete: one-sided capture,
                                       odd peers) its summary is taken and
                                       the rest is only counted            */

/* ---- findings ---------------------------------------------------------- */

enum fk {
    FK_CLEARTEXT_NO_STARTTLS_OFFERED = 0,
    FK_STARTTLS_OFFERED_NOT_USED,
    FK_STARTTLS_REFUSED,
    FK_TLS_HANDSHAKE_FAILED,
    FK_PLAINTEXT_MESSAGE_BODY,
    FK_PLAINTEXT_ENVELOPE_METADATA,
    FK_CLEARTEXT_SUBMISSION,
    FK_PLAINTEXT_AUTH_OFFERED,
    FK_STARTTLS_TOKEN_MASKED,
    FK_EHLO_REJECTED_HELO_FALLBACK,
    FK_SMTP_BANNER_MASKED,
    FK_EHLO_KEYWORDS_MASKED,
    FK_STARTTLS_COMMAND_INJECTION,
    FK_STARTTLS_RESPONSE_INJECTION,
    FK_NON_TLS_AFTER_STARTTLS_220,
    FK_PIPELINING_ORDER_VIOLATION,
    FK_SMTP_SMUGGLING_EOD_AMBIGUITY,
    FK_TLS_HELLO_ON_CLEARTEXT_PORT,
    FK_AUTH_PLAIN_CLEARTEXT,
    FK_AUTH_LOGIN_CLEARTEXT,
    FK_AUTH_BEARER_TOKEN_CLEARTEXT,
    FK_AUTH_CHALLENGE_RESPONSE_CLEARTEXT,
    FK_IMPLICIT_TLS_465,
    FK_PLAINTEXT_ON_IMPLICIT_TLS_PORT,
    FK_SMTP_ON_NONSTANDARD_PORT,
    FK_LMTP_CLEARTEXT,
    FK_XCLIENT_XFORWARD_CLEARTEXT,
    FK_REQUIRETLS_IN_CLEARTEXT,
    FK_CAPTURE_GAP,
    FK_TRUNCATED_PACKETS,
    FK_MIDSTREAM_START,
    FK_ONE_SIDED_CAPTURE,
    FK_TCP_OVERLAP_CONFLICT,
    FK_SMTP_LINE_TOO_LONG,
    FK_SMTP_MALFORMED_REPLY,
    FK_SMTP_MALFORMED_COMMAND,
    FK_TLS_VERSION_WEAK,
    FK_TLS_CIPHER_WEAK,
    FK_TLS_COMPRESSION,
    FK_TLS13_CERT_NOT_OBSERVABLE,
    FK_TLS_NO_SNI,
    FK_CERT_EXPIRED_OR_NOT_YET_VALID,
    FK_CERT_UNTRUSTED_OR_SELF_SIGNED,
    FK_CERT_NAME_MISMATCH,
    FK_CERT_WEAK_KEY_OR_SIGNATURE,
    FK_COUNT                    /* <= 64: once[] is a 64-bit set */
};

/* ---- commands ------------------------------------------------------------ */

enum cmd_id {
    CMD_NONE = 0,
    CMD_HELO, CMD_EHLO, CMD_LHLO, CMD_MAIL, CMD_RCPT, CMD_DATA, CMD_BDAT,
    CMD_RSET, CMD_QUIT, CMD_NOOP, CMD_VRFY, CMD_EXPN, CMD_HELP, CMD_STARTTLS,
    CMD_AUTH, CMD_XCLIENT, CMD_XFORWARD, CMD_TURN, CMD_ETRN,
    /* not verbs of their own */
    CMD_UNKNOWN,        /* any other line                                   */
    CMD_MASKED,         /* verb of >= 4 'X' (inspection device)             */
    CMD_BDAT_BAD,       /* BDAT whose size is not a decimal uint64          */
    CMD_SASL,           /* a client line answering a 334                    */
    CMD_EOD,            /* the end of DATA content (gets the final reply)   */
    CMD_COUNT
};

/* One command sent and not yet answered. */
struct pending {
    uint8_t cmd;                /* enum cmd_id                              */
    uint8_t flags;              /* PE_*                                     */
    uint32_t count;             /* replies still expected (RCPT runs, LMTP) */
    uint32_t aux;               /* RCPT: index of the next recipient        */
    uint64_t chunk;             /* client dis_data call it came in (0: unknown) */
    double ts;                  /* packet time it was sent                  */
    struct smtp_msg *msg;       /* counted reference, or NULL               */
    uint32_t gapno;             /* client gaps counted when it was queued   */
};
#define PE_RESTRICTED 0x01u     /* must be last in a pipelined group        */
#define PE_HOLD       0x02u     /* client bytes are held until its reply    */
#define PE_BLIND      0x04u     /* its hold was resolved without the reply  */
#define PE_LAST       0x08u     /* BDAT ... LAST                            */
#define PE_BORROWED   0x10u     /* copy handed to a handler: msg not owned  */
#define PE_GUESS      0x20u     /* queued by a guess (end of data inferred
                                   after a client gap): never kept across a
                                   server gap                               */

/* ---- messages ---------------------------------------------------------------- */

struct smtp_msg {
    struct smtp_msg *prev, *next;   /* session's list of live messages     */
    unsigned refs;
    int content_cmd;            /* DATA or BDAT sent in cleartext           */
    enum mt_method method;
    double ts;                  /* time of the (first) content command      */
    char mail_from[MT_STR];     /* escaped address                          */
    uint8_t mail_from_seen;     /* set by MAIL FROM (else the sender is unknown) */
    uint32_t rcpt_count;        /* RCPT commands sent                       */
    uint32_t rcpt_ok;           /* RCPTs answered 2xx (LMTP replies)        */
    struct mt_recipient *rcpts; /* kept recipients (<= DIS_RCPT_KEEP_MAX)  */
    size_t n_rcpts, cap_rcpts;
    struct body *body;          /* content tracker, NULL before content     */
    int exposed;                /* content octets crossed in cleartext      */
    int content_end;            /* DATA terminator / end of BDAT LAST chunk */
    int gap;                    /* content cut by a gap / end / body loss   */
    int reply_code;             /* final reply, or the best one known       */
    int data_rejected;          /* DATA refused while the body was streamed */
    int lmtp;                   /* sent on an LHLO session                  */
    int emitted;
    int light;                  /* body and recipients released             */
    uint32_t seq;
};

/* ---- buffers ------------------------------------------------------------------- */

/* Per-direction line carry: the start of a line that did not end in the
 * segment it started in.  Allocated lazily, grown to DIS_LINE_MAX + 1. */
struct lbuf {
    uint8_t *buf;
    uint32_t len, cap;
    uint8_t trunc;              /* line longer than DIS_LINE_MAX: rest dropped */
    uint8_t discard;            /* skipping to the next LF                  */
    uint8_t after_gap;          /* next byte follows a gap: check for TLS first */
    uint8_t wipe;               /* the line held a secret: cleanse after use */
    uint8_t probe;              /* server: this line began right at the end
                                   of a gap; kept only if it is a reply line
                                   (smtp_srv_gap_line)                      */
};

/* Client bytes held while a mode-changing command waits for its reply. */
struct hold_item {
    uint32_t off, len;          /* bytes in buf (len 0: a gap item)         */
    uint64_t gap;               /* missing bytes (gap item)                 */
    uint64_t chunk;             /* dis_data call (0 when merged)            */
    double ts;
};
struct hold {
    uint8_t *buf;
    uint32_t len, cap;
    struct hold_item it[SMTP_HOLD_ITEMS];
    unsigned n;
    uint8_t trigger;            /* enum cmd_id of the command waited on     */
    uint64_t trig_chunk;
    double trig_ts;
};

/* TLS seen on one direction. */
struct tlsdir {
    int on;                     /* this direction is TLS now                */
    int kind;                   /* enum tls_peek of its first record        */
    int hs;                     /* handshake type of the first record, -1   */
    uint8_t head[6];            /* first bytes of the TLS stream            */
    uint8_t head_len;
    double ts;                  /* time TLS started on this direction       */
};

/* What the TLS handshake reader learnt, kept once the parser is gone
 * (smtp_tls.c).  The strings go straight into the session record. */
struct tls_sum {
    int taken;                  /* summary taken: the parser is not fed more */
    int ch_seen, sh_seen, hrr;  /* ClientHello / ServerHello / HelloRetry     */
    int sni;                    /* the ClientHello named a server             */
    uint16_t version;           /* negotiated (ServerHello)                   */
    uint8_t compression;
    int alert_seen, alert_from_client;  /* a cleartext alert                  */
    uint8_t alert_level, alert_desc;
    int complete, resumed, malformed;
    int verify;                 /* tls_verify_chain(): 1, 0, -1; -2 not run   */
    char why[96];               /* its reason when 0                          */
};

/* Why a TLS handshake counts as failed (smtp_tls_failure). */
enum hs_fail {
    HSF_NONE = 0,               /* not failed, or cannot tell                 */
    HSF_NO_SERVER_TLS,          /* the server never answered in TLS           */
    HSF_ALERT,                  /* a cleartext alert ended the handshake      */
    HSF_NO_SERVER_HELLO         /* server TLS records but no ServerHello      */
};

/* One AUTH attempt. */
struct auth_try {
    int active;
    enum sasl_mech mech;
    char mech_name[MT_STR_SHORT];   /* as sent, upper case, escaped        */
    char user[MT_STR];
    int msgs;                   /* client SASL messages sent (IR counts)    */
    int login_msgs;             /* LOGIN messages carrying data             */
    int ir;                     /* initial response on the AUTH line        */
    int cancelled;              /* client sent "*"                          */
    int secret;                 /* enum sasl_secret, the strongest seen     */
    int secret_via_ir;
    double ts, secret_ts;
    int exposed;                /* username or secret crossed in cleartext  */
};

/* Direction-sniffing log (client_side == -1): what arrived, in order. */
enum sniff_type { SN_DATA, SN_GAP, SN_EVENT };
struct sniff_item {
    uint8_t type, side, ev;
    uint32_t off, len;          /* SN_DATA: bytes in the side's buffer      */
    uint64_t gap;
    double ts;
    char detail[SMTP_DETAIL_MAX];
    int has_detail;
};
struct sniff {
    uint8_t *buf[2];
    uint32_t len[2];
    struct sniff_item *it;
    unsigned n, cap;
    int tls_first[2];           /* first bytes of that side are a TLS hello */
};

/* ---- modes ------------------------------------------------------------------------ */

enum cli_mode {
    CM_CMD = 0,     /* command lines                                        */
    CM_SKIP,        /* resynchronising: lines ignored until a server reply  */
    CM_MIDSTART,    /* mid-stream start: the first line decides             */
    CM_MIDBODY,     /* mid-stream start inside DATA content (speculative)   */
    CM_HOLD,        /* bytes held until the reply to the hold trigger       */
    CM_BODY,        /* DATA content after 354                               */
    CM_BDAT,        /* BDAT chunk octets                                    */
    CM_INJECT,      /* bytes after STARTTLS, sent before its 220            */
    CM_TLSWAIT,     /* after the STARTTLS 220: must be TLS                  */
    CM_TLS          /* encrypted: counted only                              */
};

enum srv_mode { SM_REPLY = 0, SM_TLSWAIT, SM_TLS };

enum rep_kind { RK_PENDING = 0, RK_GREETING, RK_DROPPED, RK_UNSOLICITED };

/* ---- the session ------------------------------------------------------------------ */

struct dis_session {
    struct dis_params par;
    struct dis_sink sink;
    void *arg;
    struct mt_session out;

    int client;                 /* capture side of the client, -1: sniffing */
    int ndpi;                   /* enum smtp_ndpi: DIS_EV_PROTOCOL verdict  */
    uint8_t first[2][16];       /* per capture side: its first bytes, for
                                   dis_wants_bytes()                        */
    uint8_t first_len[2];
    uint8_t first_gap[2];       /* that side lost bytes before its first one */
    int dir_guessed;            /* decided by port (no byte evidence)       */
    int ended;
    int is_smtp;
    struct sniff *sniff;
    uint64_t side_bytes[2];     /* payload per capture side                 */

    /* per role */
    struct lbuf lb[2];
    struct tlsdir tls[2];
    uint64_t off[2];            /* stream offset incl. gaps                 */
    uint64_t gapb[2];           /* bytes missing                             */
    uint64_t deliv[2];          /* bytes delivered (replay-consistent)      */
    struct {                    /* capture_gap of a direction that has not
                                   delivered a byte yet (raised on its first
                                   byte, dropped if none ever comes)        */
        int on;
        double ts;
        uint64_t len, off;
    } gapq[2];
    uint32_t cli_gaps;          /* client gaps so far (pending.gapno)       */
    int srv_recover;            /* server gap at a line boundary: the FIFO is
                                   kept until the first line after it decides
                                   (smtp.c, "server gaps")                  */
    int any_line[2];            /* a line (or other bytes) was processed    */
    uint64_t last_chunk;        /* chunk of the client bytes fed last       */
    enum cli_mode cmode;
    enum srv_mode smode;
    uint64_t chunk_seq;         /* client dis_data calls                    */

    /* pending commands */
    struct pending *q;
    unsigned qcap, qhead, qlen;
    uint32_t q_dropped;         /* replies owed to commands dropped on overflow */

    /* reply being read */
    struct {
        int active;
        int code;
        unsigned nlines;
        enum rep_kind kind;
        uint8_t cmd;            /* head command when it started              */
        int ehlo;               /* 2xx reply to EHLO/LHLO: keywords follow   */
        uint8_t first[MT_STR];  /* raw text of the first line (cut)          */
        size_t first_len;
        double ts;
    } rep;

    struct hold hold;
    int hold_on;

    /* transaction / messages */
    struct smtp_msg *txn;       /* current transaction (ref)                */
    struct smtp_msg *cmsg;      /* content being streamed (ref)             */
    struct smtp_msg *live_head, *live_tail;
    unsigned n_live;
    uint64_t bdat_left;
    int bdat_last;
    uint32_t msg_seq, body_findings;
    struct body *spec;          /* speculative content (mid-stream start)   */
    double spec_ts;
    int spec_done;

    /* AUTH */
    struct auth_try auth;
    int auth_best_exposed;
    int sasl_expect;            /* the next client line answers a 334       */
    int auth_used;              /* AUTH sent in cleartext                   */
    double auth_ts;
    int cred_pw_finding;        /* a password/token finding was raised      */

    /* observations */
    int midstream;
    int midstream_tls;          /* stream picked up inside TLS records      */
    int implicit_cli;           /* client's first bytes: a TLS hello        */
    int tls_unexplained;        /* TLS appeared without STARTTLS/220/implicit */
    int gap_seen;
    int greeting_seen;
    int greeting_code;
    double greeting_ts;
    int srv_synced;             /* a valid reply line was parsed            */
    uint32_t n_replies;         /* complete replies                          */
    unsigned kw_lines;          /* keyword lines of the EHLO reply read     */
    int xclient_greeting;       /* XCLIENT answered 220 (new greeting)      */
    char masked_verb[32];       /* escaped verb of a masked command         */
    int token_masked;           /* starttls_token_masked raised             */
    int dialogue;               /* a reply answered an SMTP-only command    */
    struct {                    /* smtp_smuggling_eod_ambiguity, raised once
                                   at the end for the whole session         */
        int seen, high;
        double ts;
        char ev[160];           /* evidence of the message chosen           */
    } smug;
    int cli_cmds;               /* commands parsed                          */
    int helo_sent, helo_ok;
    double helo_ts;
    int ehlo_rejected, ehlo_ok;
    double ehlo_ts;
    int lmtp;
    int starttls_220;
    int starttls_refused;
    double refused_ts;
    int refused_code;
    char refused_text[64];
    uint32_t refused_snap;      /* content+credential exposures at refusal  */
    uint32_t n_exposures;       /* content/credential exposure events       */
    int unanswered_tls;         /* STARTTLS unanswered, TLS-like bytes after */
    int post220;                /* cleartext client bytes after the 220     */
    int post220_crit;
    double post220_ts;
    char post220_verb[24];
    int inj_seen, inj_strong;   /* injection after STARTTLS before its 220  */
    double inj_ts;
    char inj_text[96];
    uint64_t inj_chunk;         /* chunk of the STARTTLS line               */
    uint32_t n_mail, n_rcpt, n_vrfy;
    double env_ts, content_ts, cred_ts;
    int carried_on;
    double carried_ts;
    int quit_sent;
    int server_closing;         /* 421 seen                                  */
    int cli_clear_cmd;          /* a command parsed in cleartext            */
    double first_clear_ts;
    uint64_t pl_chunk;          /* chunk of an unanswered restricted command */
    uint8_t pl_cmd;

    /* TLS handshake (smtp_tls.c) */
    tls_parser_t *tlsp;         /* created at the first TLS byte, freed once
                                   the summary is taken                     */
    struct tls_sum tsum;
    struct tls_cert_info *chain;    /* copy of the server chain, leaf first */
    int chain_len;
    int tls_gap[2];             /* per role: bytes missing in its TLS stream */
    uint64_t tls_fed;           /* bytes handed to the reader               */
    double ch_ts, sh_ts, cert_ts, alert_ts;  /* packet time each was read  */

    /* findings */
    uint64_t once[2];
    unsigned n_findings;
};

/* ---- smtp.c ------------------------------------------------------------------- */

/* Every change of a direction's mode goes through these (traced to stderr
 * when built with -DSMTP_TRACE). */
void smtp_cli_mode(struct dis_session *s, enum cli_mode m);
void smtp_srv_mode(struct dis_session *s, enum srv_mode m);

int smtp_finding(struct dis_session *s, enum fk k, enum mt_severity sev,
                 double ts, uint32_t msg_seq, int role, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
void smtp_esc(char *dst, size_t dstsz, const uint8_t *p, size_t n);
void smtp_excerpt(char *dst, size_t dstsz, const uint8_t *p, size_t n);
uint16_t smtp_server_port(const struct dis_session *s);
int smtp_is_submission(const struct dis_session *s);
void smtp_client_gap_effect(struct dis_session *s, uint64_t len, double ts);
void smtp_resync(struct dis_session *s, int discard_client_line);
int smtp_srv_gap_line(struct dis_session *s, struct span line, int trunc,
                      double ts);
void smtp_srv_fallback(struct dis_session *s, double ts);

/* ---- smtp_line.c ---------------------------------------------------------------- */

void smtp_client_feed(struct dis_session *s, const uint8_t *p, size_t len,
                      double ts, uint64_t chunk);
void smtp_server_feed(struct dis_session *s, const uint8_t *p, size_t len,
                      double ts);
void smtp_lbuf_reset(struct lbuf *lb, int discard);
void smtp_lbuf_free(struct lbuf *lb);
void smtp_tls_begin(struct dis_session *s, int role, enum tls_peek kind, double ts);
int smtp_srv_cut_line(struct dis_session *s, double ts);
int smtp_tls_candidate(uint8_t c);
void smtp_hold_start(struct dis_session *s, enum cmd_id trig, uint64_t chunk,
                     double ts);
void smtp_hold_gap(struct dis_session *s, uint64_t len, double ts);
void smtp_hold_release(struct dis_session *s, enum cli_mode mode);
void smtp_hold_free(struct hold *h);
enum tls_peek smtp_hold_peek(const struct dis_session *s);
int smtp_hold_first_line(const struct dis_session *s, struct span *line);

/* ---- smtp_cmd.c ----------------------------------------------------------------- */

void smtp_cli_line(struct dis_session *s, struct span line, struct span raw,
                   double ts, uint64_t chunk);
int smtp_looks_like_command(struct span line);
int smtp_fifo_push(struct dis_session *s, const struct pending *e);
int smtp_fifo_peek(const struct dis_session *s, struct pending *e);
int smtp_fifo_take(struct dis_session *s, struct pending *e);
void smtp_pending_drop(struct dis_session *s, struct pending *e);
void smtp_fifo_clear(struct dis_session *s);
void smtp_fifo_free(struct dis_session *s);
struct pending *smtp_fifo_tail(struct dis_session *s);
void smtp_inject_flush(struct dis_session *s);
void smtp_after_inject(struct dis_session *s, double ts, int got_220);
void smtp_hold_blind(struct dis_session *s, int at_end);
const char *smtp_cmd_name(enum cmd_id id);
int smtp_verb_known(struct span verb);

/* ---- smtp_reply.c --------------------------------------------------------------- */

void smtp_srv_line(struct dis_session *s, struct span line, double ts);
int smtp_reply_prefix(const uint8_t *p, size_t n);
void smtp_reply_reset(struct dis_session *s);

/* ---- smtp_msg.c ------------------------------------------------------------------ */

struct smtp_msg *smtp_msg_new(struct dis_session *s, double ts);
struct smtp_msg *smtp_msg_ref(struct smtp_msg *m);
void smtp_msg_unref(struct dis_session *s, struct smtp_msg *m);
void smtp_msg_emit(struct dis_session *s, struct smtp_msg *m, double ts);
void smtp_smuggling_finding(struct dis_session *s);
void smtp_msg_free_all(struct dis_session *s);
void smtp_txn_end(struct dis_session *s, struct pending *e);
void smtp_msg_add_rcpt(struct dis_session *s, struct smtp_msg *m,
                       struct span addr);
int smtp_content_start(struct dis_session *s, struct smtp_msg *m,
                       enum mt_method method, double ts);
void smtp_content_octets(struct dis_session *s, struct smtp_msg *m, double ts);
size_t smtp_body_data(struct dis_session *s, const uint8_t *p, size_t len,
                      double ts);
size_t smtp_bdat_data(struct dis_session *s, const uint8_t *p, size_t len,
                      double ts);
void smtp_bdat_chunk_done(struct dis_session *s, double ts);
void smtp_body_cut(struct dis_session *s, double ts);
void smtp_spec_feed(struct dis_session *s, const uint8_t *p, size_t len,
                    double ts, size_t *used);
void smtp_spec_resolve(struct dis_session *s, int code, double ts);
void smtp_spec_abort(struct dis_session *s);

/* ---- smtp_tls.c ------------------------------------------------------------------ */

void smtp_tls_feed(struct dis_session *s, int role, const uint8_t *p, size_t len,
                   double ts);
void smtp_tls_gap(struct dis_session *s, int role, uint64_t len);
void smtp_tls_finish(struct dis_session *s);
enum hs_fail smtp_tls_failure(const struct dis_session *s);
void smtp_tls_failure_finding(struct dis_session *s, double ts);
void smtp_tls_findings(struct dis_session *s);
void smtp_tls_free(struct dis_session *s);
int smtp_cert_name_match(const char *sans, const char *subject, const char *ref);

/* ---- smtp_auth.c ----------------------------------------------------------------- */

void smtp_auth_command(struct dis_session *s, struct span arg, double ts,
                       struct pending *e);
void smtp_auth_sasl_line(struct dis_session *s, struct span line, double ts,
                         uint64_t chunk);
void smtp_auth_reply(struct dis_session *s, const struct pending *e, int code,
                     double ts);
void smtp_auth_finish(struct dis_session *s, int code, double ts);
int smtp_auth_expects_more(const struct dis_session *s);

#endif
