#!/usr/bin/python3
"""make_hostile.py — captures whose captured strings are hostile to reports.

Run with Debian's python3 (python3-scapy):   /usr/bin/python3 tests/pcaps/make_hostile.py [NAME...]

Makes h_hostile_strings.pcap and h_hostile_long.pcap: cleartext SMTP sessions
whose banner, EHLO argument, MAIL FROM / RCPT addresses, Subject, Message-ID,
AUTH PLAIN / LOGIN username (and one finding's evidence) carry what breaks
reports: markup (<script>, attribute-breaking quotes, an <img onerror>),
spreadsheet formulas (= + - @), NUL, invalid UTF-8 (ff fe, the overlong c0 af),
ANSI escapes, a C1 CSI, a bidi override (U+202E) and 5,000-byte values.  The
markup payloads set document.title to PWNED, so a browser test can tell
whether any of them ran.

The TCP/pcap machinery (Capture, Conv, write_pcap, the TLS record builders)
is imported from make_crafted.py, so the captures follow the same rules:
deterministic, 1 ms per packet, fixed ISNs, documentation addresses.  This
script's clock starts at 1700300000 (2023-11-18 09:33:20 UTC).  The
expected verdicts (h_*.expected) are written by hand; see README.md.
"""

import base64
import os
import sys

sys.dont_write_bytecode = True       # no __pycache__ in tests/pcaps
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from make_crafted import (Capture, Conv, write_pcap, tls_session, run_scenarios,  # noqa: E402
                          R250_MAIL, R250_RCPT, R354, R250_QUEUED, R220_TLS, QUIT, R221)

T0_US = 1700300000 * 1000000
R235 = b"235 2.7.0 Authentication successful\r\n"
R535 = b"535 5.7.8 Error: authentication failed\r\n"
P_USER = b"334 VXNlcm5hbWU6\r\n"          # "Username:"
P_PASS = b"334 UGFzc3dvcmQ6\r\n"          # "Password:"

# ---- the payloads ----------------------------------------------------------

SCRIPT = b"<script>document.title='PWNED';alert(1)</script>"
ATTR = b"\"><img src=x onerror=\"document.title='PWNED'\">"      # has spaces
ATTR_NS = b"\"'><img/src=x/onerror=document.title='PWNED'>"      # one token
HYPER = b'=HYPERLINK("http://x")'
CTRL = (b"nul\x00byte\xff\xfe\xc0\xaf\x1b[31mred\x1b[0m\xc2\x9b2J"
        + "\u202eevil".encode())                                 # NUL .. bidi

# Submission server answer to EHLO: AUTH offered, no STARTTLS (so nothing is
# encrypted and every string crosses in clear).
SUB_EHLO_NOTLS = (b"250-%s\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n"
                  b"250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n")
MX_EHLO_NOTLS = b"250-%s\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
MX_EHLO_TLS = b"250-%s\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"


def b64(data):
    return base64.b64encode(data)


def message(subject, msgid, frm=b"<sender@evil.example>", text=b"hostile strings test\r\n"):
    """Headers with raw byte values (no encoding), CRLF, no dot-leading line."""
    return (b"From: " + frm + b"\r\nTo: <victim@example.com>\r\nSubject: " + subject +
            b"\r\nDate: Sat, 18 Nov 2023 09:33:20 +0000\r\nMessage-ID: " + msgid +
            b"\r\n\r\n" + text)


def session(cap, cip, sip, cport, sport, banner, helo, ehlo_reply, auth, mail_from, rcpts,
            content):
    """greeting, EHLO, optional AUTH exchange, one transaction, QUIT.
    auth: list of (client line, server reply) or None."""
    cv = Conv(cap, cip, sip, cport, sport, cisn=3000000 + cport, sisn=4000000 + cport)
    cv.handshake()
    cv.s(b"220 " + banner + b" ESMTP\r\n")
    cv.cmd(b"EHLO " + helo + b"\r\n", ehlo_reply)
    for line, reply in auth or []:
        cv.cmd(line, reply)
    cv.cmd(b"MAIL FROM:<" + mail_from + b">\r\n", R250_MAIL)
    for r in rcpts:
        cv.cmd(b"RCPT TO:<" + r + b">\r\n", R250_RCPT)
    cv.cmd(b"DATA\r\n", R354)
    cv.c(content + b".\r\n")
    cv.s(R250_QUEUED)
    cv.cmd(QUIT, R221)
    cv.close()
    cap.gap_time(1)
    return cv


def login(user, ok=True):
    """AUTH LOGIN: username step, password step (fake password)."""
    return [(b"AUTH LOGIN\r\n", P_USER), (b64(user) + b"\r\n", P_PASS),
            (b64(b"NotTheRealPassword") + b"\r\n", R235 if ok else R535)]


def plain(user):
    return [(b"AUTH PLAIN " + b64(b"\x00" + user + b"\x00NotTheRealPassword") + b"\r\n", R235)]


SCENARIOS = []


def scenario(fn):
    SCENARIOS.append(fn)
    return fn


