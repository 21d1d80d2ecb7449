#!/usr/bin/python3
"""check.py WHAT DB [ARGS...] — checks of the live capture test.

Prints one line per check, "ok: ..." or "FAIL: ...".  WHAT:
  midrun DB                  while capture runs: ended sessions committed,
                             the long one visible and not complete
  main DB SECRET EVENTS...   after the main run (default filter, -Z)
  allports DB                after the --all-ports run
  filter DB                  after the -f 'tcp port 587' run
  events DB EVENTS...        events file(s) match the database exactly
"""
import base64
import json
import sqlite3
import sys

fails = 0


def check(cond, what):
    global fails
    if cond:
        print("ok: " + what)
    else:
        fails += 1
        print("FAIL: " + what)


def rows(db, sql, args=()):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, args)]
    finally:
        con.close()


def session(db, port, helo):
    if helo is None:
        r = rows(db, "SELECT * FROM sessions WHERE server_port = ? AND helo IS NULL", (port,))
    else:
        r = rows(db, "SELECT * FROM sessions WHERE server_port = ? AND helo = ?", (port, helo))
    return r[0] if len(r) == 1 else None


def capture_row(db, status="complete"):
    caps = rows(db, "SELECT * FROM captures")
    check(len(caps) == 1, "one capture row (got %d)" % len(caps))
    if not caps:
        return None
    c = caps[0]
    check(c["kind"] == "live" and c["source"] == "live:veth1", "capture row is live:veth1")
    check(c["status"] == status, "capture status %s (got %s)" % (status, c["status"]))
    check(c["packets"] > 0 and c["bytes"] > 0, "capture row counts packets (%d)" % c["packets"])
    check(c["first_ts"] is not None and c["last_ts"] is not None
          and c["last_ts"] >= c["first_ts"], "capture row has first/last packet times")
    check(isinstance(c["dropped"], int) and isinstance(c["ifdropped"], int),
          "capture row has pcap drop counters (kernel %s, interface %s)"
          % (c["dropped"], c["ifdropped"]))
    return c


def same_value(ev, col):
    """An event value against its database column (booleans are 0/1 there)."""
    if isinstance(ev, bool):
        return col == int(ev)
    if isinstance(ev, float) or isinstance(col, float):
        return ev is not None and col is not None and abs(ev - col) < 1e-5
    return ev == col


def endpoint(ip, port):
    return ("[%s]:%d" if ":" in ip else "%s:%d") % (ip, port)


def load_events(files):
    evs = []
    for f in files:
        with open(f, "rb") as fh:
            for n, line in enumerate(fh, 1):
                try:
                    ev = json.loads(line.decode("utf-8"))
                    if not isinstance(ev, dict) or "type" not in ev:
                        raise ValueError("not an event object")
                    evs.append(ev)
                except ValueError as e:
                    check(False, "%s line %d parses as a JSON event: %s" % (f, n, e))
    return evs


def check_events(db, files):
    evs = load_events(files)
    check(len(evs) > 0, "events written (%d lines)" % len(evs))
    caps = rows(db, "SELECT id FROM captures")
    cap_ids = {c["id"] for c in caps}
    check(all(e.get("capture_id") in cap_ids for e in evs), "every event names its capture")
    ses = {r["id"]: r for r in rows(db, "SELECT * FROM sessions")}
    sev = [e for e in evs if e["type"] == "session"]
    ids = [e["session_id"] for e in sev]
    check(sorted(ids) == sorted(ses), "one session event per stored session (%d events, %d rows)"
          % (len(ids), len(ses)))
    for e in sev:
        r = ses.get(e["session_id"])
        if r is None:
            continue
        diff = [k for k in e if k in r and not same_value(e[k], r[k])]
        if e["client"] != endpoint(r["client_ip"], r["client_port"]):
            diff.append("client")
        if e["server"] != endpoint(r["server_ip"], r["server_port"]):
            diff.append("server")
        if abs(e["ts"] - r["start_ts"]) > 1e-5:
            diff.append("ts")
        check(not diff, "session event %d matches its row %s" % (e["session_id"], diff))
    nf = rows(db, "SELECT count(*) AS n FROM findings")[0]["n"]
    fev = [e for e in evs if e["type"] == "finding"]
    check(len(fev) == nf, "one finding event per stored finding (%d events, %d rows)"
          % (len(fev), nf))
    check(all(set(("session_id", "kind", "severity", "ts", "evidence")) <= set(e) for e in fev),
          "finding events have session_id, kind, severity, ts, evidence")
    nm = rows(db, "SELECT count(*) AS n FROM messages")[0]["n"]
    mev = [e for e in evs if e["type"] == "message"]
    check(len(mev) == nm, "one message event per stored message (%d events, %d rows)"
          % (len(mev), nm))
    check(all(e["type"] in ("session", "finding", "message") for e in evs), "only known event types")
    return evs


