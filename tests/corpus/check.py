#!/usr/bin/python3
"""check.py MAILTAP CORPUS_DIR — analyse every capture of ../shared/corpus and
compare the sessions with STREAMS.tsv (a second opinion made by tshark plus an
independent parser).

Fails when mailtap crashes (signal, sanitizer report) on any capture, or when
a session disagrees with STREAMS.tsv on a compared field and the disagreement
is not listed, with the reason, in known_disagreements.tsv beside this file.
Prints the agreement figure per field.
"""
import csv, os, shutil, sqlite3, subprocess, sys, tempfile

FIELDS = [
    # (name in report, STREAMS column(s) -> expected value, sessions column)
    ("starttls_offered", lambda r: int(r["offers_starttls"]), "starttls_offered"),
    ("starttls_requested", lambda r: int(r["starttls"]), "starttls_requested"),
    ("cleartext_messages", lambda r: int(r["msgs_plain"]) + int(r["msgs_incomplete"]), "cleartext_messages"),
    ("auth_mechanism", lambda r: (r["auth_mechs"].split() or [""])[-1].upper(), "auth_mechanism"),
]


def endpoint(ip, port):
    return ("[%s]:%d" % (ip, port)) if ":" in ip else ("%s:%d" % (ip, port))


def main():
    mailtap, corpus = sys.argv[1], sys.argv[2]
    here = os.path.dirname(os.path.abspath(__file__))
    known = {}
    kpath = os.path.join(here, "known_disagreements.tsv")
    if os.path.exists(kpath):
        with open(kpath) as f:
            for row in csv.reader(f, delimiter="\t"):
                if not row or row[0].startswith("#") or len(row) < 5:
                    continue
                known[(row[0], row[1], row[2])] = row[3:]
    streams = {}
    with open(os.path.join(corpus, "STREAMS.tsv")) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            streams.setdefault(r["file"], []).append(r)
    with open(os.path.join(corpus, "MANIFEST.tsv")) as f:
        files = [r["file"] for r in csv.DictReader(f, delimiter="\t")]

    crashes = 0
    unexplained = 0
    agree = {name: [0, 0] for name, _, _ in FIELDS}
    missing = 0
    tmp = tempfile.mkdtemp()
    for i, name in enumerate(files):
        path = os.path.join(corpus, name)
        db = os.path.join(tmp, "c%d.db" % i)
        p = subprocess.run([mailtap, "analyze", "-q", "--all-ports", "-d", db, path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        err = p.stderr.decode("utf-8", "replace")
        if p.returncode < 0 or p.returncode > 2 or "Sanitizer" in err or "runtime error" in err:
            print("FAIL corpus %s: exit %d %s" % (name, p.returncode, err[:400]))
            crashes += 1
            continue
        if not os.path.exists(db):
            print("FAIL corpus %s: no database (%s)" % (name, err.strip()[:200]))
            crashes += 1
            continue
        con = sqlite3.connect(db)
        con.row_factory = sqlite3.Row
        rows = con.execute("SELECT * FROM sessions").fetchall()
        by_ep = {(endpoint(r["client_ip"], r["client_port"]), endpoint(r["server_ip"], r["server_port"])): r
                 for r in rows}
        for st in streams.get(name, []):
            key = (st["client"], st["server"])
            s = by_ep.get(key)
            if s is None:
                k = known.get((name, st["client"], "session"))
                if k:
                    continue
                print("DISAGREE %s %s > %s: session not found" % (name, st["client"], st["server"]))
                missing += 1
                unexplained += 1
                continue
            for fname, want_fn, col in FIELDS:
                want = want_fn(st)
                got = s[col]
                if got is None:
                    got = "" if isinstance(want, str) else 0
                agree[fname][1] += 1
                if got == want:
                    agree[fname][0] += 1
                    continue
                if (name, st["client"], fname) in known:
                    continue
                print("DISAGREE %s %s > %s: %s mailtap=%r streams=%r" % (
                    name, st["client"], st["server"], fname, got, want))
                unexplained += 1
        con.close()
    # The wireshark-samples STARTTLS captures come with TLS keylogs: tshark
    # decrypts them and shows MAIL inside TLS; mailtap (which never decrypts)
    # must call those sessions starttls with nothing exposed.
    tshark = shutil.which("tshark")
    for name, port in (("wireshark-samples/smtp-ssl.pcapng", 25),
                       ("wireshark-samples/smtp2525-ssl.pcapng", 2525)):
        path = os.path.join(corpus, name)
        keylog = path.replace(".pcapng", ".keylog")
        if not tshark or not os.path.exists(keylog) or name not in files:
            continue
        out = subprocess.run([tshark, "-r", path, "-o", "tls.keylog_file:" + keylog,
                              "-d", "tcp.port==%d,smtp" % port, "-Y", "smtp.req.command",
                              "-T", "fields", "-e", "smtp.req.command"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120)
        cmds = out.stdout.decode().split()
        # tshark's smtp.req.command holds the first four letters ("STAR")
        starts = [i for i, c in enumerate(cmds) if c.upper().startswith("STAR")]
        inside = [c.upper() for c in cmds[starts[0] + 1:]] if starts else []
        db = os.path.join(tmp, "c%d.db" % files.index(name))
        con = sqlite3.connect(db)
        rows = con.execute("SELECT protection, exposed_envelope, exposed_content, exposed_credentials"
                           " FROM sessions WHERE server_port = ?", (port,)).fetchall()
        con.close()
        if "MAIL" in inside and rows == [("starttls", 0, 0, 0)]:
            print("corpus keylog %s: MAIL only inside TLS (tshark, decrypted); mailtap: starttls, "
                  "nothing exposed" % name)
        else:
            print("DISAGREE keylog %s: commands inside TLS %r, mailtap sessions %r" % (name, inside, rows))
            unexplained += 1
    for fname, (a, t) in agree.items():
        print("corpus agreement %-20s %d/%d" % (fname, a, t))
    print("corpus: %d files, %d crashes, %d sessions missing, %d unexplained disagreements"
          % (len(files), crashes, missing, unexplained))
    return 1 if crashes or unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
