/*
 * test_dissect_smtp.c — the SMTP dissector at the dissector level.
 *
 * Each scenario is a script of steps (side, bytes) in capture order.  It
 * is fed three ways — as scripted, with one step cut in two at every
 * split point, and one byte per call — and the emitted records must be the
 * same (findings whose meaning is "in the same segment" are compared
 * without that part: pipelining_order_violation is left out and
 * starttls_command_injection is compared by kind only).  Every piece
 * handed to dis_data is an exact-size heap copy, so ASan sees any read
 * past it.  Then the scripted run is checked against what the scenario
 * must yield.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "dissect/dissect.h"
#include "tests/unit/fix_dissect.h"

/* ---- script ------------------------------------------------------------------ */

#define C(str)      { ST_DATA, CLI, str, sizeof(str) - 1, 0, 0, NULL }
#define S(str)      { ST_DATA, SRV, str, sizeof(str) - 1, 0, 0, NULL }
#define CBUF(b, n)  { ST_DATA, CLI, b, n, 0, 0, NULL }
#define SBUF(b, n)  { ST_DATA, SRV, b, n, 0, 0, NULL }
#define GAP(r, n)   { ST_GAP, r, NULL, 0, n, 0, NULL }
#define EV(r, e, d) { ST_EVENT, r, NULL, 0, 0, e, d }
#define END         { ST_END, 0, NULL, 0, 0, 0, NULL }

struct scen {
    const struct step *steps;
    uint16_t cport, sport;
    int cli_side;               /* capture side of the client               */
    int sniff;                  /* 1: client_side = -1                      */
    enum mt_end_reason end;
    int no_split;               /* skip the split/byte runs (huge inputs)   */
};

/* TLS records (minimal but well-formed headers). */
#define CHELLO "\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"
#define SHELLO "\x16\x03\x03\x00\x05\x02\x00\x00\x01\x00"
#define ALERT  "\x15\x03\x03\x00\x02\x02\x28"
#define APPD   "\x17\x03\x03\x00\x03" "abc"

/* Dialogue pieces that many scripts share. */
#define HELLO       S("220 mx ESMTP\r\n"), C("EHLO c\r\n"), S("250 mx\r\n")
#define HELLO_TLS   S("220 mx ESMTP\r\n"), C("EHLO c\r\n"), S("250-mx\r\n250 STARTTLS\r\n")
#define MAIL_OK     C("MAIL FROM:<a@x>\r\n"), S("250 ok\r\n")
#define RCPT_OK     C("RCPT TO:<b@y>\r\n"), S("250 ok\r\n")
#define DATA_GO     C("DATA\r\n"), S("354 go\r\n")
#define QUIT_BYE    C("QUIT\r\n"), S("221 bye\r\n")

/* ---- recorder ---------------------------------------------------------------- */

static void on_message(void *arg, const struct mt_message *m)
{
    struct rec *r = arg;

    rec_message(r, m);
    dump_add(r, "M %u %s from=[%s] rc=%u size=%llu sha=%s subj=[%s] mid=[%s] "
             "fh=[%s] date=[%s] ts=%.3f reply=%d exp=%d complete=%d n=%zu\n",
             m->seq, mt_method_name(m->method), m->mail_from, m->rcpt_count,
             (unsigned long long)m->size, m->body_sha256, m->subject,
             m->message_id, m->from_hdr, m->date_hdr, m->ts, m->reply_code,
             m->content_exposed, m->complete, m->n_rcpts);
    for (size_t i = 0; i < m->n_rcpts; i++)
        dump_add(r, "  R [%s] [%s] %d\n", m->rcpts[i].address, m->rcpts[i].domain,
                 m->rcpts[i].reply_code);
}

static void on_finding(void *arg, const struct mt_finding *f)
{
    struct rec *r = arg;

    rec_finding(r, f);
    if (strcmp(f->kind, "pipelining_order_violation") == 0)
        return;
    if (strcmp(f->kind, "starttls_command_injection") == 0) {
        dump_add(r, "F %s\n", f->kind);
        return;
    }
    dump_add(r, "F %s %s ts=%.3f msg=%u [%s]\n", f->kind,
             mt_severity_name(f->severity), f->ts, f->msg_seq, f->evidence);
}

static void on_session(void *arg, const struct mt_session *s)
{
    struct rec *r = arg;

    rec_session(r, s);
    dump_add(r, "S cs=%d start=%.3f end=%.3f er=%s prot=%s off=%d req=%d rep=%d "
             "banner=[%s] helo=[%s] verb=[%s] kw=[%s] mech=[%s] user=[%s] out=[%s] "
             "env=%d cont=%d cred=%d ctm=%u cb=%llu sb=%llu gb=%llu syn=%d os=%d "
             "tls=%d conf=%s\n",
             s->client_side, s->start_ts, s->end_ts, mt_end_reason_name(s->end_reason),
             mt_protection_name(s->protection), s->starttls_offered,
             s->starttls_requested, s->starttls_reply, s->banner, s->helo,
             s->helo_verb, s->ehlo_keywords, s->auth_mechanism, s->auth_user,
             s->auth_outcome, s->exposed_envelope, s->exposed_content,
             s->exposed_credentials, s->cleartext_messages,
             (unsigned long long)s->client_bytes, (unsigned long long)s->server_bytes,
             (unsigned long long)s->gap_bytes, s->syn_seen, s->one_sided,
             s->tls_started, s->confidence);
}

/* ---- runner -------------------------------------------------------------------- */

static double step_ts(size_t i)
{
    return 1000.0 + (double)i;
}

static const struct dis_sink SINK = { on_message, on_finding, on_session };

/* The shared runner's view of sc: the steps up to END, step i at
 * step_ts(i). */
static struct script script_of(const struct scen *sc)
{
    struct script x;

    memset(&x, 0, sizeof x);
    x.st = sc->steps;
    while (sc->steps[x.n].kind != ST_END)
        x.n++;
    x.cport = sc->cport;
    x.sport = sc->sport;
    x.cli_side = sc->cli_side;
    x.no_syn = sc->sniff;
    x.ts0 = step_ts(0);
    x.end = sc->end;
    x.sink = &SINK;
    x.long_step = 600;
    x.no_split = sc->no_split;
    return x;
}

/*
 * One run: mode 0 as scripted, 1 step `which` cut at `at`, 2 one byte per
 * call.  Fills r.
 */
static void run(const struct scen *sc, int mode, size_t which, size_t at,
                struct rec *r)
{
    struct script x = script_of(sc);

    script_run(&x, mode, which, at, r);
}

/* Runs sc three ways; returns the scripted run in out (caller frees). */
static void run_all(const struct scen *sc, struct rec *out)
{
    struct script x = script_of(sc);

    script_run_all(&x, out);
}

/* ---- assertions ------------------------------------------------------------------ */

/* The secret must not be in anything emitted. */
static void no_secret(const struct rec *r, const char *secret)
{
    assert_false(contains(r->dump, secret));
    for (size_t i = 0; i < r->nf; i++)
        assert_false(contains(r->f[i].evidence, secret));
}

/* ---- scenarios ------------------------------------------------------------------- */

static void test_basic_cleartext(void **state)
{
    static const struct step st[] = {
        S("220 mx.example.org ESMTP ready\r\n"),
        C("EHLO client.example\r\n"),
        S("250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n"),
        C("MAIL FROM:<Alice@Example.ORG> SIZE=120\r\n"),
        S("250 2.1.0 Ok\r\n"),
        C("RCPT TO:<bob@Dest.Example>\r\n"),
        S("250 2.1.5 Ok\r\n"),
        C("DATA\r\n"),
        S("354 End data with <CR><LF>.<CR><LF>\r\n"),
        C("Subject: hello\r\nMessage-ID: <1@x>\r\nFrom: a@x\r\n\r\nbody line\r\n.\r\n"),
        S("250 2.0.0 Ok: queued\r\n"),
        C("QUIT\r\n"),
        S("221 2.0.0 Bye\r\n"),
        END
    };
    static const struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    prot(&r, MT_PROT_CLEARTEXT);
    assert_string_equal(r.sess.banner, "mx.example.org ESMTP ready");
    assert_string_equal(r.sess.helo, "client.example");
    assert_string_equal(r.sess.helo_verb, "EHLO");
    assert_string_equal(r.sess.ehlo_keywords, "PIPELINING SIZE 8BITMIME");
    assert_int_equal(r.sess.starttls_offered, 0);
    assert_int_equal(r.sess.exposed_envelope, 1);
    assert_int_equal(r.sess.exposed_content, 1);
    assert_int_equal(r.sess.exposed_credentials, 0);
    assert_int_equal(r.sess.cleartext_messages, 1);
    assert_string_equal(r.sess.confidence, "high");
    assert_int_equal(r.sess.client_side, 0);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.seq, 1);
    assert_string_equal(r.msgs[0].m.mail_from, "Alice@Example.ORG");
    assert_int_equal(r.msgs[0].m.rcpt_count, 1);
    assert_int_equal(r.msgs[0].m.n_rcpts, 1);
    assert_string_equal(r.msgs[0].r[0].address, "bob@Dest.Example");
    assert_string_equal(r.msgs[0].r[0].domain, "dest.example");
    assert_int_equal(r.msgs[0].r[0].reply_code, 250);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_int_equal(r.msgs[0].m.content_exposed, 1);
    assert_int_equal(r.msgs[0].m.complete, 1);
    assert_int_equal(r.msgs[0].m.size, 59);
    assert_int_equal(strlen(r.msgs[0].m.body_sha256), 64);
    assert_string_equal(r.msgs[0].m.subject, "hello");
    assert_string_equal(r.msgs[0].m.message_id, "<1@x>");
    assert_true(r.msgs[0].m.ts == step_ts(7));
    has(&r, "plaintext_message_body", MT_SEV_HIGH);
    assert_int_equal(find(&r, "plaintext_message_body")->msg_seq, 1);
    assert_string_equal(find(&r, "plaintext_message_body")->evidence,
                        "DATA: 59 octets in cleartext, reply 250");
    has(&r, "plaintext_envelope_metadata", MT_SEV_MEDIUM);
    assert_string_equal(find(&r, "plaintext_envelope_metadata")->evidence,
                        "MAIL FROM and 1 RCPT before TLS");
    has(&r, "cleartext_no_starttls_offered", MT_SEV_HIGH);
    hasnt(&r, "cleartext_submission");
    hasnt(&r, "smtp_malformed_reply");
    hasnt(&r, "pipelining_order_violation");
    for (size_t i = 0; i < r.nf; i++) {         /* addresses: message rows only */
        assert_false(contains(r.f[i].evidence, "bob@"));
        assert_false(contains(r.f[i].evidence, "Alice@"));
    }
    rec_free(&r);
}

/* DETECTIONS §7 scenario 1: split and tricky EHLO replies. */
static void test_s1_split_ehlo(void **state)
{
    static const struct step a[] = {
        S("220 mx ESMTP\r\n"),
        C("EHLO c\r\n"),
        S("250-mx.example Hello\r\n250-PIPEL"),
        S("INING\r\n250-STAR"),
        S("TTLS\r\n250 SIZE 35882577\r\n"),
        QUIT_BYE, END
    };
    static const struct step b[] = {
        S("220 mx ESMTP\r\n"),
        C("EHLO c\r\n"),
        S("250-mx.example\r\n250-starttls\r\n250 size 10\r\n"),
        QUIT_BYE, END
    };
    static const struct step c[] = {
        S("220 mx ESMTP\r\n"),
        C("EHLO c\r\n"),
        S("250-STARTTLS\r\n250-mx.example\r\n250 PIPELINING\r\n"),
        MAIL_OK, QUIT_BYE, END
    };
    static const struct step d[] = {
        S("220-mx.example ESMTP STARTTLS supported\r\n220 welcome\r\n"),
        C("EHLO c\r\n"),
        S("250-mx.example\r\n250 PIPELINING\r\n"),
        QUIT_BYE, END
    };
    struct scen sc = { a, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(r.sess.starttls_offered, 1);
    assert_string_equal(r.sess.ehlo_keywords, "PIPELINING STARTTLS SIZE");
    has(&r, "starttls_offered_not_used", MT_SEV_MEDIUM);
    hasnt(&r, "cleartext_no_starttls_offered");
    rec_free(&r);

    sc.steps = b;
    run_all(&sc, &r);
    assert_int_equal(r.sess.starttls_offered, 1);
    assert_string_equal(r.sess.ehlo_keywords, "STARTTLS SIZE");
    rec_free(&r);

    sc.steps = c;                       /* STARTTLS on line 1 is the domain */
    run_all(&sc, &r);
    assert_int_equal(r.sess.starttls_offered, 0);
    assert_string_equal(r.sess.ehlo_keywords, "MX.EXAMPLE PIPELINING");
    has(&r, "cleartext_no_starttls_offered", MT_SEV_MEDIUM);
    hasnt(&r, "starttls_offered_not_used");
    rec_free(&r);

    sc.steps = d;                       /* greeting text is not a keyword */
    run_all(&sc, &r);
    assert_int_equal(r.sess.starttls_offered, 0);
    assert_string_equal(r.sess.banner, "mx.example ESMTP STARTTLS supported");
    has(&r, "cleartext_no_starttls_offered", MT_SEV_LOW);
    rec_free(&r);
}

/* Scenario 2: pipelined transaction with partial rejection. */
static void test_s2_pipelined_partial_rejection(void **state)
{
    static const struct step a[] = {
        S("220 mx ESMTP\r\n"),
        C("EHLO c\r\n"),
        S("250-mx\r\n250 PIPELINING\r\n"),
        C("MAIL FROM:<a@x> SIZE=1234\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@z>\r\nDATA\r\n"),
        S("250 2.1.0 Ok\r\n550 5.1.1 unknown\r\n250 2.1.5 Ok\r\n354 go ahead\r\n"),
        C("Subject: s2\r\n\r\nhi\r\n.\r\n"),
        S("250 queued\r\n"),
        QUIT_BYE, END
    };
    static const struct step b[] = {
        S("220 mx ESMTP\r\n"),
        C("EHLO c\r\n"),
        S("250-mx\r\n250 PIPELINING\r\n"),
        C("MAIL FROM:<a@x> SIZE=1234\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@z>\r\nDATA\r\n"),
        S("250 2.1.0 Ok\r\n550 5.1.1 unknown\r\n550 5.1.1 unknown\r\n"
          "554 5.5.1 No valid recipients\r\n"),
        QUIT_BYE, END
    };
    struct scen sc = { a, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.rcpt_count, 2);
    assert_int_equal(r.msgs[0].r[0].reply_code, 550);
    assert_int_equal(r.msgs[0].r[1].reply_code, 250);
    assert_string_equal(r.msgs[0].r[1].domain, "z");
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_int_equal(r.msgs[0].m.content_exposed, 1);
    assert_int_equal(r.sess.exposed_content, 1);
    assert_int_equal(r.sess.exposed_envelope, 1);
    has(&r, "plaintext_message_body", MT_SEV_HIGH);
    assert_string_equal(find(&r, "plaintext_envelope_metadata")->evidence,
                        "MAIL FROM and 2 RCPT before TLS");
    hasnt(&r, "smtp_malformed_reply");
    rec_free(&r);

    sc.steps = b;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.reply_code, 554);
    assert_int_equal(r.msgs[0].m.size, 0);
    assert_string_equal(r.msgs[0].m.body_sha256, "");
    assert_int_equal(r.msgs[0].m.content_exposed, 0);
    assert_int_equal(r.msgs[0].m.complete, 1);
    assert_int_equal(r.sess.exposed_content, 0);
    assert_int_equal(r.sess.exposed_envelope, 1);
    assert_int_equal(r.sess.cleartext_messages, 0);
    hasnt(&r, "plaintext_message_body");
    has(&r, "plaintext_envelope_metadata", MT_SEV_MEDIUM);
    has(&r, "cleartext_no_starttls_offered", MT_SEV_MEDIUM);
    rec_free(&r);
}

