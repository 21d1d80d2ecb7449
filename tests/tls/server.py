#!/usr/bin/python3
"""Tiny SMTP server for the TLS captures: one scenario, N connections.
usage: server.py PORT MODE CERT KEY [TLSVER] [CIPHERS] [NCONN]
MODE: starttls | implicit | refuse    TLSVER: 1.0 | 1.2 | 1.3 | any"""
import socket, ssl, sys

port, mode, certf, keyf = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ver = sys.argv[5] if len(sys.argv) > 5 else "any"
ciphers = sys.argv[6] if len(sys.argv) > 6 else ""
nconn = int(sys.argv[7]) if len(sys.argv) > 7 else 1

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
V = {"1.0": ssl.TLSVersion.TLSv1, "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
if ver in V:
    ctx.minimum_version = ctx.maximum_version = V[ver]
else:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
if ciphers:
    ctx.set_ciphers(ciphers)
ctx.load_cert_chain(certf, keyf)

def lines(f):
    while True:
        l = f.readline()
        if not l:
            return
        yield l.decode("latin-1").rstrip("\r\n")

def dialogue(conn, tls):
    f = conn.makefile("rb")
    def send(s):
        conn.sendall(s.encode() + b"\r\n")
    for l in lines(f):
        v = l.split(" ")[0].upper()
        if v in ("EHLO", "HELO"):
            kw = ["250-mx.test.example", "250-PIPELINING", "250-SIZE 10240000"]
            if not tls:
                kw.append("250-STARTTLS")
            kw.append("250 8BITMIME")
            send("\r\n".join(kw))
        elif v == "STARTTLS" and not tls:
            if mode == "refuse":
                send("454 4.7.0 TLS not available due to temporary reason")
                continue
            send("220 2.0.0 Ready to start TLS")
            return "starttls"
        elif v == "MAIL" or v == "RCPT" or v == "RSET" or v == "NOOP":
            send("250 2.1.0 Ok")
        elif v == "DATA":
            send("354 End data with <CR><LF>.<CR><LF>")
            for b in lines(f):
                if b == ".":
                    break
            send("250 2.0.0 Ok: queued as 4ABCDEF")
        elif v == "QUIT":
            send("221 2.0.0 Bye")
            return "quit"
        else:
            send("502 5.5.2 Error: command not recognized")
    return "eof"

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(4)
print("ready", flush=True)
for _ in range(nconn):
    conn, _a = srv.accept()
    try:
        if mode == "implicit":
            conn = ctx.wrap_socket(conn, server_side=True)
            conn.sendall(b"220 mx.test.example ESMTP\r\n")
            dialogue(conn, True)
        else:
            conn.sendall(b"220 mx.test.example ESMTP\r\n")
            if dialogue(conn, False) == "starttls":
                conn = ctx.wrap_socket(conn, server_side=True)
                dialogue(conn, True)
        try:
            conn.unwrap() if isinstance(conn, ssl.SSLSocket) else None
        except Exception:
            pass
    except Exception as e:
        print("server:", e, file=sys.stderr)
    conn.close()
srv.close()
