/*
 * sasl.h — what an AUTH exchange exposes, decoded without keeping secrets.
 *
 * Base64 is decoded with OpenSSL (EVP_DecodeBlock), never by hand.  The
 * functions below copy out the username only; the secret part of any
 * payload is never copied anywhere (callers wipe their decode buffers with
 * OPENSSL_cleanse).
 */
#ifndef MAILTAP_SASL_H
#define MAILTAP_SASL_H

#include <stddef.h>
#include <stdint.h>

enum sasl_mech {
    SASL_UNKNOWN = 0,
    SASL_PLAIN, SASL_LOGIN, SASL_CRAM_MD5, SASL_DIGEST_MD5, SASL_NTLM,
    SASL_XOAUTH2, SASL_OAUTHBEARER, SASL_SCRAM, /* any SCRAM-* */
    SASL_GSSAPI, SASL_EXTERNAL, SASL_ANONYMOUS
};

/* Mechanism name (case-insensitive) to enum; SASL_UNKNOWN otherwise. */
enum sasl_mech sasl_mech_parse(const uint8_t *name, size_t len);
/* Canonical upper-case name ("PLAIN", "SCRAM", ...). */
const char *sasl_mech_name(enum sasl_mech m);

/* Decodes base64 (whitespace not allowed, padding required as RFC 4648;
 * "=" alone is a zero-length response).  Returns 0 and sets *outlen, or -1
 * when the input is not valid base64 or does not fit in outsz. */
int sasl_b64_decode(const uint8_t *in, size_t inlen,
                    uint8_t *out, size_t outsz, size_t *outlen);

/* What the client revealed in one SASL message. */
enum sasl_secret {
    SASL_SECRET_NONE = 0,      /* nothing secret (username step, "=", "*") */
    SASL_SECRET_PASSWORD,      /* reusable password (PLAIN, LOGIN step 2)   */
    SASL_SECRET_TOKEN,         /* bearer token (XOAUTH2, OAUTHBEARER)       */
    SASL_SECRET_CHALLENGE      /* offline-attackable response (CRAM, NTLM, DIGEST, SCRAM) */
};

/*
 * Examines one client SASL message (already base64-decoded) of mechanism
 * mech.  step is 0 for the initial response on the AUTH line and 1, 2, ...
 * for the lines answering successive 334 challenges.  Copies the username
 * (escaped with mt_escape) into user when the message carries one (user[0]
 * is left untouched otherwise) and returns what kind of secret the message
 * itself carried.
 *   PLAIN: "[authzid] NUL authcid NUL passwd" -> authcid; PASSWORD when the
 *          password part is present.
 *   LOGIN: step holding the username (initial response, or first 334
 *          answer) -> NONE + user; the next step -> PASSWORD.  The caller
 *          tells which by login_step (0 = username expected, 1 = password).
 *   CRAM-MD5: "user SP hexdigest" -> user, CHALLENGE.
 *   XOAUTH2: "user=U\x01auth=Bearer T\x01\x01" -> U, TOKEN.
 *   OAUTHBEARER: gs2 header "n,a=U," ... "auth=Bearer T" -> U, TOKEN.
 *   NTLM: type 3 message -> DOMAIN\user (UTF-16LE or OEM), CHALLENGE;
 *         type 1 -> NONE.
 *   SCRAM: client-first "n,,n=U,r=..." -> U, NONE; client-final -> CHALLENGE.
 *   DIGEST-MD5: username="U" -> U, CHALLENGE.
 *   EXTERNAL / ANONYMOUS / GSSAPI: NONE (EXTERNAL authzid copied as user).
 */
enum sasl_secret sasl_examine(enum sasl_mech mech, int step, int login_step,
                              const uint8_t *dec, size_t len,
                              char *user, size_t usersz);

#endif