@scenario
def h_hostile_strings():
    cap = Capture(T0_US)
    # 1. <script> everywhere; AUTH LOGIN on 587.
    session(cap, "203.0.113.61", "198.51.100.61", 43001, 587,
            banner=SCRIPT, helo=SCRIPT, ehlo_reply=SUB_EHLO_NOTLS % b"sub.example.net",
            auth=login(SCRIPT),
            mail_from=b'"<script>alert(1)</script>"@evil.example',
            rcpts=[b"victim@example.com"],
            content=message(SCRIPT + b" " + ATTR, b"<" + SCRIPT + b"@evil.example>"))
    # 2. attribute-breaking quotes; AUTH PLAIN on 587.
    session(cap, "203.0.113.62", "198.51.100.62", 43002, 587,
            banner=ATTR_NS, helo=ATTR, ehlo_reply=SUB_EHLO_NOTLS % b"sub.example.net",
            auth=plain(b"\"><img src=x onerror=alert(1)>'"),
            mail_from=b"'onmouseover='alert(1)'@evil.example",
            rcpts=[b"x@'onmouseover='alert(1)", b"victim@example.com"],
            content=message(b"' \" ' " + ATTR, b"<\"'><svg/onload=alert(1)>@evil.example>"))
    # 3. spreadsheet formulas; AUTH LOGIN (failed) on 587.
    session(cap, "203.0.113.63", "198.51.100.63", 43003, 587,
            banner=HYPER, helo=b"+cmd|' /C calc'!A0", ehlo_reply=SUB_EHLO_NOTLS % b"sub.example.net",
            auth=login(HYPER, ok=False),
            mail_from=b"+cmd@evil.example",
            rcpts=[b"-2+3@example.com", b"@SUM(1)@example.net", b"user@=cmd|'/C calc'!A0"],
            content=message(b'=HYPERLINK("http://x","click")', b"@SUM(1)"))
    # 4-6. the other formula prefixes as banner host, EHLO name and user (relay on 25).
    for n, (pfx, helo, user) in enumerate([(b"-2+3", b"@SUM(1)", b"+cmd"),
                                           (b"@SUM(1)", b"-2+3", b"-2+3"),
                                           (b"+cmd", b"=1+1", b"@SUM(1)")]):
        session(cap, "192.0.2.%d" % (64 + n), "198.51.100.%d" % (64 + n), 43004 + n, 25,
                banner=pfx, helo=helo, ehlo_reply=MX_EHLO_NOTLS % b"mx.example.net",
                auth=login(user),
                mail_from=pfx + b"@evil.example", rcpts=[user + b"@example.com"],
                content=message(pfx + b" subject", b"<" + helo + b"@evil.example>"))
    # 7. control bytes: NUL, invalid UTF-8, overlong, ANSI, C1 CSI, bidi override.
    session(cap, "192.0.2.67", "198.51.100.67", 43007, 25,
            banner=b"mx" + CTRL, helo=b"host" + CTRL, ehlo_reply=MX_EHLO_NOTLS % b"mx.example.net",
            auth=login(b"user" + CTRL),
            mail_from=b"from" + CTRL + b"@evil.example",
            rcpts=[b"rcpt" + CTRL + b"@example.com", b"bidi" + "\u202egpj.exe".encode() + b"@example.com"],
            content=message(b"subject " + CTRL, b"<id" + CTRL + b"@evil.example>"))
    # 8. single and double quotes, backslash, tab.
    session(cap, "192.0.2.68", "198.51.100.68", 43008, 25,
            banner=b"it's\"quoted'\\", helo=b"'\"\\\t'", ehlo_reply=MX_EHLO_NOTLS % b"mx.example.net",
            auth=None,
            mail_from=b"o'brien@evil.example", rcpts=[b"\"q\\\"uote\"@example.com"],
            content=message(b"'single' \"double\" \\back\tslash", b"<'\"@evil.example>"))
    # 9. a command injected behind STARTTLS carries markup into a finding's evidence.
    cv = Conv(cap, "192.0.2.69", "198.51.100.69", 43009, 25, cisn=3043009, sisn=4043009)
    cv.handshake()
    cv.s(b"220 mx.example.net ESMTP\r\n")
    cv.cmd(b"EHLO client.example.org\r\n", MX_EHLO_TLS % b"mx.example.net")
    cv.c(b"STARTTLS\r\n" + SCRIPT + b"\r\n")
    cv.s(R220_TLS)
    tls_session(cv, "h09")
    write_pcap(cap, "h_hostile_strings.pcap")


def long_value(head, unit, n=5000):
    """head followed by unit repeated, exactly n bytes."""
    v = head + unit * (n // len(unit) + 1)
    return v[:n]


# 5,000-byte values.  Each starts with a formula or markup prefix; the bulk
# is markup, wide (CJK, 2 columns) characters or invalid bytes.
LONG_BANNER = long_value(b"=", b"<script>document.title='PWNED'</script>")
LONG_HELO = long_value(b"-", "\u7528\u6237".encode())           # 用户: 3 bytes, 2 columns each
LONG_USER = long_value(b"@", b"\xff\xfe\xc0\xaf\x1b[31m<b>")
# a quoted local part, so that the '>' of the markup does not end the path
LONG_FROM = b'+"' + long_value(b"", b"<img src=x onerror=alert(1)>", 4984) + b'"@evil.example'
assert len(LONG_FROM) == 5000
LONG_DOMAIN = long_value(b"", "b\u00fccher".encode())           # bücher...
LONG_SUBJECT = long_value(b"=", "<i>\u00e9\u202e</i>".encode())
LONG_MSGID = long_value(b"<", b"'\"\\x")


@scenario
def h_hostile_long():
    cap = Capture(T0_US + 3600 * 1000000)
    session(cap, "203.0.113.70", "198.51.100.70", 43010, 587,
            banner=LONG_BANNER, helo=LONG_HELO, ehlo_reply=SUB_EHLO_NOTLS % b"sub.example.net",
            auth=login(LONG_USER),
            mail_from=LONG_FROM, rcpts=[b"victim@" + LONG_DOMAIN],
            content=message(LONG_SUBJECT, LONG_MSGID))
    write_pcap(cap, "h_hostile_long.pcap")


def main(argv):
    return run_scenarios("make_hostile.py", SCENARIOS, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
