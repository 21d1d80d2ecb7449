/*
 * smtp_auth.c — AUTH (RFC 4954) as seen in cleartext: the mechanism, the
 * SASL messages the client sent, what they exposed (via sasl.h), and the
 * outcome from the final reply.
 *
 * Secrets: a SASL message is decoded into a stack buffer, examined by
 * sasl_examine() (which copies out the username only) and the buffer is
 * wiped with OPENSSL_cleanse before anything else happens.  The line
 * itself is wiped from our carry buffer afterwards (lb->wipe); the hold
 * buffer is always wiped when freed.  Evidence names the mechanism, the
 * step and the reply, never the username, the base64 or the secret.
 *
 * Exposure is decided at send time (exposed_credentials), the finding is
 * raised when the attempt ends (its reply is part of the evidence).
 */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include "smtp_int.h"

/* Client SASL messages a mechanism normally needs (for a hold resolved
 * without the server's replies). */
static int expected_msgs(enum sasl_mech m)
{
    switch (m) {
    case SASL_LOGIN:
    case SASL_DIGEST_MD5:
    case SASL_NTLM:
    case SASL_SCRAM:
    case SASL_GSSAPI:
        return 2;
    default:
        return 1;
    }
}

int smtp_auth_expects_more(const struct dis_session *s)
{
    const struct auth_try *a = &s->auth;

    return a->active && !a->cancelled && a->msgs < expected_msgs(a->mech);
}

/* One client SASL message (base64, or "=" for empty): what it exposes. */
static void examine(struct dis_session *s, struct span b64, int step, double ts,
                    int via_ir)
{
    struct auth_try *a = &s->auth;
    uint8_t dec[(DIS_LINE_MAX / 4) * 3 + 4];
    size_t dlen = 0;
    char user[MT_STR];
    enum sasl_secret sec;

    a->msgs++;
    if (b64.len == 0 || (b64.len == 1 && b64.p[0] == '='))
        return;
    if (sasl_b64_decode(b64.p, b64.len, dec, sizeof dec, &dlen) != 0)
        return;                         /* not base64: nothing can be said */
    user[0] = '\0';
    sec = sasl_examine(a->mech, step, a->login_msgs > 0 ? 1 : 0, dec, dlen,
                       user, sizeof user);
    OPENSSL_cleanse(dec, dlen);
    if (a->mech == SASL_LOGIN && dlen > 0)
        a->login_msgs++;
    if (user[0] != '\0') {
        memcpy(a->user, user, sizeof a->user);
        a->exposed = 1;
    }
    if (sec == SASL_SECRET_NONE)
        return;
    a->exposed = 1;
    if (a->secret == SASL_SECRET_NONE) {
        a->secret = sec;
        a->secret_ts = ts;
        a->secret_via_ir = via_ir;
    }
    if (!s->out.exposed_credentials)
        s->cred_ts = ts;
    s->out.exposed_credentials = 1;
    s->n_exposures++;
    if (sec == SASL_SECRET_PASSWORD || sec == SASL_SECRET_TOKEN)
        s->cred_pw_finding = 1;
}

/* "AUTH mech [initial-response]" sent in cleartext. */
void smtp_auth_command(struct dis_session *s, struct span arg, double ts,
                       struct pending *e)
{
    struct auth_try *a = &s->auth;
    struct span rest, mech = span_token(arg, &rest);
    struct span ir = span_token(rest, NULL);
    uint8_t up[48];
    size_t k = mech.len < sizeof up ? mech.len : sizeof up;

