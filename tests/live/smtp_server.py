#!/usr/bin/python3
"""smtp_server.py ADDR CERT KEY READYFILE PORT...

A tiny SMTP server for the live capture test (never for real mail).  Every
port speaks ESMTP in cleartext and offers STARTTLS and AUTH PLAIN/LOGIN
(accepting any credentials, in the clear too: that is what the test wants
mailtap to notice), except 465 which is implicit TLS and 8080 which answers
one HTTP request (traffic that is not SMTP).  Messages are read
and thrown away.  Writes READYFILE once every port listens.
"""
import socket
import ssl
import sys
import threading


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def readline(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except (OSError, ssl.SSLError):
                return b""
            if not chunk:
                return b""
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def send(self, *lines):
        self.sock.sendall(b"".join(l + b"\r\n" for l in lines))


def http(sock):
    c = Conn(sock)
    while c.readline() not in (b"", b"\r\n", b"\n"):
        pass
    sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nnot mail\r\n")
    sock.close()


def session(sock, ctx, port):
    if port == 8080:
        return http(sock)
    tls = False
    if port == 465:
        sock = ctx.wrap_socket(sock, server_side=True)
        tls = True
    c = Conn(sock)
    c.send(b"220 mx.test.example ESMTP mailtap live test")
    while True:
        line = c.readline()
        if not line:
            break
        words = line.strip().split()
        verb = words[0].upper() if words else b""
        if verb in (b"EHLO", b"LHLO"):
            caps = [b"mx.test.example", b"PIPELINING", b"8BITMIME", b"SIZE 10240000"]
            if not tls:
                caps.append(b"STARTTLS")
            caps.append(b"AUTH PLAIN LOGIN")
            c.send(*[b"250-" + k for k in caps[:-1]], b"250 " + caps[-1])
        elif verb == b"HELO":
            c.send(b"250 mx.test.example")
        elif verb == b"STARTTLS" and not tls:
            c.send(b"220 2.0.0 ready to start TLS")
            sock = ctx.wrap_socket(sock, server_side=True)
            c = Conn(sock)
            tls = True
        elif verb == b"AUTH":
            mech = words[1].upper() if len(words) > 1 else b""
            if mech == b"PLAIN":
                if len(words) < 3:
                    c.send(b"334 ")
                    c.readline()
                c.send(b"235 2.7.0 authentication successful")
            elif mech == b"LOGIN":
                c.send(b"334 VXNlcm5hbWU6")
                c.readline()
                c.send(b"334 UGFzc3dvcmQ6")
                c.readline()
                c.send(b"235 2.7.0 authentication successful")
            else:
                c.send(b"504 5.5.4 mechanism not supported")
        elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            c.send(b"250 2.0.0 ok")
        elif verb == b"DATA":
            c.send(b"354 end with <CRLF>.<CRLF>")
            while True:
                l = c.readline()
                if not l or l in (b".\r\n", b".\n"):
                    break
            c.send(b"250 2.0.0 queued")
        elif verb == b"QUIT":
            c.send(b"221 2.0.0 bye")
            break
        else:
            c.send(b"500 5.5.1 unknown command")
    try:
        sock.close()
    except OSError:
        pass


def serve(lsock, ctx, port):
    while True:
        s, _ = lsock.accept()
        threading.Thread(target=session_safe, args=(s, ctx, port), daemon=True).start()


def session_safe(s, ctx, port):
    try:
        session(s, ctx, port)
    except (OSError, ssl.SSLError):
        s.close()


def main():
    addr, cert, key, ready = sys.argv[1:5]
    ports = [int(p) for p in sys.argv[5:]]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    threads = []
    for p in ports:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((addr, p))
        ls.listen(16)
        t = threading.Thread(target=serve, args=(ls, ctx, p), daemon=True)
        t.start()
        threads.append(t)
    with open(ready, "w") as f:
        f.write("ready\n")
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