/* Scenario 3: BDAT with hostile binary content. */
static const char bdat_chunk[] =
    "STARTTLS\r\n" "\r\n.\r\n" "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"
    "\x00\x01\x02\xff\xfe\r\n.\n.\r" "XYZ\x80\x81";

static void test_s3_bdat_hostile(void **state)
{
    static const struct step a[] = {
        S("220 mx ESMTP\r\n"),
        C("EHLO c\r\n"),
        S("250-mx\r\n250-CHUNKING\r\n250 PIPELINING\r\n"),
        C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n"),
        S("250 ok\r\n250 ok\r\n"),
        C("BDAT 64\r\n" "STARTTLS\r\n\r\n.\r\n"),
        CBUF(bdat_chunk + 15, 33),
        CBUF(bdat_chunk + 48, 16),
        C("BDAT 0 LAST\r\n"),
        S("250 2.0.0 64 octets received\r\n"),
        S("250-2.0.0 ok\r\n250 2.0.0 queued as X\r\n"),
        QUIT_BYE, END
    };
    static const struct step b[] = {
        S("220 mx ESMTP\r\n"),
        C("EHLO c\r\n"),
        S("250-mx\r\n250 CHUNKING\r\n"),
        C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n"),
        S("250 ok\r\n250 ok\r\n"),
        C("BDAT 64\r\n" "STARTTLS\r\n\r\n.\r\n"),
        CBUF(bdat_chunk + 15, 33),
        CBUF(bdat_chunk + 48, 16),
        C("BDAT 0 LAST\r\n"),
        S("552 5.3.4 message too big\r\n"),
        S("503 5.5.1 no transaction\r\n"),
        QUIT_BYE, END
    };
    struct scen sc = { a, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    assert_int_equal(sizeof bdat_chunk - 1, 64);
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.method, MT_METHOD_BDAT);
    assert_int_equal(r.msgs[0].m.size, 64);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_int_equal(r.msgs[0].m.complete, 1);
    assert_int_equal(r.msgs[0].m.content_exposed, 1);
    assert_int_equal(strlen(r.msgs[0].m.body_sha256), 64);
    assert_int_equal(r.sess.starttls_requested, 0);
    assert_int_equal(r.sess.exposed_credentials, 0);
    assert_string_equal(r.sess.auth_mechanism, "");
    assert_true(r.msgs[0].m.ts == step_ts(5));
    has(&r, "plaintext_message_body", MT_SEV_HIGH);
    assert_string_equal(find(&r, "plaintext_message_body")->evidence,
                        "BDAT: 64 octets in cleartext, reply 250");
    hasnt(&r, "auth_plain_cleartext");
    hasnt(&r, "smtp_malformed_reply");
    rec_free(&r);

    sc.steps = b;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.content_exposed, 1);
    assert_int_equal(r.msgs[0].m.size, 64);
    assert_int_equal(r.msgs[0].m.reply_code, 503);
    assert_int_equal(r.sess.exposed_content, 1);
    has(&r, "plaintext_message_body", MT_SEV_HIGH);
    rec_free(&r);
}

/* Scenario 4: dot-stuffing, split end of data, smuggling. */
static void test_s4_dots_and_smuggling(void **state)
{
    static const struct step a[] = {
        S("220 mx ESMTP\r\n"),
        C("HELO c\r\n"),
        S("250 mx\r\n"),
        C("MAIL FROM:<>\r\n"),
        S("250 ok\r\n"),
        RCPT_OK, DATA_GO,
        C("Subject: dots\r\n\r\n..hidden\r\n"),
        C(".hidden\r\n"),
        C("text\r\n"),
        C("."),
        C("\r\n"),
        S("250 queued\r\n"),
        QUIT_BYE, END
    };
    static const struct step b[] = {
        HELLO, MAIL_OK, RCPT_OK, DATA_GO,
        C("Subject: x\r\n\r\nhello\n.\nMAIL FROM:<ceo@victim>\r\nRCPT TO:<v@w>\r\n"
          "DATA\r\nspoofed\r\n.\r\n"),
        S("250 queued\r\n"),
        QUIT_BYE, END
    };
    struct scen sc = { a, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_string_equal(r.msgs[0].m.mail_from, "");
    /* "Subject: dots\r\n\r\n.hidden\r\nhidden\r\ntext\r\n" */
    assert_int_equal(r.msgs[0].m.size, 15 + 2 + 9 + 8 + 6);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_int_equal(r.msgs[0].m.complete, 1);
    hasnt(&r, "smtp_smuggling_eod_ambiguity");
    has(&r, "cleartext_no_starttls_offered", MT_SEV_HIGH);
    rec_free(&r);

    sc.steps = b;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    has(&r, "smtp_smuggling_eod_ambiguity", MT_SEV_HIGH);
    /* session-level (SPEC §5): no message named */
    assert_int_equal(find(&r, "smtp_smuggling_eod_ambiguity")->msg_seq, 0);
    /* the parser did not desync: one transaction, QUIT answered 221 */
    assert_int_equal(r.msgs[0].m.rcpt_count, 1);
    assert_false(contains(r.dump, "ceo@victim"));
    hasnt(&r, "smtp_malformed_reply");
    rec_free(&r);
}

/* Scenario 5: mixed protection = partial. */
static void test_s5_mixed_protection(void **state)
{
    static const struct step a[] = {
        S("220 mx ESMTP\r\n"),
        C("EHLO c\r\n"),
        S("250-mx\r\n250-STARTTLS\r\n250 PIPELINING\r\n"),
        MAIL_OK, RCPT_OK, DATA_GO,
        C("hello\r\n.\r\n"), S("250 queued\r\n"),
        C("RSET\r\n"), S("250 ok\r\n"),
        C("STARTTLS\r\n"), S("220 2.0.0 Ready to start TLS\r\n"),
        C(CHELLO), S(SHELLO), C(APPD), S(APPD),
        END
    };
    static const struct step b[] = {
        S("220 mx ESMTP\r\n"),
        C("EHLO c\r\n"),
        S("250-mx\r\n250-STARTTLS\r\n250 PIPELINING\r\n"),
        MAIL_OK, RCPT_OK,
        C("DATA\r\n"), S("554 no\r\n"),
        C("RSET\r\n"), S("250 ok\r\n"),
        C("MAIL FROM:<a@x>\r\nRCPT TO:<c@y>\r\n"), S("250 ok\r\n250 ok\r\n"),
        C("STARTTLS\r\n"), S("220 go\r\n"),
        C(CHELLO), S(SHELLO), C(APPD), S(APPD),
        END
    };
    struct scen sc = { a, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    prot(&r, MT_PROT_PARTIAL);
    assert_int_equal(r.sess.tls_started, 1);
    assert_int_equal(r.sess.starttls_reply, 220);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.content_exposed, 1);
    assert_int_equal(r.sess.cleartext_messages, 1);
    has(&r, "plaintext_message_body", MT_SEV_HIGH);
    hasnt(&r, "tls_handshake_failed");
    hasnt(&r, "starttls_offered_not_used");
    rec_free(&r);

    sc.steps = b;
    run_all(&sc, &r);
    prot(&r, MT_PROT_PARTIAL);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.reply_code, 554);
    assert_int_equal(r.sess.exposed_content, 0);
    assert_int_equal(r.sess.exposed_envelope, 1);
    assert_string_equal(find(&r, "plaintext_envelope_metadata")->evidence,
                        "2 MAIL FROM and 2 RCPT before TLS");
    rec_free(&r);
}