    if (a->active)
        smtp_auth_finish(s, 0, ts);     /* the previous one was never answered */
    memset(a, 0, sizeof *a);
    a->active = 1;
    a->ts = ts;
    a->mech = sasl_mech_parse(mech.p, mech.len);
    for (size_t i = 0; i < k; i++) {
        uint8_t c = mech.p[i];

        up[i] = (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
    }
    smtp_esc(a->mech_name, sizeof a->mech_name, up, k);
    if (!s->auth_used) {
        s->auth_used = 1;
        s->auth_ts = ts;
    }
    /* The reply decides what the next client line is (334: a SASL
     * response), so the client stream is held until it comes. */
    e->flags |= PE_HOLD;
    if (!((a->mech == SASL_PLAIN || a->mech == SASL_EXTERNAL) && ir.len > 0))
        e->flags |= PE_RESTRICTED;      /* RFC 4954 §4 with PIPELINING */
    if (ir.len > 0) {
        a->ir = 1;
        examine(s, ir, 0, ts, 1);
        s->lb[R_CLI].wipe = 1;
    }
}

/* A client line answering a 334. */
void smtp_auth_sasl_line(struct dis_session *s, struct span line, double ts,
                         uint64_t chunk)
{
    struct auth_try *a = &s->auth;
    struct span t = span_trim(line);
    struct pending e;

    s->sasl_expect = 0;
    s->lb[R_CLI].wipe = 1;
    if (t.len == 1 && t.p[0] == '*') {
        a->cancelled = 1;
    } else if (a->active) {
        int step = a->msgs - a->ir + 1;

        examine(s, t, step, ts, 0);
    }
    memset(&e, 0, sizeof e);
    e.cmd = CMD_SASL;
    e.count = 1;
    e.chunk = chunk;
    e.ts = ts;
    e.flags = PE_HOLD;
    smtp_fifo_push(s, &e);
    smtp_hold_start(s, CMD_SASL, chunk, ts);
}

static const char *outcome_name(int code, int cancelled)
{
    if (code == 0)
        return "unknown";
    if (code / 100 == 2)
        return "success";
    if (code == 538)
        return "encryption_required";
    if (code == 501)
        return cancelled ? "cancelled" : "rejected";
    if (code == 504)
        return "rejected";
    if (code / 100 == 4)
        return "temporary";
    if (code / 100 == 5)
        return "failure";
    return "unknown";
}

/* The credential finding of an attempt that sent a secret. */
static void credential_finding(struct dis_session *s, const struct auth_try *a,
                               int code)
{
    enum fk kind;
    enum mt_severity sev = MT_SEV_CRITICAL;
    const char *what;
    char reply[24];

    switch (a->mech) {
    case SASL_PLAIN:
        kind = FK_AUTH_PLAIN_CLEARTEXT;
        what = a->secret_via_ir ? "with initial response" : "response to 334";
        break;
    case SASL_LOGIN:
        kind = FK_AUTH_LOGIN_CLEARTEXT;
        what = "password step";
        break;
    case SASL_XOAUTH2:
    case SASL_OAUTHBEARER:
        kind = FK_AUTH_BEARER_TOKEN_CLEARTEXT;
        what = "bearer token";
        break;
    case SASL_CRAM_MD5:
    case SASL_DIGEST_MD5:
    case SASL_NTLM:
        kind = FK_AUTH_CHALLENGE_RESPONSE_CLEARTEXT;
        sev = MT_SEV_HIGH;
        what = "challenge response";
        break;
    case SASL_SCRAM:
        kind = FK_AUTH_CHALLENGE_RESPONSE_CLEARTEXT;
        sev = MT_SEV_MEDIUM;
        what = "challenge response";
        break;
    default:
        if (a->secret == SASL_SECRET_TOKEN) {
            kind = FK_AUTH_BEARER_TOKEN_CLEARTEXT;
            what = "bearer token";
        } else if (a->secret == SASL_SECRET_CHALLENGE) {
            kind = FK_AUTH_CHALLENGE_RESPONSE_CLEARTEXT;
            sev = MT_SEV_HIGH;
            what = "challenge response";
        } else {
            kind = FK_AUTH_PLAIN_CLEARTEXT;
            what = "password";
        }
        break;
    }
    if (code)
        snprintf(reply, sizeof reply, "reply %d", code);
    else
        snprintf(reply, sizeof reply, "no reply seen");
    smtp_finding(s, kind, sev, a->secret_ts, 0, -1, "AUTH %s %s in cleartext, %s",
                 a->mech_name, what, reply);
}

/* Copies a NUL-terminated string of ours into a fixed field, cut if needed. */
static void put_field(char *dst, size_t dstsz, const char *src)
{
    size_t n = strlen(src);

    if (n >= dstsz)
        n = dstsz - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/*
 * The attempt ends with reply code (0: none seen).  The session keeps the
 * last attempt that exposed something, else the last attempt.
 */
void smtp_auth_finish(struct dis_session *s, int code, double ts)
{
    struct auth_try *a = &s->auth;

    (void)ts;
    if (!a->active)
        return;
    a->active = 0;
    if (a->secret != SASL_SECRET_NONE)
        credential_finding(s, a, code);
    if (a->exposed || !s->auth_best_exposed) {
        put_field(s->out.auth_mechanism, sizeof s->out.auth_mechanism, a->mech_name);
        put_field(s->out.auth_user, sizeof s->out.auth_user, a->user);
        put_field(s->out.auth_outcome, sizeof s->out.auth_outcome,
                  outcome_name(code, a->cancelled));
        if (a->exposed)
            s->auth_best_exposed = 1;
    }
}

/* Reply to AUTH or to a SASL response. */
void smtp_auth_reply(struct dis_session *s, const struct pending *e, int code,
                     double ts)
{
    if (e->flags & PE_BLIND) {
        /* the held bytes were already resolved; only the outcome is new */
        if (code != 334)
            smtp_auth_finish(s, code, ts);
        return;
    }
    if (code == 334) {
        s->sasl_expect = s->auth.active;
        smtp_hold_release(s, CM_CMD);
        return;
    }
    smtp_auth_finish(s, code, ts);
    s->sasl_expect = 0;
    if (e->flags & PE_RESTRICTED)
        s->pl_chunk = e->chunk;
    smtp_hold_release(s, CM_CMD);
}
