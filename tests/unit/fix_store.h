/*
 * fix_store.h — fixtures shared by the store/ and reports/ unit tests: a
 * per-test temporary directory, one-value SQL queries, a fresh RW store,
 * endpoints.  Linked from build/libunitfix.a (see the Makefile).
 */
#ifndef MT_FIX_STORE_H
#define MT_FIX_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"

/* The directory made by tmpdir_make (empty before). */
extern char tmpdir[256];

/* Makes base/name_XXXXXX (base NULL or "": /tmp); 0, or -1 on error. */
int tmpdir_make(const char *base, const char *name);

/* Removes the temporary directory and what is in it; 0, or -1. */
int tmpdir_remove(void);

/* Path of a file in the test directory (static buffer, one of four). */
const char *tpath(const char *name);

/* Runs a one-value query on db and returns it as int64 (-999 on error). */
long long q_int(sqlite3 *db, const char *sql);

/* Runs a one-value query and copies the text result to out ("<null>",
 * "<error>"). */
void q_text(sqlite3 *db, const char *sql, char *out, size_t outsz);

/* Opens (creating) the RW store tpath(name); NULL with the error printed. */
store_t *open_rw(const char *name);

/* Endpoints client c:cp -> server sv:sp. */
void fill_endpoints(struct store_endpoints *ep, const char *c, uint16_t cp, const char *sv,
                    uint16_t sp);

#endif