/* Scenario 6: STARTTLS injection both ways, and the negative control. */
static void test_s6_starttls_injection(void **state)
{
    static const struct step a[] = {
        HELLO_TLS,
        C("STARTTLS\r\nRSET\r\n"),
        S("220 2.0.0 Ready\r\n"),
        C(CHELLO), S(SHELLO),
        END
    };
    static const struct step b[] = {
        HELLO_TLS,
        C("STARTTLS\r\n"),
        C("EHLO x\r\n"),
        S("220 2.0.0 Ready\r\n"),
        C(CHELLO), S(SHELLO),
        END
    };
    static const struct step c[] = {
        HELLO_TLS,
        C("STARTTLS\r\n"),
        S("220 2.0.0 Ready\r\n250-mx\r\n250 AUTH PLAIN\r\n"),
        C(CHELLO), S(SHELLO),
        END
    };
    static const struct step d[] = {
        HELLO_TLS,
        C("STARTTLS\r\n"),
        S("220 2.0.0 Ready\r\n"),
        CBUF(CHELLO, 4), CBUF(&CHELLO[4], 6), S(SHELLO), C(APPD),
        END
    };
    struct scen sc = { a, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    has(&r, "starttls_command_injection", MT_SEV_CRITICAL);
    assert_string_equal(find(&r, "starttls_command_injection")->evidence,
                        "STARTTLS followed in the same segment by: RSET");
    prot(&r, MT_PROT_STARTTLS);
    hasnt(&r, "non_tls_after_starttls_220");
    rec_free(&r);

    sc.steps = b;
    run_all(&sc, &r);
    has(&r, "starttls_command_injection", MT_SEV_HIGH);
    assert_true(contains(find(&r, "starttls_command_injection")->evidence, "EHLO x"));
    hasnt(&r, "non_tls_after_starttls_220");
    rec_free(&r);

    sc.steps = c;
    run_all(&sc, &r);
    has(&r, "starttls_response_injection", MT_SEV_CRITICAL);
    assert_true(contains(find(&r, "starttls_response_injection")->evidence, "250-mx"));
    hasnt(&r, "starttls_command_injection");
    hasnt(&r, "plaintext_auth_offered");
    prot(&r, MT_PROT_STARTTLS);
    rec_free(&r);

    sc.steps = d;
    run_all(&sc, &r);
    hasnt(&r, "starttls_command_injection");
    hasnt(&r, "starttls_response_injection");
    hasnt(&r, "non_tls_after_starttls_220");
    hasnt(&r, "tls_handshake_failed");
    hasnt(&r, "smtp_malformed_reply");
    prot(&r, MT_PROT_STARTTLS);
    assert_int_equal(r.sess.tls_started, 1);
    assert_int_equal(r.sess.starttls_offered, 1);
    assert_int_equal(r.sess.starttls_requested, 1);
    assert_int_equal(r.sess.starttls_reply, 220);
    assert_int_equal(r.nf, 0);
    rec_free(&r);
}

/* Scenario 7: middlebox stripping (outside and inside tap). */
static void test_s7_middlebox(void **state)
{
    static const struct step outside[] = {
        S("220 ****0***2***\r\n"),
        C("EHLO c\r\n"),
        S("250-mx\r\n250-XXXXXXXA\r\n250 PIPELINING\r\n"),
        MAIL_OK, RCPT_OK, DATA_GO,
        C("x\r\n.\r\n"), S("250 ok\r\n"),
        END
    };
    static const struct step inside[] = {
        S("220 mx ESMTP\r\n"),
        C("EHLO c\r\n"),
        S("250-mx\r\n250-STARTTLS\r\n250 PIPELINING\r\n"),
        C("XXXXXXXX\r\n"),
        S("500 5.5.1 Command unrecognized: \"XXXXXXXX\"\r\n"),
        MAIL_OK, RCPT_OK, DATA_GO,
        C("x\r\n.\r\n"), S("250 ok\r\n"),
        END
    };
    struct scen sc = { outside, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    has(&r, "starttls_token_masked", MT_SEV_CRITICAL);
    has(&r, "smtp_banner_masked", MT_SEV_LOW);
    /* the masked keyword is the accurate finding, not its A-group trap */
    hasnt(&r, "cleartext_no_starttls_offered");
    hasnt(&r, "starttls_offered_not_used");
    has(&r, "plaintext_message_body", MT_SEV_HIGH);
    hasnt(&r, "ehlo_keywords_masked");
    assert_string_equal(r.sess.ehlo_keywords, "XXXXXXXA PIPELINING");
    rec_free(&r);

    sc.steps = inside;
    run_all(&sc, &r);
    has(&r, "starttls_token_masked", MT_SEV_CRITICAL);
    assert_true(contains(find(&r, "starttls_token_masked")->evidence, "XXXXXXXX"));
    hasnt(&r, "starttls_offered_not_used");
    hasnt(&r, "cleartext_no_starttls_offered");
    has(&r, "plaintext_message_body", MT_SEV_HIGH);
    assert_int_equal(r.sess.starttls_requested, 0);
    rec_free(&r);
}

/* ---- scenario 8: the AUTH matrix --------------------------------------------------- */

/* "\0alice\0secret" */
#define PLAIN_B64   "AGFsaWNlAHNlY3JldA=="
#define USER_B64    "YWxpY2U="              /* alice  */
#define PASS_B64    "c2VjcmV0"              /* secret */

static void auth_run(const struct step *st, uint16_t sport, struct rec *r)
{
    struct scen sc = { st, 40000, sport, 0, 0, MT_END_FIN, 0 };

    run_all(&sc, r);
    no_secret(r, "secret");
    no_secret(r, PASS_B64);
    no_secret(r, PLAIN_B64);
}

#define GREET S("220 mx ESMTP\r\n"), C("EHLO c\r\n"), \
              S("250-mx\r\n250 AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2\r\n")

static void test_s8_auth_plain_ir(void **state)
{
    static const struct step st[] = {
        GREET, C("AUTH PLAIN " PLAIN_B64 "\r\n"), S("235 2.7.0 ok\r\n"),
        QUIT_BYE, END
    };
    struct rec r;

    (void)state;
    auth_run(st, 587, &r);
    has(&r, "auth_plain_cleartext", MT_SEV_CRITICAL);
    assert_string_equal(find(&r, "auth_plain_cleartext")->evidence,
                        "AUTH PLAIN with initial response in cleartext, reply 235");
    assert_string_equal(r.sess.auth_mechanism, "PLAIN");
    assert_string_equal(r.sess.auth_user, "alice");
    assert_string_equal(r.sess.auth_outcome, "success");
    assert_int_equal(r.sess.exposed_credentials, 1);
    has(&r, "cleartext_submission", MT_SEV_CRITICAL);
    has(&r, "plaintext_auth_offered", MT_SEV_MEDIUM);
    has(&r, "cleartext_no_starttls_offered", MT_SEV_HIGH);
    hasnt(&r, "pipelining_order_violation");
    assert_false(contains(r.dump, "alice\n"));
    for (size_t i = 0; i < r.nf; i++)
        assert_false(contains(r.f[i].evidence, "alice"));
    rec_free(&r);
}

static void test_s8_auth_plain_334(void **state)
{
    static const struct step st[] = {
        GREET, C("AUTH PLAIN\r\n"), S("334 \r\n"), C(PLAIN_B64 "\r\n"),
        S("235 ok\r\n"), END
    };
    struct rec r;

    (void)state;
    auth_run(st, 587, &r);
    has(&r, "auth_plain_cleartext", MT_SEV_CRITICAL);
    assert_string_equal(find(&r, "auth_plain_cleartext")->evidence,
                        "AUTH PLAIN response to 334 in cleartext, reply 235");
    assert_string_equal(r.sess.auth_user, "alice");
    assert_string_equal(r.sess.auth_outcome, "success");
    rec_free(&r);
}

static void test_s8_auth_login(void **state)
{
    static const struct step two[] = {
        GREET, C("AUTH LOGIN\r\n"), S("334 VXNlcm5hbWU6\r\n"), C(USER_B64 "\r\n"),
        S("334 UGFzc3dvcmQ6\r\n"), C(PASS_B64 "\r\n"), S("535 5.7.8 failed\r\n"),
        QUIT_BYE, END
    };
    static const struct step ir[] = {
        GREET, C("AUTH LOGIN " USER_B64 "\r\n"), S("334 UGFzc3dvcmQ6\r\n"),
        C(PASS_B64 "\r\n"), S("235 ok\r\n"), END
    };
    struct rec r;

    (void)state;
    auth_run(two, 587, &r);
    has(&r, "auth_login_cleartext", MT_SEV_CRITICAL);
    assert_string_equal(find(&r, "auth_login_cleartext")->evidence,
                        "AUTH LOGIN password step in cleartext, reply 535");
    assert_string_equal(r.sess.auth_mechanism, "LOGIN");
    assert_string_equal(r.sess.auth_user, "alice");
    assert_string_equal(r.sess.auth_outcome, "failure");
    assert_int_equal(r.sess.exposed_credentials, 1);
    rec_free(&r);

    auth_run(ir, 587, &r);
    has(&r, "auth_login_cleartext", MT_SEV_CRITICAL);
    assert_string_equal(r.sess.auth_user, "alice");
    assert_string_equal(r.sess.auth_outcome, "success");
    rec_free(&r);
}

static void test_s8_auth_cram_xoauth(void **state)
{
    /* "alice 0123456789abcdef0123456789abcdef" */
    static const struct step cram[] = {
        GREET, C("AUTH CRAM-MD5\r\n"),
        S("334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+\r\n"),
        C("YWxpY2UgMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\r\n"),
        S("235 ok\r\n"), END
    };
    /* "user=alice\x01auth=Bearer tok3n\x01\x01" */
    static const struct step xo[] = {
        GREET, C("AUTH XOAUTH2 dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2szbgEB\r\n"),
        S("235 ok\r\n"), END
    };
    struct rec r;

    (void)state;
    auth_run(cram, 587, &r);
    has(&r, "auth_challenge_response_cleartext", MT_SEV_HIGH);
    assert_string_equal(r.sess.auth_user, "alice");
    assert_string_equal(r.sess.auth_mechanism, "CRAM-MD5");
    no_secret(&r, "0123456789abcdef");
    has(&r, "cleartext_submission", MT_SEV_HIGH);
    rec_free(&r);

    auth_run(xo, 587, &r);
    has(&r, "auth_bearer_token_cleartext", MT_SEV_CRITICAL);
    assert_string_equal(r.sess.auth_user, "alice");
    no_secret(&r, "tok3n");
    rec_free(&r);
}

static void test_s8_auth_538_cancel_external(void **state)
{
    static const struct step enc[] = {
        GREET, C("AUTH PLAIN " PLAIN_B64 "\r\n"),
        S("538 5.7.11 Encryption required\r\n"), END
    };
    static const struct step cancel[] = {
        GREET, C("AUTH PLAIN\r\n"), S("334 \r\n"), C("*\r\n"),
        S("501 5.0.0 cancelled\r\n"), QUIT_BYE, END
    };
    static const struct step ext[] = {
        GREET, C("AUTH EXTERNAL =\r\n"), S("235 ok\r\n"), END
    };
    struct rec r;

    (void)state;
    auth_run(enc, 587, &r);
    has(&r, "auth_plain_cleartext", MT_SEV_CRITICAL);
    assert_true(contains(find(&r, "auth_plain_cleartext")->evidence, "reply 538"));
    /* record.h gives auth_outcome 16 bytes: "encryption_required" (19)
     * does not fit and is cut (reported as an interface issue). */
    assert_int_equal(strncmp(r.sess.auth_outcome, "encryption_required",
                             sizeof r.sess.auth_outcome - 1), 0);
    assert_int_equal(r.sess.exposed_credentials, 1);
    rec_free(&r);

    auth_run(cancel, 587, &r);
    hasnt(&r, "auth_plain_cleartext");
    assert_int_equal(r.sess.exposed_credentials, 0);
    assert_string_equal(r.sess.auth_outcome, "cancelled");
    assert_string_equal(r.sess.auth_mechanism, "PLAIN");
    has(&r, "cleartext_submission", MT_SEV_HIGH);
    rec_free(&r);

    auth_run(ext, 25, &r);
    hasnt(&r, "auth_plain_cleartext");
    hasnt(&r, "auth_challenge_response_cleartext");
    assert_int_equal(r.sess.exposed_credentials, 0);
    assert_string_equal(r.sess.auth_outcome, "success");
    assert_string_equal(r.sess.auth_mechanism, "EXTERNAL");
    rec_free(&r);
}

/* The same PLAIN exchange inside implicit TLS on 465: nothing visible. */
static void test_s8_auth_on_465(void **state)
{
    static const struct step st[] = {
        C(CHELLO), S(SHELLO), C(APPD), S(APPD), C(APPD), END
    };
    struct scen sc = { st, 40000, 465, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    prot(&r, MT_PROT_IMPLICIT_TLS);
    has(&r, "implicit_tls_465", MT_SEV_INFO);
    hasnt(&r, "auth_plain_cleartext");
    assert_int_equal(r.sess.exposed_credentials, 0);
    assert_int_equal(r.sess.tls_started, 1);
    assert_int_equal(r.nf, 1);
    rec_free(&r);
}

/* ---- scenario 9 (dissector part): capture events ---------------------------------- */

static void test_s9_overlap_events(void **state)
{
    static const struct step st[] = {
        S("220 mx ESMTP\r\n"),
        EV(CLI, DIS_EV_OVERLAP_CONFLICT, "retransmission at seq 1234 differs"),
        C("EHLO c\r\n"),
        EV(CLI, DIS_EV_OVERLAP_CONFLICT, "again"),
        S("250 mx\r\n"),
        EV(SRV, DIS_EV_OVERLAP_CONFLICT, NULL),
        QUIT_BYE, END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(count(&r, "tcp_overlap_conflict"), 2);
    has(&r, "tcp_overlap_conflict", MT_SEV_MEDIUM);
    assert_string_equal(find(&r, "tcp_overlap_conflict")->evidence,
                        "retransmission at seq 1234 differs");
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);
}

/* ---- scenario 10: incomplete captures --------------------------------------------- */

static void test_s10a_midstream_in_body(void **state)
{
    static const struct step st[] = {
        EV(CLI, DIS_EV_MIDSTREAM, NULL),
        C("more of the body text\r\nand a line\r\n.\r\n"),
        S("250 2.0.0 Ok: queued as ABC\r\n"),
        QUIT_BYE, END
    };
    struct scen sc = { st, 40000, 25, 0, 1, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_string_equal(r.sess.confidence, "low");
    assert_int_equal(r.sess.client_side, 0);
    has(&r, "midstream_start", MT_SEV_INFO);
    assert_int_equal(r.sess.exposed_content, 1);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.complete, 0);
    assert_int_equal(r.msgs[0].m.content_exposed, 1);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_int_equal(r.msgs[0].m.size, 35);
    assert_string_equal(r.msgs[0].m.body_sha256, "");
    prot(&r, MT_PROT_CLEARTEXT);
    hasnt(&r, "smtp_malformed_reply");
    rec_free(&r);
}

static void test_s10b_midstream_in_tls(void **state)
{
    static const struct step st[] = {
        EV(CLI, DIS_EV_MIDSTREAM, NULL),
        C(APPD), S(APPD), C(APPD),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct scen sn = { st, 40000, 25, 1, 1, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    prot(&r, MT_PROT_INDETERMINATE);
    assert_string_equal(r.sess.confidence, "low");
    assert_int_equal(r.sess.exposed_envelope + r.sess.exposed_content, 0);
    rec_free(&r);

    run_all(&sn, &r);                   /* direction by port: 25 = server */
    prot(&r, MT_PROT_INDETERMINATE);
    assert_int_equal(r.sess.client_side, 1);
    rec_free(&r);
}

static void test_s10c_client_only(void **state)
{
    static const struct step st[] = {
        C("EHLO laptop\r\n"),
        C("AUTH LOGIN\r\n"),
        C(USER_B64 "\r\n"),
        C(PASS_B64 "\r\n"),
        C("MAIL FROM:<a@x>\r\n"),
        C("RCPT TO:<b@y>\r\n"),
        C("DATA\r\n"),
        C("Subject: q\r\n\r\nbody\r\n.\r\n"),
        C("QUIT\r\n"),
        END
    };
    struct scen sc = { st, 40000, 587, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    no_secret(&r, "secret");
    prot(&r, MT_PROT_CLEARTEXT);
    assert_int_equal(r.sess.one_sided, 1);
    assert_string_equal(r.sess.confidence, "low");
    assert_int_equal(r.sess.exposed_credentials, 1);
    assert_int_equal(r.sess.exposed_content, 1);
    assert_string_equal(r.sess.auth_outcome, "unknown");
    assert_string_equal(r.sess.auth_user, "alice");
    has(&r, "auth_login_cleartext", MT_SEV_CRITICAL);
    assert_true(contains(find(&r, "auth_login_cleartext")->evidence, "no reply seen"));
    has(&r, "one_sided_capture", MT_SEV_INFO);
    hasnt(&r, "cleartext_no_starttls_offered");
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.reply_code, 0);
    assert_int_equal(r.msgs[0].m.content_exposed, 1);
    assert_int_equal(r.msgs[0].m.size, 20);
    assert_int_equal(r.msgs[0].m.complete, 1);
    rec_free(&r);
}

static void test_s10d_gap_over_starttls(void **state)
{
    static const struct step st[] = {
        HELLO_TLS,
        GAP(CLI, 10),
        GAP(SRV, 20),
        C(CHELLO), S(SHELLO), C(APPD), S(APPD),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    prot(&r, MT_PROT_INDETERMINATE);
    assert_int_equal(count(&r, "capture_gap"), 2);
    assert_string_equal(find(&r, "capture_gap")->evidence,
                        "10 bytes missing from client->server at offset 8");
    assert_int_equal(r.sess.gap_bytes, 30);
    assert_string_equal(r.sess.confidence, "low");
    rec_free(&r);
}

static void test_s10e_truncated(void **state)
{
    static const struct step st[] = {
        HELLO, MAIL_OK, RCPT_OK, DATA_GO,
        C("Subject: t\r\n\r\nfirst part"),
        EV(CLI, DIS_EV_TRUNCATED, "snaplen 96 cut 2 packets"),
        GAP(CLI, 500),
        C("tail of a line\r\n.\r\n"),
        S("250 queued\r\n"),
        C("MAIL FROM:<a2@x>\r\n"), S("250 ok\r\n"),
        QUIT_BYE, END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    has(&r, "truncated_packets", MT_SEV_INFO);
    has(&r, "capture_gap", MT_SEV_INFO);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.complete, 0);
    assert_int_equal(r.msgs[0].m.content_exposed, 1);
    /* the server's next reply after the cut content is its end of data */
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_int_equal(r.msgs[0].m.size, 24);
    assert_string_equal(r.msgs[0].m.body_sha256, "");
    assert_true(contains(find(&r, "plaintext_message_body")->evidence, "content cut"));
    /* resynchronised after the 250: the second MAIL was parsed */
    assert_string_equal(find(&r, "plaintext_envelope_metadata")->evidence,
                        "2 MAIL FROM and 1 RCPT before TLS");
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);
}

/* ---- further cases ------------------------------------------------------------------ */

static void test_starttls_accepted(void **state)
{
    static const struct step st[] = {
        S("220 mx ESMTP\r\n"), C("EHLO c\r\n"),
        S("250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n"),
        C("STARTTLS\r\n"), S("220 Ready to start TLS\r\n"),
        C(CHELLO), S(SHELLO), C(APPD), S(APPD),
        END
    };
    struct scen sc = { st, 40000, 587, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    prot(&r, MT_PROT_STARTTLS);
    assert_int_equal(r.sess.tls_started, 1);
    assert_int_equal(r.sess.exposed_envelope + r.sess.exposed_content +
                     r.sess.exposed_credentials, 0);
    has(&r, "plaintext_auth_offered", MT_SEV_MEDIUM);
    hasnt(&r, "cleartext_submission");
    hasnt(&r, "tls_handshake_failed");
    assert_int_equal(r.nf, 1);
    rec_free(&r);
}

static void test_starttls_454_then_plain(void **state)
{
    static const struct step st[] = {
        S("220 mx ESMTP\r\n"), C("EHLO c\r\n"),
        S("250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n"),
        C("STARTTLS\r\n"), S("454 4.7.0 TLS not available due to temporary reason\r\n"),
        C("AUTH PLAIN " PLAIN_B64 "\r\n"), S("235 ok\r\n"),
        QUIT_BYE, END
    };
    struct scen sc = { st, 40000, 587, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    no_secret(&r, "secret");
    prot(&r, MT_PROT_CLEARTEXT);
    assert_int_equal(r.sess.starttls_reply, 454);
    assert_int_equal(r.sess.starttls_requested, 1);
    has(&r, "starttls_refused", MT_SEV_HIGH);
    assert_true(contains(find(&r, "starttls_refused")->evidence, "454"));
    has(&r, "auth_plain_cleartext", MT_SEV_CRITICAL);
    has(&r, "cleartext_submission", MT_SEV_CRITICAL);
    hasnt(&r, "starttls_offered_not_used");
    hasnt(&r, "cleartext_no_starttls_offered");
    rec_free(&r);
}

static void test_starttls_refused_quit(void **state)
{
    static const struct step st[] = {
        HELLO_TLS,
        C("STARTTLS\r\n"), S("502 5.5.1 not implemented\r\n"),
        QUIT_BYE, END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    has(&r, "starttls_refused", MT_SEV_MEDIUM);
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);
}

static void test_non_tls_after_220(void **state)
{
    static const struct step st[] = {
        HELLO_TLS,
        C("STARTTLS\r\n"), S("220 go ahead\r\n"),
        C("EHLO c\r\n"), S("250 mx\r\n"),
        MAIL_OK, END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    has(&r, "non_tls_after_starttls_220", MT_SEV_CRITICAL);
    hasnt(&r, "starttls_response_injection");
    hasnt(&r, "starttls_command_injection");
    assert_int_equal(r.sess.exposed_envelope, 1);
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);
}

static void test_tls_handshake_failed(void **state)
{
    static const struct step alert[] = {
        HELLO_TLS,
        C("STARTTLS\r\n"), S("220 go ahead\r\n"),
        C(CHELLO), S(ALERT),
        END
    };
    static const struct step none[] = {
        HELLO_TLS,
        C("STARTTLS\r\n"), S("220 go ahead\r\n"),
        C(CHELLO),
        END
    };
    struct scen sc = { alert, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    has(&r, "tls_handshake_failed", MT_SEV_MEDIUM);
    assert_true(contains(find(&r, "tls_handshake_failed")->evidence, "alert"));
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);

    sc.steps = none;
    sc.end = MT_END_RST;
    run_all(&sc, &r);
    has(&r, "tls_handshake_failed", MT_SEV_MEDIUM);
    assert_true(contains(find(&r, "tls_handshake_failed")->evidence, "rst"));
    rec_free(&r);
}

static void test_implicit_tls_variants(void **state)
{
    static const struct step hello25[] = {
        S("220 mx ESMTP\r\n"), C(CHELLO), S("500 5.5.2 Error: command not recognized\r\n"),
        END
    };
    static const struct step clear465[] = {
        HELLO, QUIT_BYE, END
    };
    static const struct step hello465[] = {
        C(CHELLO), S("220 mx ESMTP\r\n"),
        END
    };
    struct scen sc = { hello25, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    has(&r, "tls_hello_on_cleartext_port", MT_SEV_LOW);
    prot(&r, MT_PROT_CLEARTEXT);
    hasnt(&r, "tls_handshake_failed");
    rec_free(&r);

    sc.steps = clear465;
    sc.sport = 465;
    run_all(&sc, &r);
    has(&r, "plaintext_on_implicit_tls_port", MT_SEV_HIGH);
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);

    sc.steps = hello465;
    run_all(&sc, &r);
    has(&r, "plaintext_on_implicit_tls_port", MT_SEV_HIGH);
    hasnt(&r, "implicit_tls_465");
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);
}

static void test_xclient_220_is_not_starttls(void **state)
{
    static const struct step st[] = {
        S("220 filter ESMTP\r\n"), C("EHLO proxy\r\n"),
        S("250-filter\r\n250 XCLIENT NAME ADDR LOGIN\r\n"),
        C("XCLIENT NAME=host.example ADDR=192.0.2.1 LOGIN=alice\r\n"),
        S("220 filter ESMTP\r\n"),
        C("EHLO host.example\r\n"), S("250-filter\r\n250 PIPELINING\r\n"),
        MAIL_OK, QUIT_BYE, END
    };
    struct scen sc = { st, 40000, 10025, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    has(&r, "xclient_xforward_cleartext", MT_SEV_LOW);
    assert_string_equal(find(&r, "xclient_xforward_cleartext")->evidence,
                        "XCLIENT NAME ADDR LOGIN in cleartext (LOGIN attribute present)");
    assert_int_equal(r.sess.starttls_requested, 0);
    assert_int_equal(r.sess.starttls_reply, 0);
    assert_string_equal(r.sess.auth_user, "");
    assert_string_equal(r.sess.helo, "host.example");
    prot(&r, MT_PROT_CLEARTEXT);
    assert_int_equal(r.sess.tls_started, 0);
    has(&r, "smtp_on_nonstandard_port", MT_SEV_INFO);
    hasnt(&r, "smtp_malformed_reply");
    assert_false(contains(r.dump, "192.0.2.1"));
    rec_free(&r);
}

static void test_lmtp_multi_reply(void **state)
{
    static const struct step st[] = {
        S("220 lmtp ready\r\n"), C("LHLO mx\r\n"),
        S("250-lmtp\r\n250 PIPELINING\r\n"),
        C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y>\r\nRCPT TO:<d@y>\r\nDATA\r\n"),
        S("250 ok\r\n250 ok\r\n550 no such user\r\n250 ok\r\n354 go\r\n"),
        C("hello\r\n.\r\n"),
        S("250 2.0.0 <b@y> delivered\r\n"),
        S("452 4.2.2 <d@y> over quota\r\n"),
        QUIT_BYE, END
    };
    struct scen sc = { st, 40000, 24, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_int_equal(r.msgs[0].m.rcpt_count, 3);
    assert_int_equal(r.msgs[0].r[1].reply_code, 550);
    has(&r, "lmtp_cleartext", MT_SEV_MEDIUM);
    assert_string_equal(r.sess.helo_verb, "LHLO");
    hasnt(&r, "smtp_malformed_reply");
    rec_free(&r);
}

static void test_421_mid_data(void **state)
{
    static const struct step st[] = {
        HELLO, MAIL_OK, RCPT_OK, DATA_GO,
        C("Subject: x\r\n\r\npart one\r\n"),
        S("421 4.4.2 mx Error: timeout exceeded\r\n"),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.reply_code, 421);
    assert_int_equal(r.msgs[0].m.complete, 0);
    assert_int_equal(r.msgs[0].m.content_exposed, 1);
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);
}

static void test_gap_before_tls_server(void **state)
{
    static const struct step st[] = {
        HELLO_TLS,
        C("STARTTLS\r\n"),
        GAP(SRV, 30),
        C(CHELLO), S(SHELLO), C(APPD),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    prot(&r, MT_PROT_INDETERMINATE);
    assert_int_equal(r.sess.starttls_requested, 1);
    assert_int_equal(r.sess.starttls_reply, 0);
    rec_free(&r);
}

static void test_gap_in_bdat_chunk(void **state)
{
    static const struct step st[] = {
        HELLO, MAIL_OK, RCPT_OK,
        C("BDAT 30 LAST\r\n0123456789"),
        GAP(CLI, 10),
        C("0123456789QUIT\r\n"),
        S("250 ok\r\n221 bye\r\n"),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.size, 20);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_int_equal(r.msgs[0].m.complete, 0);
    hasnt(&r, "smtp_malformed_reply");
    rec_free(&r);
}

/* Direction from the bytes (no SYN), both side orders. */
static void test_sniff_direction(void **state)
{
    static const struct step st[] = {
        HELLO, MAIL_OK, QUIT_BYE, END
    };
    static const struct step pregreet[] = {
        C("EHLO c\r\n"), S("220 mx ESMTP\r\n"), S("250 mx\r\n"),
        QUIT_BYE, END
    };
    static const struct step tlsfirst[] = {
        C(CHELLO), S(SHELLO), C(APPD), S(APPD),
        END
    };
    struct scen sc = { st, 40000, 2525, 0, 1, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    for (int side = 0; side < 2; side++) {
        sc.cli_side = side;
        sc.steps = st;
        run_all(&sc, &r);
        assert_int_equal(r.sess.client_side, side);
        assert_string_equal(r.sess.banner, "mx ESMTP");
        assert_int_equal(r.sess.exposed_envelope, 1);
        assert_string_equal(r.sess.confidence, "high");
        prot(&r, MT_PROT_CLEARTEXT);
        rec_free(&r);

        sc.steps = pregreet;
        run_all(&sc, &r);
        assert_int_equal(r.sess.client_side, side);
        assert_string_equal(r.sess.banner, "mx ESMTP");
        assert_string_equal(r.sess.helo, "c");
        rec_free(&r);

        sc.steps = tlsfirst;
        run_all(&sc, &r);
        assert_int_equal(r.sess.client_side, side);
        prot(&r, MT_PROT_IMPLICIT_TLS);
        rec_free(&r);
    }
}

static void test_bdat_huge(void **state)
{
    static const struct step st[] = {
        HELLO, MAIL_OK,
        C("BDAT 18446744073709551615\r\nRCPT TO:<not@parsed>\r\nQUIT\r\n"),
        S("552 too big\r\n"),
        END
    };
    static const struct step bad[] = {
        HELLO,
        C("BDAT 99999999999999999999\r\nQUIT\r\n"),
        S("501 bad\r\n221 bye\r\n"),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.method, MT_METHOD_BDAT);
    assert_int_equal(r.msgs[0].m.size, 28);
    assert_int_equal(r.msgs[0].m.rcpt_count, 0);
    assert_int_equal(r.msgs[0].m.complete, 0);
    assert_int_equal(r.msgs[0].m.content_exposed, 1);
    assert_int_equal(r.msgs[0].m.reply_code, 552);
    assert_false(contains(r.dump, "not@parsed"));
    rec_free(&r);

    sc.steps = bad;
    run_all(&sc, &r);
    has(&r, "smtp_malformed_command", MT_SEV_LOW);
    assert_int_equal(r.nmsgs, 0);
    assert_int_equal(r.sess.exposed_content, 0);
    rec_free(&r);
}

/* 1000 pipelined RCPTs: all counted, 100 kept with their replies. */
static char *rcpt_cmds, *rcpt_replies;

static void test_many_rcpts(void **state)
{
    struct step st[10];
    size_t cl = 0, sl = 0;
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    rcpt_cmds = malloc(1000 * 40);
    rcpt_replies = malloc(1000 * 16);
    assert_non_null(rcpt_cmds);
    assert_non_null(rcpt_replies);
    for (int i = 0; i < 1000; i++) {
        cl += (size_t)sprintf(rcpt_cmds + cl, "RCPT TO:<u%d@d%d.example>\r\n", i, i % 7);
        sl += (size_t)sprintf(rcpt_replies + sl, "%s\r\n", i % 3 ? "250 ok" : "550 no");
    }
    memcpy(rcpt_cmds + cl, "DATA\r\n", 6);
    cl += 6;
    st[0] = (struct step)S("220 mx ESMTP\r\n");
    st[1] = (struct step)C("EHLO c\r\n");
    st[2] = (struct step)S("250-mx\r\n250 PIPELINING\r\n");
    st[3] = (struct step)C("MAIL FROM:<a@x>\r\n");
    st[4] = (struct step)CBUF(rcpt_cmds, cl);
    st[5] = (struct step)S("250 ok\r\n");
    st[6] = (struct step)SBUF(rcpt_replies, sl);
    st[7] = (struct step)S("354 go\r\n");
    st[8] = (struct step)C("x\r\n.\r\n");
    st[9] = (struct step)END;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.rcpt_count, 1000);
    assert_int_equal(r.msgs[0].m.n_rcpts, 100);
    assert_string_equal(r.msgs[0].r[99].address, "u99@d1.example");
    assert_int_equal(r.msgs[0].r[0].reply_code, 550);
    assert_int_equal(r.msgs[0].r[1].reply_code, 250);
    assert_int_equal(r.msgs[0].r[99].reply_code, 550);
    assert_int_equal(r.msgs[0].m.content_exposed, 1);
    assert_string_equal(find(&r, "plaintext_envelope_metadata")->evidence,
                        "MAIL FROM and 1000 RCPT before TLS");
    rec_free(&r);
    free(rcpt_cmds);
    free(rcpt_replies);
}

static void test_nul_and_bad_utf8(void **state)
{
    static const char greet[] = "220 mx\x00" "evil\xff\xfe ESMTP\r\n";
    static const char ehlo[] = "EHLO h\x00st\xc3\r\n";
    static const char mail[] = "MAIL FROM:<a\x00" "b@x\xff.example>\r\n";
    static const char rcpt[] = "RCPT TO:<\xe2\x82\xac@EX\x00MPLE.org>\r\n";
    static const struct step st[] = {
        SBUF(greet, sizeof greet - 1),
        CBUF(ehlo, sizeof ehlo - 1),
        S("250-mx\r\n250-PIPE\x01LINING\r\n250 SIZE\r\n"),
        CBUF(mail, sizeof mail - 1), S("250 ok\r\n"),
        CBUF(rcpt, sizeof rcpt - 1), S("250 ok\r\n"),
        DATA_GO,
        C("Subject: \xff\x00x\r\n\r\n.\r\n"), S("250 ok\r\n"),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_string_equal(r.sess.banner, "mx\\x00evil\\xff\\xfe ESMTP");
    assert_string_equal(r.sess.helo, "h\\x00st\\xc3");
    assert_string_equal(r.sess.ehlo_keywords, "PIPE\\x01LINING SIZE");
    assert_int_equal(r.nmsgs, 1);
    assert_string_equal(r.msgs[0].m.mail_from, "a\\x00b@x\\xff.example");
    assert_string_equal(r.msgs[0].r[0].address, "\xe2\x82\xac@EX\\x00MPLE.org");
    assert_string_equal(r.msgs[0].r[0].domain, "ex\\x00mple.org");
    assert_string_equal(r.msgs[0].m.subject, "\\xff\\x00x");
    rec_free(&r);
}

static void test_ehlo_fallback_and_helo(void **state)
{
    static const struct step st[] = {
        S("220 mx\r\n"), C("EHLO c\r\n"), S("502 5.5.2 Error: command not recognized\r\n"),
        C("HELO c\r\n"), S("250 mx\r\n"),
        MAIL_OK, QUIT_BYE, END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    has(&r, "ehlo_rejected_helo_fallback", MT_SEV_MEDIUM);
    has(&r, "cleartext_no_starttls_offered", MT_SEV_MEDIUM);
    assert_string_equal(r.sess.helo_verb, "HELO");
    rec_free(&r);
}

static void test_pipelining_violation(void **state)
{
    static const struct step st[] = {
        S("220 mx\r\n"), C("EHLO c\r\nMAIL FROM:<a@x>\r\n"),
        S("250 mx\r\n250 ok\r\n"),
        QUIT_BYE, END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    has(&r, "pipelining_order_violation", MT_SEV_LOW);
    assert_string_equal(find(&r, "pipelining_order_violation")->evidence,
                        "EHLO followed by MAIL in the same segment before its reply");
    rec_free(&r);
}

static void test_requiretls_and_masked_keywords(void **state)
{
    static const struct step st[] = {
        S("220 mx\r\n"), C("EHLO c\r\n"),
        S("250-mx\r\n250-REQUIRETLS\r\n250-XXXXXXXXXX\r\n250 AUTH=LOGIN\r\n"),
        C("MAIL FROM:<a@x> REQUIRETLS\r\n"), S("250 ok\r\n"),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    has(&r, "requiretls_in_cleartext", MT_SEV_MEDIUM);
    has(&r, "ehlo_keywords_masked", MT_SEV_LOW);
    has(&r, "plaintext_auth_offered", MT_SEV_MEDIUM);
    hasnt(&r, "starttls_token_masked");
    assert_string_equal(r.sess.ehlo_keywords, "REQUIRETLS XXXXXXXXXX AUTH=LOGIN");
    rec_free(&r);
}

static void test_long_line_and_malformed_reply(void **state)
{
    static char longline[DIS_LINE_MAX + 200];
    struct step st[8];
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    memcpy(longline, "NOOP ", 5);
    memset(longline + 5, 'a', sizeof longline - 7);
    memcpy(longline + sizeof longline - 2, "\r\n", 2);
    st[0] = (struct step)S("220 mx\r\n");
    st[1] = (struct step)C("EHLO c\r\n");
    st[2] = (struct step)S("250 mx\r\nthis is not a reply\r\n");
    st[3] = (struct step)CBUF(longline, sizeof longline);
    st[4] = (struct step)S("250 ok\r\n");
    st[5] = (struct step)C("QUIT\r\n");
    st[6] = (struct step)S("221 bye\r\n");
    st[7] = (struct step)END;
    run_all(&sc, &r);
    has(&r, "smtp_line_too_long", MT_SEV_LOW);
    has(&r, "smtp_malformed_reply", MT_SEV_LOW);
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);
}

/* A long SASL line (12 kB) is a SASL line, not an overflow. */
static void test_long_sasl_line(void **state)
{
    static char sasl[12290];
    struct step st[7];
    struct scen sc = { st, 40000, 587, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    memset(sasl, 'Q', 12288);
    memcpy(sasl + 12288, "\r\n", 2);
    st[0] = (struct step)S("220 mx\r\n");
    st[1] = (struct step)C("EHLO c\r\n");
    st[2] = (struct step)S("250 AUTH GSSAPI\r\n");
    st[3] = (struct step)C("AUTH GSSAPI\r\n");
    st[4] = (struct step)S("334 \r\n");
    st[5] = (struct step)CBUF(sasl, sizeof sasl);
    st[6] = (struct step)END;
    run_all(&sc, &r);
    hasnt(&r, "smtp_line_too_long");
    assert_int_equal(r.sess.exposed_credentials, 0);
    assert_string_equal(r.sess.auth_mechanism, "GSSAPI");
    assert_string_equal(r.sess.auth_outcome, "unknown");
    rec_free(&r);
}


/* RSET and a new MAIL abandon transactions whose content was sent. */
static void test_abandoned_transactions(void **state)
{
    static const struct step st[] = {
        S("220 mx ESMTP\r\n"), C("EHLO c\r\n"), S("250-mx\r\n250 CHUNKING\r\n"),
        C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 4\r\nabcd"),
        S("250 ok\r\n250 ok\r\n250 4 octets\r\n"),
        C("RSET\r\n"), S("250 reset\r\n"),
        C("MAIL FROM:<c@x>\r\nRCPT TO:<d@y>\r\nBDAT 3\r\nxyzMAIL FROM:<e@x>\r\n"),
        S("250 ok\r\n250 ok\r\n552 too big\r\n250 ok\r\n"),
        QUIT_BYE, END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 2);
    assert_string_equal(r.msgs[0].m.mail_from, "a@x");
    assert_int_equal(r.msgs[0].m.size, 4);
    assert_int_equal(r.msgs[0].m.complete, 0);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_true(r.msgs[0].m.ts == step_ts(3));
    assert_string_equal(r.msgs[1].m.mail_from, "c@x");
    assert_int_equal(r.msgs[1].m.size, 3);
    assert_int_equal(r.msgs[1].m.reply_code, 552);
    assert_int_equal(r.msgs[1].m.content_exposed, 1);
    assert_int_equal(r.sess.cleartext_messages, 2);
    assert_int_equal(count(&r, "plaintext_message_body"), 2);
    rec_free(&r);
}

/* A gap inside bytes held after DATA: the body is given up, the client
 * is resynchronised only after the reply that follows the 354. */
static void test_gap_in_hold(void **state)
{
    static const struct step st[] = {
        HELLO,
        C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nSubject: a\r\n"),
        GAP(CLI, 100),
        C("line two\r\n"),
        S("250 ok\r\n250 ok\r\n354 go\r\n"),
        C("line three\r\n.\r\n"),
        S("250 queued\r\n"),
        C("MAIL FROM:<z@x>\r\n"), S("250 ok\r\n"),
        QUIT_BYE, END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.complete, 0);
    assert_int_equal(r.msgs[0].m.content_exposed, 1);
    assert_int_equal(r.msgs[0].m.size, 12);
    assert_string_equal(find(&r, "plaintext_envelope_metadata")->evidence,
                        "2 MAIL FROM and 1 RCPT before TLS");
    hasnt(&r, "smtp_malformed_reply");
    rec_free(&r);
}

/* Server-only capture: banner and capabilities are still facts. */
static void test_server_only(void **state)
{
    static const struct step st[] = {
        S("220 mx ESMTP\r\n"),
        S("250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"),
        S("250 2.1.0 ok\r\n"), S("221 bye\r\n"),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_string_equal(r.sess.banner, "mx ESMTP");
    assert_string_equal(r.sess.ehlo_keywords, "PIPELINING SIZE");
    assert_int_equal(r.sess.starttls_offered, 0);
    assert_int_equal(r.sess.one_sided, 1);
    has(&r, "cleartext_no_starttls_offered", MT_SEV_LOW);
    has(&r, "one_sided_capture", MT_SEV_INFO);
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);
}

/* Address forms: spaces, no brackets, quoted local part, parameters. */
static void test_address_forms(void **state)
{
    static const struct step st[] = {
        HELLO,
        C("mail from: <a@b.example> BODY=8BITMIME\r\n"), S("250 ok\r\n"),
        C("RCPT TO:c@D.Example NOTIFY=NEVER\r\n"), S("250 ok\r\n"),
        C("RCPT TO:<\"x>y\"@z.example> ORCPT=rfc822;q@r\r\n"), S("250 ok\r\n"),
        C("rcpt to:<no-domain>\r\n"), S("550 no\r\n"),
        C("RCPT TO:<a@b@C.Example>\r\n"), S("250 ok\r\n"),
        DATA_GO, C(".\r\n"), S("250 ok\r\n"),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_string_equal(r.msgs[0].m.mail_from, "a@b.example");
    assert_int_equal(r.msgs[0].m.rcpt_count, 4);
    assert_string_equal(r.msgs[0].r[0].address, "c@D.Example");
    assert_string_equal(r.msgs[0].r[0].domain, "d.example");
    assert_string_equal(r.msgs[0].r[1].address, "\"x>y\"@z.example");
    assert_string_equal(r.msgs[0].r[1].domain, "z.example");
    assert_string_equal(r.msgs[0].r[2].address, "no-domain");
    assert_string_equal(r.msgs[0].r[2].domain, "");
    assert_int_equal(r.msgs[0].r[2].reply_code, 550);
    assert_string_equal(r.msgs[0].r[3].domain, "c.example");
    /* empty content: nothing crossed */
    assert_int_equal(r.msgs[0].m.size, 0);
    assert_int_equal(r.msgs[0].m.content_exposed, 0);
    assert_int_equal(r.msgs[0].m.complete, 1);
    assert_string_equal(r.msgs[0].m.body_sha256, "");
    hasnt(&r, "plaintext_message_body");
    rec_free(&r);
}

/* STARTTLS and the ClientHello in one segment before the 220: fine. */
static void test_starttls_hello_same_segment(void **state)
{
    static const struct step st[] = {
        HELLO_TLS,
        C("STARTTLS\r\n" CHELLO), S("220 go\r\n"), S(SHELLO), C(APPD),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    prot(&r, MT_PROT_STARTTLS);
    assert_int_equal(r.nf, 0);
    rec_free(&r);
}

/* Client-only: STARTTLS, then TLS-looking bytes, reply never seen. */
static void test_client_only_starttls(void **state)
{
    static const struct step st[] = {
        C("EHLO c\r\n"), C("STARTTLS\r\n"), C(CHELLO), C(APPD),
        END
    };
    static const struct step clear[] = {
        C("EHLO c\r\n"), C("STARTTLS\r\n"), C("MAIL FROM:<a@x>\r\n"),
        C("RCPT TO:<b@y>\r\n"), C("DATA\r\n"), C("hi\r\n.\r\n"), C("QUIT\r\n"),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    prot(&r, MT_PROT_INDETERMINATE);
    assert_int_equal(r.sess.starttls_requested, 1);
    hasnt(&r, "starttls_command_injection");
    rec_free(&r);

    sc.steps = clear;
    run_all(&sc, &r);
    prot(&r, MT_PROT_CLEARTEXT);
    assert_int_equal(r.sess.exposed_content, 1);
    assert_int_equal(r.nmsgs, 1);
    hasnt(&r, "starttls_command_injection");
    rec_free(&r);
}

/* More than DIS_HOLD_MAX of content before the 354: the client committed. */
static char *bigbody;

static void test_hold_overflow(void **state)
{
    size_t n = DIS_HOLD_MAX + 5000;
    struct step st[10];
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 1 };
    struct rec r;

    (void)state;
    bigbody = malloc(n);
    assert_non_null(bigbody);
    for (size_t i = 0; i < n; i++)
        bigbody[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' : 'b';
    memcpy(bigbody + n - 5, "\r\n.\r\n", 5);
    st[0] = (struct step)S("220 mx ESMTP\r\n");
    st[1] = (struct step)C("EHLO c\r\n");
    st[2] = (struct step)S("250 mx\r\n");
    st[3] = (struct step)C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
    st[4] = (struct step)CBUF(bigbody, n);
    st[5] = (struct step)S("250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n");
    st[6] = (struct step)C("QUIT\r\n");
    st[7] = (struct step)S("221 bye\r\n");
    st[8] = (struct step)END;
    run(&sc, 0, 0, 0, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_int_equal(r.msgs[0].m.complete, 1);
    assert_int_equal(r.msgs[0].m.size, n - 3);
    rec_free(&r);
    run(&sc, 2, 0, 0, &r);              /* bytewise: the same */
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.size, n - 3);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    rec_free(&r);
    free(bigbody);
}

/* 200 pipelined NOOPs overflow the FIFO: replies stay matched. */
static char *noops, *oks;

static void test_fifo_overflow(void **state)
{
    struct step st[10];
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;
    size_t nl = 0, ol = 0;

    (void)state;
    noops = malloc(200 * 6 + 64);
    oks = malloc(200 * 8 + 64);
    assert_non_null(noops);
    assert_non_null(oks);
    for (int i = 0; i < 200; i++) {
        memcpy(noops + nl, "NOOP\r\n", 6);
        nl += 6;
        memcpy(oks + ol, "250 ok\r\n", 8);
        ol += 8;
    }
    nl += (size_t)sprintf(noops + nl, "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
    ol += (size_t)sprintf(oks + ol, "250 ok\r\n550 no\r\n354 go\r\n");
    st[0] = (struct step)S("220 mx ESMTP\r\n");
    st[1] = (struct step)C("EHLO c\r\n");
    st[2] = (struct step)S("250 mx\r\n");
    st[3] = (struct step)CBUF(noops, nl);
    st[4] = (struct step)SBUF(oks, ol);
    st[5] = (struct step)C("x\r\n.\r\n");
    st[6] = (struct step)S("250 queued\r\n");
    st[7] = (struct step)END;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].r[0].reply_code, 550);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_int_equal(r.msgs[0].m.content_exposed, 1);
    has(&r, "pipelining_order_violation", MT_SEV_LOW);
    rec_free(&r);
    free(noops);
    free(oks);
}

/* Ten pipelined BDAT LAST messages, replies after all of them. */
static char *bdats, *bdat_oks;

static void test_many_pipelined_messages(void **state)
{
    struct step st[8];
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;
    size_t bl = 0, ol = 0;

    (void)state;
    bdats = malloc(10 * 64);
    bdat_oks = malloc(10 * 32);
    assert_non_null(bdats);
    assert_non_null(bdat_oks);
    for (int i = 0; i < 10; i++) {
        bl += (size_t)sprintf(bdats + bl, "MAIL FROM:<m%d@x>\r\nRCPT TO:<b@y>\r\n"
                              "BDAT 3 LAST\r\nabc", i);
        ol += (size_t)sprintf(bdat_oks + ol, "250 a\r\n250 b\r\n25%d c\r\n", i % 10);
    }
    st[0] = (struct step)S("220 mx ESMTP\r\n");
    st[1] = (struct step)C("EHLO c\r\n");
    st[2] = (struct step)S("250-mx\r\n250 CHUNKING\r\n");
    st[3] = (struct step)CBUF(bdats, bl);
    st[4] = (struct step)SBUF(bdat_oks, ol);
    st[5] = (struct step)END;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 10);
    assert_int_equal(r.sess.cleartext_messages, 10);
    /* each waited for its reply */
    for (int i = 0; i < 10; i++) {
        char want[16];

        snprintf(want, sizeof want, "m%d@x", i);
        assert_string_equal(r.msgs[i].m.mail_from, want);
        assert_int_equal(r.msgs[i].m.reply_code, 250 + i);
    }
    assert_int_equal(count(&r, "plaintext_message_body"), 10);
    rec_free(&r);
    free(bdats);
    free(bdat_oks);
}

/* AUTH PLAIN with an initial response may be pipelined; AUTH LOGIN not. */
static void test_auth_pipelining(void **state)
{
    static const struct step ok[] = {
        S("220 mx ESMTP\r\n"), C("EHLO c\r\n"), S("250 AUTH PLAIN\r\n"),
        C("AUTH PLAIN " PLAIN_B64 "\r\nMAIL FROM:<a@x>\r\n"),
        S("235 ok\r\n250 ok\r\n"),
        END
    };
    static const struct step bad[] = {
        S("220 mx ESMTP\r\n"), C("EHLO c\r\n"), S("250 AUTH PLAIN\r\n"),
        C("DATA\r\nRSET\r\n"), S("503 need MAIL\r\n250 ok\r\n"),
        END
    };
    struct scen sc = { ok, 40000, 587, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    no_secret(&r, "secret");
    hasnt(&r, "pipelining_order_violation");
    assert_int_equal(r.sess.exposed_envelope, 1);
    assert_string_equal(r.sess.auth_outcome, "success");
    rec_free(&r);

    sc.steps = bad;
    run_all(&sc, &r);
    has(&r, "pipelining_order_violation", MT_SEV_LOW);
    assert_string_equal(find(&r, "pipelining_order_violation")->evidence,
                        "DATA followed by RSET in the same segment before its reply");
    assert_int_equal(r.nmsgs, 0);
    rec_free(&r);
}

/* Mid-stream start on a command line: parsed from there. */
static void test_midstream_commands(void **state)
{
    static const struct step st[] = {
        EV(CLI, DIS_EV_MIDSTREAM, "no SYN"),
        S("50-SIZE 1000\r\n250 HELP\r\n"),
        MAIL_OK, RCPT_OK,
        DATA_GO, C("hi\r\n.\r\n"), S("250 ok\r\n"),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 1, MT_END_TIMEOUT, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(r.sess.client_side, 0);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.complete, 1);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_string_equal(r.sess.confidence, "low");
    assert_string_equal(find(&r, "midstream_start")->evidence, "no SYN");
    hasnt(&r, "smtp_malformed_reply");
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);
}

/* A 421 greeting, and a session of a server that never speaks SMTP. */
static void test_421_greeting_and_noise(void **state)
{
    static const struct step busy[] = {
        S("421 4.3.2 too busy\r\n"), END
    };
    static const struct step noise[] = {
        C("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), S("HTTP/1.1 200 OK\r\n\r\n"), END
    };
    struct scen sc = { busy, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_string_equal(r.sess.banner, "4.3.2 too busy");
    prot(&r, MT_PROT_CLEARTEXT);
    has(&r, "one_sided_capture", MT_SEV_INFO);
    rec_free(&r);

    sc.steps = noise;
    sc.sport = 8080;
    run_all(&sc, &r);
    prot(&r, MT_PROT_INDETERMINATE);
    rec_free(&r);
}

/* Random mutations, splits, gaps and events: nothing may crash or leak. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static void test_random_robustness(void **state)
{
#define P(x) { x, sizeof(x) - 1 }
    static const struct { const char *p; size_t n; } pieces[] = {
        P("220 mx ESMTP\r\n"), P("EHLO c\r\n"),
        P("250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n"),
        P("MAIL FROM:<a@x>\r\n"), P("RCPT TO:<b@y>\r\n"), P("DATA\r\n"),
        P("354 go\r\n"), P("body\r\n.\r\n"), P("250 ok\r\n"), P("STARTTLS\r\n"),
        P("220 go\r\n"), P(CHELLO), P(SHELLO), P(APPD),
        P("AUTH PLAIN " PLAIN_B64 "\r\n"), P("334 \r\n"), P("*\r\n"),
        P("235 ok\r\n"), P("BDAT 5 LAST\r\nhello"), P("BDAT 3\r\n"), P("RSET\r\n"),
        P("AUTH LOGIN\r\n"), P("LHLO x\r\n"), P("XCLIENT NAME=x\r\n"),
        P("421 bye\r\n"), P("\r\n.\r\n"), P("\n.\n"), P("500 what\r\n"),
        P("XXXXXXXX\r\n"), P("QUIT\r\n"), P("221 bye\r\n"), P(ALERT),
    };
#undef P
    const size_t np = sizeof pieces / sizeof pieces[0];
    const char *env = getenv("SMTP_TEST_ITERS");
    long iters = env != NULL ? strtol(env, NULL, 10) : 3000;

    (void)state;
    for (long iter = 0; iter < iters; iter++) {
        struct dis_params par;
        struct rec r;
        dis_session_t *s;
        int steps = 1 + (int)(rnd() % 40);

        memset(&r, 0, sizeof r);
        r.order_ok = 1;
        memset(&par, 0, sizeof par);
        par.port[0] = 40000;
        par.port[1] = (rnd() & 1) ? 25 : 587;
        par.client_side = (rnd() % 4 == 0) ? -1 : (int)(rnd() & 1);
        s = dis_session_new(&par, &SINK, &r);
        assert_non_null(s);
        for (int k = 0; k < steps; k++) {
            int side = (int)(rnd() & 1);
            uint32_t what = rnd() % 100;

            if (what < 3) {
                dis_gap(s, side, 1 + rnd() % 300, k);
            } else if (what < 5) {
                dis_capture_event(s, side, (enum dis_cap_event)(rnd() % 3), k, "x");
            } else {
                size_t pi = rnd() % np, len = pieces[pi].n, off = 0;
                char buf[128];

                memcpy(buf, pieces[pi].p, len);
                if (rnd() % 4 == 0)
                    buf[rnd() % len] = (char)rnd();
                while (off < len) {
                    size_t n = 1 + rnd() % (len - off);

                    feed(s, side, buf + off, n, k);
                    off += n;
                }
            }
        }
        if (rnd() % 8)
            dis_end(s, MT_END_FIN, 100.0);
        dis_session_free(s);
        assert_true(r.order_ok);
        assert_true(r.nsess <= 1);
        for (size_t i = 0; i < r.nf; i++)
            assert_false(contains(r.f[i].evidence, "secret"));
        rec_free(&r);
    }
}

static void test_api_edges(void **state)
{
    struct dis_params par;
    dis_session_t *s;
    static const uint8_t b[] = "220 x\r\n";

    (void)state;
    dis_session_free(NULL);
    dis_data(NULL, 0, b, 3, 1.0);
    dis_end(NULL, MT_END_FIN, 1.0);
    assert_int_equal(dis_is_smtp(NULL), 0);
    memset(&par, 0, sizeof par);
    par.client_side = 0;
    s = dis_session_new(&par, NULL, NULL);
    assert_non_null(s);
    dis_data(s, 1, b, sizeof b - 1, 1.0);
    dis_data(s, 7, b, sizeof b - 1, 1.0);
    dis_data(s, 0, (const uint8_t *)"EHLO x\r\nDATA\r\nheld", 18, 2.0);
    assert_int_equal(dis_is_smtp(s), 1);
    dis_session_free(s);                /* without dis_end */
    s = dis_session_new(&par, NULL, NULL);
    dis_data(s, 0, (const uint8_t *)"MAIL FROM:<a@b>\r\nBDAT 5\r\nab", 28, 2.0);
    dis_end(s, MT_END_EOF, 3.0);
    dis_end(s, MT_END_EOF, 3.0);        /* twice: no effect */
    dis_data(s, 0, b, 3, 4.0);
    dis_session_free(s);
}

/* ---- session-level ids, masked STARTTLS, cleartext after the 220 ------------- */

/* lmtp_cleartext and smtp_smuggling_eod_ambiguity name no message (SPEC
 * §5); smuggling is raised once, with the severity of the worst message. */
static void test_session_level_findings(void **state)
{
    static const struct step st[] = {
        HELLO, MAIL_OK, RCPT_OK, DATA_GO,
        C("Subject: one\r\n\r\nlegacy\n.\nstill body\r\n.\r\n"), S("250 queued\r\n"),
        MAIL_OK, RCPT_OK, DATA_GO,
        C("Subject: two\r\n\r\nhi\n.\nMAIL FROM:<ceo@victim>\r\nRCPT TO:<v@w>\r\n"
          "DATA\r\nspoofed\r\n.\r\n"),
        S("250 queued\r\n"),
        QUIT_BYE, END
    };
    static const struct step lmtp[] = {
        S("220 lmtp ready\r\n"), C("LHLO mx\r\n"), S("250 lmtp\r\n"),
        MAIL_OK, RCPT_OK, DATA_GO,
        C("hello\r\n.\r\n"), S("250 delivered\r\n"),
        MAIL_OK,
        C("RCPT TO:<c@y>\r\n"), S("250 ok\r\n"),
        DATA_GO,
        C("again\r\n.\r\n"), S("250 delivered\r\n"),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 2);
    assert_int_equal(count(&r, "smtp_smuggling_eod_ambiguity"), 1);
    has(&r, "smtp_smuggling_eod_ambiguity", MT_SEV_HIGH);
    assert_int_equal(find(&r, "smtp_smuggling_eod_ambiguity")->msg_seq, 0);
    assert_true(contains(find(&r, "smtp_smuggling_eod_ambiguity")->evidence,
                         "message 2"));
    assert_true(find(&r, "smtp_smuggling_eod_ambiguity")->ts == step_ts(15));
    assert_int_equal(count(&r, "plaintext_message_body"), 2);
    rec_free(&r);

    sc.steps = lmtp;
    sc.sport = 24;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 2);
    assert_int_equal(count(&r, "lmtp_cleartext"), 1);
    assert_int_equal(find(&r, "lmtp_cleartext")->msg_seq, 0);
    assert_int_equal(count(&r, "plaintext_message_body"), 2);
    rec_free(&r);
}

/* A masked STARTTLS keyword alone (f_token_masked): the B1 finding, not the
 * A-group one it would otherwise look like; the unmasked control is A. */
static void test_token_masked_alone(void **state)
{
    static const struct step masked[] = {
        S("220 mx ESMTP\r\n"), C("EHLO c\r\n"), S("250-mx\r\n250 XXXXXXXA\r\n"),
        QUIT_BYE, END
    };
    static const struct step plain[] = {
        S("220 mx ESMTP\r\n"), C("EHLO c\r\n"), S("250-mx\r\n250 PIPELINING\r\n"),
        QUIT_BYE, END
    };
    struct scen sc = { masked, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    has(&r, "starttls_token_masked", MT_SEV_CRITICAL);
    hasnt(&r, "cleartext_no_starttls_offered");
    hasnt(&r, "starttls_offered_not_used");
    assert_int_equal(r.nf, 1);
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);

    sc.steps = plain;
    run_all(&sc, &r);
    has(&r, "cleartext_no_starttls_offered", MT_SEV_LOW);
    hasnt(&r, "starttls_token_masked");
    rec_free(&r);
}

/* Cleartext commands pipelined in one segment after the STARTTLS 220 are
 * non_tls_after_starttls_220 only (f_non_tls_after_220). */
static void test_non_tls_after_220_not_pipelining(void **state)
{
    static const struct step st[] = {
        HELLO_TLS,
        C("STARTTLS\r\n"), S("220 2.0.0 Ready to start TLS\r\n"),
        C("EHLO client.example.org\r\nMAIL FROM:<alice@example.org>\r\n"),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    has(&r, "non_tls_after_starttls_220", MT_SEV_CRITICAL);
    hasnt(&r, "pipelining_order_violation");
    has(&r, "plaintext_envelope_metadata", MT_SEV_MEDIUM);
    assert_int_equal(r.sess.exposed_envelope, 1);
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);
}

/* ---- gaps ---------------------------------------------------------------------- */

/* s10c: only client packets; the capture reports the server bytes its ACKs
 * prove as gaps.  They must not make the client wait for a reply, and no
 * capture_gap is raised for a direction that delivered nothing. */
static void test_one_sided_with_server_gaps(void **state)
{
    static const struct step st[] = {
        GAP(SRV, 34),
        C("EHLO laptop\r\n"), GAP(SRV, 149),
        C("AUTH LOGIN\r\n"), GAP(SRV, 18),
        C(USER_B64 "\r\n"), GAP(SRV, 18),
        C(PASS_B64 "\r\n"), GAP(SRV, 37),
        C("MAIL FROM:<alice@example.org>\r\n"), GAP(SRV, 14),
        C("RCPT TO:<bob@example.com>\r\n"), GAP(SRV, 14),
        C("DATA\r\n"), GAP(SRV, 37),
        C("Subject: one sided\r\n\r\nbody\r\n.\r\n"), GAP(SRV, 36),
        C("QUIT\r\n"), GAP(SRV, 16),
        END
    };
    struct scen sc = { st, 41003, 587, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    no_secret(&r, "secret");
    prot(&r, MT_PROT_CLEARTEXT);
    assert_int_equal(r.sess.exposed_envelope, 1);
    assert_int_equal(r.sess.exposed_content, 1);
    assert_int_equal(r.sess.exposed_credentials, 1);
    assert_string_equal(r.sess.auth_mechanism, "LOGIN");
    assert_string_equal(r.sess.auth_outcome, "unknown");
    assert_string_equal(r.sess.auth_user, "alice");
    assert_int_equal(r.sess.one_sided, 1);
    assert_int_equal(r.sess.gap_bytes, 34 + 149 + 18 + 18 + 37 + 14 + 14 + 37 + 36 + 16);
    assert_int_equal(r.nmsgs, 1);
    assert_string_equal(r.msgs[0].m.mail_from, "alice@example.org");
    assert_int_equal(r.msgs[0].m.reply_code, 0);
    assert_int_equal(r.msgs[0].m.complete, 1);
    assert_int_equal(r.msgs[0].r[0].reply_code, 0);
    has(&r, "auth_login_cleartext", MT_SEV_CRITICAL);
    has(&r, "cleartext_submission", MT_SEV_CRITICAL);
    has(&r, "one_sided_capture", MT_SEV_INFO);
    has(&r, "plaintext_envelope_metadata", MT_SEV_MEDIUM);
    has(&r, "plaintext_message_body", MT_SEV_HIGH);
    hasnt(&r, "capture_gap");
    hasnt(&r, "cleartext_no_starttls_offered");
    assert_int_equal(r.nf, 5);
    rec_free(&r);
}

/* The server direction starts late: its held-back gaps give one capture_gap
 * (offset 0, all the bytes) on its first byte, and its bytes follow a hole
 * of unknown content: the commands waiting are forgotten and the client
 * resynchronises on the first reply line. */
static void test_server_starts_late(void **state)
{
    static const struct step st[] = {
        C("EHLO c\r\n"), GAP(SRV, 40),
        C("MAIL FROM:<a@x>\r\n"), GAP(SRV, 14),
        S("250 2.1.0 Ok\r\n"),
        C("RCPT TO:<b@y>\r\n"), S("250 2.1.5 Ok\r\n"),
        DATA_GO,
        C("hi\r\n.\r\n"), S("250 queued\r\n"),
        QUIT_BYE, END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(count(&r, "capture_gap"), 1);
    assert_string_equal(find(&r, "capture_gap")->evidence,
                        "54 bytes missing from server->client at offset 0");
    assert_true(find(&r, "capture_gap")->ts == step_ts(1));
    assert_int_equal(r.sess.one_sided, 0);
    hasnt(&r, "one_sided_capture");
    hasnt(&r, "smtp_malformed_reply");
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_int_equal(r.msgs[0].m.complete, 1);
    /* the RCPT was sent after the resynchronisation: its reply is known */
    assert_int_equal(r.msgs[0].r[0].reply_code, 250);
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);
}

/* s10e: snaplen 96 (42 payload octets).  The greeting's tail with its line
 * end is cut, the EHLO reply then comes whole in new segments: the cut
 * one-line reply is a greeting and the EHLO reply is paired.  Later the
 * body segment is cut: the message is incomplete and the server's next
 * reply is its end-of-data reply. */
static void test_server_gap_recovery_snaplen(void **state)
{
    static const struct step st[] = {
        S("220 mx.example.net ESMTP Postfix (Debian/G"),
        EV(SRV, DIS_EV_TRUNCATED, "snaplen cut the payload"),
        GAP(SRV, 11),
        C("EHLO client.example.org\r\n"),
        S("250-mx.example.net\r\n250-PIPELINING\r\n"),
        S("250-SIZE 10240000\r\n250 8BITMIME\r\n"),
        C("MAIL FROM:<alice@example.org>\r\n"), S("250 2.1.0 Ok\r\n"),
        C("RCPT TO:<bob@example.com>\r\n"), S("250 2.1.5 Ok\r\n"),
        C("DATA\r\n"), S("354 End data with <CR><LF>.<CR><LF>\r\n"),
        C("Subject: snaplen!!\r\nFrom: alice@example.or"),
        EV(CLI, DIS_EV_TRUNCATED, "snaplen cut the payload"),
        GAP(CLI, 161),
        S("250 2.0.0 Ok: queued as 4ABC\r\n"),
        C("QUIT\r\n"), S("221 2.0.0 Bye\r\n"),
        END
    };
    struct scen sc = { st, 41005, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    prot(&r, MT_PROT_CLEARTEXT);
    assert_string_equal(r.sess.banner, "mx.example.net ESMTP Postfix (Debian/G");
    assert_string_equal(r.sess.ehlo_keywords, "PIPELINING SIZE 8BITMIME");
    assert_int_equal(r.sess.starttls_offered, 0);
    has(&r, "cleartext_no_starttls_offered", MT_SEV_HIGH);
    assert_int_equal(count(&r, "capture_gap"), 2);
    assert_int_equal(count(&r, "truncated_packets"), 2);
    hasnt(&r, "smtp_malformed_reply");
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.size, 42);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_int_equal(r.msgs[0].m.complete, 0);
    assert_int_equal(r.msgs[0].r[0].reply_code, 250);
    assert_string_equal(r.sess.confidence, "low");
    rec_free(&r);
}

/* A cut one-line reply (its code known) then a whole segment: the MAIL
 * gets its reply from the cut line, the RCPT sent after the gap from the
 * segment that starts with a reply line. */
static void test_server_gap_recovery_cut_reply(void **state)
{
    static const struct step st[] = {
        HELLO,
        C("MAIL FROM:<a@x>\r\n"),
        S("250 2.1.0 Ok sender accepted after long t"), GAP(SRV, 20),
        C("RCPT TO:<b@y>\r\n"), S("550 5.1.1 unknown\r\n"),
        C("RCPT TO:<c@y>\r\n"), S("250 2.1.5 Ok\r\n"),
        DATA_GO,
        C("hi\r\n.\r\n"), S("250 queued\r\n"),
        END
    };
    struct scen sc = { st, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.rcpt_count, 2);
    assert_int_equal(r.msgs[0].r[0].reply_code, 550);
    assert_int_equal(r.msgs[0].r[1].reply_code, 250);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_int_equal(r.msgs[0].m.complete, 1);
    assert_int_equal(count(&r, "capture_gap"), 1);
    hasnt(&r, "smtp_malformed_reply");
    rec_free(&r);
}

/* The conservative rule where the capture does not show what was lost. */
static void test_server_gap_conservative(void **state)
{
    /* the gap ends inside a segment: its first line is not a reply line */
    static const struct step inside[] = {
        HELLO, MAIL_OK,
        GAP(SRV, 30),
        C("RCPT TO:<b@y>\r\n"),
        S("ok\r\n250 2.1.5 Ok\r\n"),
        DATA_GO,
        C("hi\r\n.\r\n"), S("250 queued\r\n"),
        END
    };
    /* the same with the segment starting with the reply: kept */
    static const struct step whole[] = {
        HELLO, MAIL_OK,
        GAP(SRV, 30),
        C("RCPT TO:<b@y>\r\n"),
        S("250 2.1.5 Ok\r\n"),
        DATA_GO,
        C("hi\r\n.\r\n"), S("250 queued\r\n"),
        END
    };
    /* commands were waiting when the gap hit: maybe answered inside it */
    static const struct step waiting[] = {
        HELLO,
        C("MAIL FROM:<a@x>\r\n"), C("RCPT TO:<b@y>\r\n"),
        GAP(SRV, 14),
        S("250 2.1.5 Ok\r\n"),
        DATA_GO,
        C("hi\r\n.\r\n"), S("250 queued\r\n"),
        END
    };
    /* the client lost bytes too */
    static const struct step both[] = {
        S("220 mx ESMTP\r\n"),
        GAP(SRV, 10),
        C("EHLO c\r\n"), GAP(CLI, 5),
        C("MAIL FROM:<a@x>\r\n"),
        S("250-mx\r\n250 PIPELINING\r\n"), S("250 ok\r\n"),
        QUIT_BYE, END
    };
    /* a code that cannot answer the head: 250 to DATA (its 354 was lost) */
    static const struct step implausible[] = {
        HELLO, MAIL_OK, RCPT_OK,
        GAP(SRV, 10),
        C("DATA\r\n"), C("hi\r\nQUIT is body text\r\n.\r\n"),
        S("250 queued\r\n"),
        QUIT_BYE, END
    };
    /* a multi-line reply cut: its keywords are not known */
    static const struct step multi[] = {
        S("220 mx ESMTP\r\n"), C("EHLO c\r\n"),
        S("250-mx\r\n250-PIPELINING\r\n"), GAP(SRV, 30),
        S("250 SIZE 1000\r\n"),
        MAIL_OK, QUIT_BYE, END
    };
    struct scen sc = { inside, 40000, 25, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].r[0].reply_code, 0);    /* RCPT forgotten */
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    assert_int_equal(r.msgs[0].m.complete, 1);
    hasnt(&r, "smtp_malformed_reply");
    rec_free(&r);

    sc.steps = whole;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].r[0].reply_code, 250);  /* RCPT paired */
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    rec_free(&r);

    sc.steps = waiting;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].r[0].reply_code, 0);
    assert_int_equal(r.msgs[0].m.reply_code, 250);
    rec_free(&r);

    sc.steps = both;
    run_all(&sc, &r);
    assert_int_equal(count(&r, "capture_gap"), 2);
    assert_string_equal(r.sess.ehlo_keywords, "");  /* EHLO reply not paired */
    hasnt(&r, "cleartext_no_starttls_offered");
    hasnt(&r, "plaintext_envelope_metadata");       /* MAIL was skipped */
    rec_free(&r);

    sc.steps = implausible;
    run_all(&sc, &r);
    assert_int_equal(r.nmsgs, 1);
    assert_int_equal(r.msgs[0].m.reply_code, 0);
    assert_int_equal(r.msgs[0].m.content_exposed, 0);
    hasnt(&r, "plaintext_message_body");
    assert_int_equal(r.sess.exposed_content, 0);
    rec_free(&r);

    sc.steps = multi;
    run_all(&sc, &r);
    assert_string_equal(r.sess.ehlo_keywords, "PIPELINING");
    hasnt(&r, "cleartext_no_starttls_offered");
    has(&r, "plaintext_envelope_metadata", MT_SEV_MEDIUM);
    rec_free(&r);
}

/* ---- --all-ports ------------------------------------------------------------------ */

/* Runs st on sport (sc's other fields kept) and checks after which step
 * the dissector wanted no more bytes (-1: never) and whether it took the
 * session for SMTP; the run is left in r. */
static void run_decide(struct scen *sc, const struct step *st, uint16_t sport, long wants0,
                       int is_smtp, struct rec *r)
{
    sc->steps = st;
    sc->sport = sport;
    run_all(sc, r);
    assert_int_equal(r->wants0, wants0);
    assert_int_equal(r->is_smtp, is_smtp);
}

static void test_all_ports_not_smtp(void **state)
{
    static const struct step http[] = {
        C("GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"),
        S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        END
    };
    static const struct step http_ndpi[] = {
        EV(CLI, DIS_EV_PROTOCOL, "HTTP"),
        C("EHLO looks like smtp\r\n"),
        END
    };
    static const struct step tls[] = {
        C(CHELLO), S(SHELLO), C(APPD), S(APPD),
        END
    };
    static const struct step tls_ndpi[] = {
        C(CHELLO), EV(SRV, DIS_EV_PROTOCOL, "TLS.Google"), S(SHELLO),
        C(APPD), S(APPD),
        END
    };
    static const struct step ftp[] = {
        S("220 ProFTPD Server ready\r\n"), C("USER anonymous\r\n"),
        S("331 Password required\r\n"), C("QUIT\r\n"), S("221 Goodbye\r\n"),
        END
    };
    static const struct step ftp_quit[] = {
        S("220 ProFTPD Server ready\r\n"), C("QUIT\r\n"), S("221 Goodbye\r\n"),
        END
    };
    static const struct step ssh[] = {
        S("SSH-2.0-OpenSSH_9.2\r\n"),
        END
    };
    struct scen sc = { http, 50000, 8080, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_decide(&sc, http, 8080, 0, 0, &r);          /* decided on the client's first line */
    rec_free(&r);
    run_decide(&sc, http_ndpi, 8080, 0, 0, &r);     /* nDPI: HTTP */
    rec_free(&r);
    /* TLS on 443: a TLS start decides nothing, and TLS alone is not SMTP */
    run_decide(&sc, tls, 443, -1, 0, &r);
    rec_free(&r);
    run_decide(&sc, tls_ndpi, 443, 1, 0, &r);
    rec_free(&r);
    /* the same TLS on 465 is implicit-TLS SMTP */
    run_decide(&sc, tls, 465, -1, 1, &r);
    prot(&r, MT_PROT_IMPLICIT_TLS);
    rec_free(&r);
    /* FTP: a 220 greeting, but USER is no SMTP verb */
    run_decide(&sc, ftp, 2121, 1, 0, &r);
    rec_free(&r);
    /* 220 then QUIT/221 is not an SMTP dialogue either */
    run_decide(&sc, ftp_quit, 2121, -1, 0, &r);
    hasnt(&r, "smtp_on_nonstandard_port");
    rec_free(&r);
    run_decide(&sc, ssh, 2222, 0, 0, &r);
    rec_free(&r);
    /* no SYN: the first bytes are not known to be the stream's start */
    sc.sniff = 1;
    run_decide(&sc, http, 8080, -1, 0, &r);
    rec_free(&r);
}

static void test_all_ports_smtp(void **state)
{
    static const struct step smtp[] = {
        S("220 mx ESMTP\r\n"), C("EHLO c\r\n"), S("250-mx\r\n250 PIPELINING\r\n"),
        MAIL_OK, QUIT_BYE, END
    };
    /* the client speaks first (its greeting wait is not captured) */
    static const struct step client_first[] = {
        EV(CLI, DIS_EV_PROTOCOL, "SMTP"),
        C("EHLO c\r\n"), C("MAIL FROM:<a@x>\r\n"), C("RCPT TO:<b@y>\r\n"),
        END
    };
    static const struct step client_first_raw[] = {
        C("EHLO c\r\n"), C("MAIL FROM:<a@x>\r\n"), C("RCPT TO:<b@y>\r\n"),
        END
    };
    /* STARTTLS on 2525: the dialogue before TLS makes it SMTP */
    static const struct step starttls[] = {
        HELLO_TLS,
        C("STARTTLS\r\n"), S("220 go ahead\r\n"),
        C(CHELLO), S(SHELLO), C(APPD), S(APPD),
        END
    };
    /* nDPI named implicit TLS SMTPS */
    static const struct step smtps[] = {
        C(CHELLO), EV(SRV, DIS_EV_PROTOCOL, "SMTPS"), S(SHELLO), C(APPD), S(APPD),
        END
    };
    /* SMTP through a SOCKS5 tunnel: the tunnel's bytes decide nothing */
    static const struct step socks[] = {
        CBUF("\x05\x01\x00", 3),
        EV(SRV, DIS_EV_PROTOCOL, "SOCKS"),
        SBUF("\x05\x00", 2),
        CBUF("\x05\x01\x00\x01\xc0\x00\x02\x01\x00\x19", 10),
        SBUF("\x05\x00\x00\x01\xc0\x00\x02\x01\x00\x19", 10),
        S("220 mx ESMTP\r\n"), C("EHLO c\r\n"),
        S("250-mx\r\n250 AUTH LOGIN\r\n"),
        C("AUTH LOGIN\r\n"), S("503 AUTH command used when not advertised\r\n"),
        END
    };
    struct scen sc = { smtp, 40000, 2525, 0, 0, MT_END_FIN, 0 };
    struct rec r;

    (void)state;
    run_decide(&sc, smtp, 2525, -1, 1, &r);
    has(&r, "smtp_on_nonstandard_port", MT_SEV_INFO);
    assert_int_equal(count(&r, "smtp_on_nonstandard_port"), 1);
    assert_string_equal(find(&r, "smtp_on_nonstandard_port")->evidence,
                        "SMTP dialogue on port 2525");
    prot(&r, MT_PROT_CLEARTEXT);
    rec_free(&r);

    run_decide(&sc, client_first, 2525, -1, 1, &r);
    assert_int_equal(r.sess.exposed_envelope, 1);
    has(&r, "smtp_on_nonstandard_port", MT_SEV_INFO);
    rec_free(&r);

    sc.sniff = 1;                       /* no SYN: direction from the bytes */
    run_decide(&sc, client_first, 2525, -1, 1, &r);
    assert_int_equal(r.sess.client_side, 0);
    rec_free(&r);
    sc.sniff = 0;

    /* without nDPI, commands alone are no dialogue, but decide nothing */
    run_decide(&sc, client_first_raw, 2525, -1, 0, &r);
    rec_free(&r);

    run_decide(&sc, starttls, 2525, -1, 1, &r);
    prot(&r, MT_PROT_STARTTLS);
    has(&r, "smtp_on_nonstandard_port", MT_SEV_INFO);
    rec_free(&r);

    run_decide(&sc, smtps, 2465, -1, 1, &r);
    has(&r, "smtp_on_nonstandard_port", MT_SEV_INFO);
    assert_true(contains(find(&r, "smtp_on_nonstandard_port")->evidence, "nDPI"));
    rec_free(&r);

    run_decide(&sc, socks, 1080, -1, 1, &r);
    assert_string_equal(r.sess.auth_mechanism, "LOGIN");
    rec_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_cleartext),
        cmocka_unit_test(test_s1_split_ehlo),
        cmocka_unit_test(test_s2_pipelined_partial_rejection),
        cmocka_unit_test(test_s3_bdat_hostile),
        cmocka_unit_test(test_s4_dots_and_smuggling),
        cmocka_unit_test(test_s5_mixed_protection),
        cmocka_unit_test(test_s6_starttls_injection),
        cmocka_unit_test(test_s7_middlebox),
        cmocka_unit_test(test_s8_auth_plain_ir),
        cmocka_unit_test(test_s8_auth_plain_334),
        cmocka_unit_test(test_s8_auth_login),
        cmocka_unit_test(test_s8_auth_cram_xoauth),
        cmocka_unit_test(test_s8_auth_538_cancel_external),
        cmocka_unit_test(test_s8_auth_on_465),
        cmocka_unit_test(test_s9_overlap_events),
        cmocka_unit_test(test_s10a_midstream_in_body),
        cmocka_unit_test(test_s10b_midstream_in_tls),
        cmocka_unit_test(test_s10c_client_only),
        cmocka_unit_test(test_s10d_gap_over_starttls),
        cmocka_unit_test(test_s10e_truncated),
        cmocka_unit_test(test_starttls_accepted),
        cmocka_unit_test(test_starttls_454_then_plain),
        cmocka_unit_test(test_starttls_refused_quit),
        cmocka_unit_test(test_non_tls_after_220),
        cmocka_unit_test(test_tls_handshake_failed),
        cmocka_unit_test(test_implicit_tls_variants),
        cmocka_unit_test(test_xclient_220_is_not_starttls),
        cmocka_unit_test(test_lmtp_multi_reply),
        cmocka_unit_test(test_421_mid_data),
        cmocka_unit_test(test_gap_before_tls_server),
        cmocka_unit_test(test_gap_in_bdat_chunk),
        cmocka_unit_test(test_sniff_direction),
        cmocka_unit_test(test_bdat_huge),
        cmocka_unit_test(test_many_rcpts),
        cmocka_unit_test(test_nul_and_bad_utf8),
        cmocka_unit_test(test_ehlo_fallback_and_helo),
        cmocka_unit_test(test_pipelining_violation),
        cmocka_unit_test(test_requiretls_and_masked_keywords),
        cmocka_unit_test(test_long_line_and_malformed_reply),
        cmocka_unit_test(test_long_sasl_line),
        cmocka_unit_test(test_abandoned_transactions),
        cmocka_unit_test(test_gap_in_hold),
        cmocka_unit_test(test_server_only),
        cmocka_unit_test(test_address_forms),
        cmocka_unit_test(test_starttls_hello_same_segment),
        cmocka_unit_test(test_client_only_starttls),
        cmocka_unit_test(test_hold_overflow),
        cmocka_unit_test(test_fifo_overflow),
        cmocka_unit_test(test_many_pipelined_messages),
        cmocka_unit_test(test_auth_pipelining),
        cmocka_unit_test(test_midstream_commands),
        cmocka_unit_test(test_421_greeting_and_noise),
        cmocka_unit_test(test_random_robustness),
        cmocka_unit_test(test_api_edges),
        cmocka_unit_test(test_session_level_findings),
        cmocka_unit_test(test_token_masked_alone),
        cmocka_unit_test(test_non_tls_after_220_not_pipelining),
        cmocka_unit_test(test_one_sided_with_server_gaps),
        cmocka_unit_test(test_server_starts_late),
        cmocka_unit_test(test_server_gap_recovery_snaplen),
        cmocka_unit_test(test_server_gap_recovery_cut_reply),
        cmocka_unit_test(test_server_gap_conservative),
        cmocka_unit_test(test_all_ports_not_smtp),
        cmocka_unit_test(test_all_ports_smtp),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