def main():
    what, db = sys.argv[1], sys.argv[2]
    if what == "midrun":
        a = session(db, 25, "auth.corp.example")
        b = session(db, 25, "tls.corp.example")
        check(a is not None and a["complete"] == 1 and a["protection"] == "cleartext",
              "while running: the cleartext session is committed")
        check(b is not None and b["complete"] == 1 and b["protection"] == "starttls",
              "while running: the STARTTLS session is committed")
        # the helo column is written when the session ends: look for the
        # one session on 587 still open
        h = rows(db, "SELECT * FROM sessions WHERE server_port = 587 AND complete = 0")
        check(len(h) == 1,
              "while running: the long session is visible, not complete yet")
    elif what == "main":
        secret, files = sys.argv[3], sys.argv[4:]
        capture_row(db)
        n = rows(db, "SELECT count(*) AS n FROM sessions")[0]["n"]
        probes = rows(db, "SELECT protection, complete FROM sessions"
                          " WHERE server_port = 587 AND helo = 'probe.corp.example'")
        check(len(probes) == 3 and all(p["protection"] == "cleartext" for p in probes),
              "the 3 probe sessions stored, cleartext")
        check(n == 5 + len(probes), "%d sessions stored (got %d)" % (5 + len(probes), n))
        check(rows(db, "SELECT count(*) AS n FROM sessions WHERE complete = 1")[0]["n"] == n,
              "every session complete")
        a = session(db, 25, "auth.corp.example")
        check(a is not None, "cleartext AUTH PLAIN session stored")
        if a:
            check(a["protection"] == "cleartext", "cleartext session: protection cleartext (%s)"
                  % a["protection"])
            check(a["exposed_credentials"] == 1 and a["auth_mechanism"] == "PLAIN"
                  and a["auth_user"] == "alice" and a["auth_outcome"] == "success",
                  "cleartext session: credentials exposed, PLAIN, user alice, success")
            check(a["exposed_content"] == 1 and a["cleartext_messages"] == 1,
                  "cleartext session: the message content exposed")
            check(a["end_reason"] == "fin" and a["syn_seen"] == 1, "cleartext session: SYN to FIN")
            kinds = {r["kind"] for r in rows(db, "SELECT kind FROM findings WHERE session_id = ?",
                                             (a["id"],))}
            check("auth_plain_cleartext" in kinds, "finding auth_plain_cleartext raised")
        b = session(db, 25, "tls.corp.example")
        check(b is not None and b["protection"] == "starttls" and b["starttls_reply"] == 220
              and b["exposed_credentials"] == 0 and b["exposed_content"] == 0,
              "STARTTLS session: protection starttls, nothing exposed")
        c = session(db, 465, None)
        check(c is not None and c["protection"] == "implicit_tls", "port 465 session: implicit_tls")
        for port, helo in ((25, "plain.corp.example"),
                           (587, "slow.corp.example")):
            s = session(db, port, helo)
            check(s is not None and s["protection"] == "cleartext" and s["complete"] == 1,
                  "%s session on %d stored, cleartext" % (helo, port))
        check(not rows(db, "SELECT id FROM sessions WHERE server_port = 2525"),
              "port 2525 is outside the default filter: not stored")
        check_events(db, files)
        tag = base64.b64encode(b"\0alice\0" + secret.encode()).decode()
        leaked = []
        for f in [db, db + "-wal"] + files:
            try:
                data = open(f, "rb").read()
            except OSError:
                continue
            if secret.encode() in data or tag.encode() in data:
                leaked.append(f)
        check(not leaked, "the password appears nowhere (database, WAL, events) %s" % leaked)
    elif what == "allports":
        capture_row(db)
        s = session(db, 2525, "plain.corp.example")
        check(s is not None and s["protection"] == "cleartext",
              "--all-ports: SMTP on port 2525 found and stored")
        check(not rows(db, "SELECT id FROM sessions WHERE server_port = 8080"),
              "--all-ports: the HTTP connection is not stored")
    elif what == "filter":
        capture_row(db)
        s = session(db, 587, "plain.corp.example")
        check(s is not None, "-f 'tcp port 587': the port 587 session is stored")
        check(not rows(db, "SELECT id FROM sessions WHERE server_port = 25"),
              "-f 'tcp port 587': port 25 is filtered out")
    elif what == "events":
        check_events(db, sys.argv[3:])
    else:
        sys.exit("unknown check " + what)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
