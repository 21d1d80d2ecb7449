#!/usr/bin/python3
"""real_client.py — a small SMTP client for make_real.sh, for what swaks
cannot do (BDAT, several transactions and RSET on one connection).

    real_client.py SCRIPT SERVER_IP SERVER_PORT LOCAL_PORT

SCRIPT is one of:
  bdat   EHLO, MAIL, RCPT, BDAT 200 + BDAT n LAST, QUIT
  multi  EHLO, three transactions (the second one abandoned with RSET),
         a rejected recipient in the last one, QUIT

Every command waits for its reply (no pipelining); exits non-zero on an
unexpected reply class.  Standard library only.
"""

import socket
import sys

CRLF = b"\r\n"


class Client:
    def __init__(self, server, port, lport):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", lport))
        self.sock.settimeout(20)
        self.sock.connect((server, port))
        self.buf = b""

    def line(self):
        while CRLF not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise SystemExit("real_client: connection closed")
            self.buf += chunk
        ln, self.buf = self.buf.split(CRLF, 1)
        return ln

    def reply(self):
        lines = []
        while True:
            ln = self.line()
            lines.append(ln)
            if len(ln) < 4 or ln[3:4] != b"-":
                break
        code = int(lines[-1][:3])
        sys.stdout.write("S: %s\n" % b" | ".join(lines).decode("utf-8", "replace"))
        return code

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, line, expect):
        sys.stdout.write("C: %s\n" % line)
        self.send(line.encode() + CRLF)
        code = self.reply()
        if code // 100 != expect:
            raise SystemExit("real_client: %r answered %d" % (line, code))
        return code

    def close(self):
        self.sock.close()


def message(n, subject):
    return ("From: Alice <alice@test.example>\r\n"
            "To: Bob <bob@test.example>\r\n"
            "Subject: %s\r\n"
            "Date: Wed, 15 Nov 2023 10:00:00 +0000\r\n"
            "Message-ID: <real-%d@client.test.example>\r\n"
            "\r\n"
            "Message number %d of the real-capture set.\r\n"
            ".A line that starts with a dot.\r\n"
            "Bye.\r\n" % (subject, n, n)).encode()


def dot_stuff(content):
    out = []
    for ln in content.split(CRLF):
        out.append(b"." + ln if ln.startswith(b".") else ln)
    return CRLF.join(out)


def data(c, content):
    c.cmd("DATA", 3)
    c.send(dot_stuff(content) + b".\r\n")
    return c.reply()


def script_bdat(c):
    c.reply()
    c.cmd("EHLO client.test.example", 2)
    c.cmd("MAIL FROM:<alice@test.example>", 2)
    c.cmd("RCPT TO:<bob@test.example>", 2)
    content = message(1, "real BDAT")          # BDAT: no dot-stuffing
    first, rest = content[:200], content[200:]
    sys.stdout.write("C: BDAT %d + BDAT %d LAST (%d octets)\n" % (len(first), len(rest), len(content)))
    c.send(b"BDAT %d\r\n" % len(first) + first)
    if c.reply() // 100 != 2:
        raise SystemExit("real_client: BDAT refused")
    c.send(b"BDAT %d LAST\r\n" % len(rest) + rest)
    if c.reply() // 100 != 2:
        raise SystemExit("real_client: BDAT LAST refused")
    c.cmd("QUIT", 2)


def script_multi(c):
    c.reply()
    c.cmd("EHLO client.test.example", 2)
    c.cmd("MAIL FROM:<alice@test.example>", 2)
    c.cmd("RCPT TO:<bob@test.example>", 2)
    data(c, message(1, "real multi 1"))
    c.cmd("MAIL FROM:<alice@test.example>", 2)
    c.cmd("RCPT TO:<carol@test.example>", 2)
    c.cmd("RSET", 2)
    c.cmd("MAIL FROM:<alice@test.example>", 2)
    c.cmd("RCPT TO:<carol@test.example>", 2)
    c.cmd("RCPT TO:<mallory@elsewhere.example>", 5)
    data(c, message(2, "real multi 2"))
    c.cmd("QUIT", 2)


def main(argv):
    if len(argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    script, server, port, lport = argv[1], argv[2], int(argv[3]), int(argv[4])
    fn = {"bdat": script_bdat, "multi": script_multi}[script]
    c = Client(server, port, lport)
    try:
        fn(c)
    finally:
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
