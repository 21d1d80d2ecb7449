#!/usr/bin/python3
"""smtp_client.py MODE HOST PORT [PASS] — one SMTP client connection for the live test.

MODE: auth PASS   EHLO, AUTH PLAIN as alice in cleartext, one message
      starttls   EHLO, STARTTLS, EHLO, AUTH PLAIN (inside TLS), one message
      implicit   TLS from the first byte (port 465), one message
      plain      EHLO, one message, no AUTH (cleartext)
      probe      EHLO, QUIT
      hold:N     EHLO, MAIL FROM, wait N seconds, QUIT (a long session)
      http       a TCP connection that is not SMTP (a line of HTTP)
"""
import smtplib
import socket
import ssl
import sys
import time

MSG = (b"From: carol@corp.example\r\nTo: bob@b.example\r\n"
       b"Subject: live test\r\nMessage-ID: <live-1@corp.example>\r\n\r\nhello\r\n")


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "starttls":
        s = smtplib.SMTP(host, port, local_hostname="tls.corp.example", timeout=10)
        s.ehlo()
        s.starttls(context=ctx())
        s.ehlo()
        s.login("dave", "tls-only-secret")
        s.sendmail("carol@corp.example", ["bob@b.example"], MSG)
        s.quit()
    elif mode == "implicit":
        s = smtplib.SMTP_SSL(host, port, local_hostname="client.corp.example",
                             context=ctx(), timeout=10)
        s.ehlo()
        s.sendmail("carol@corp.example", ["bob@b.example"], MSG)
        s.quit()
    elif mode == "auth":
        s = smtplib.SMTP(host, port, local_hostname="auth.corp.example", timeout=10)
        s.ehlo()
        s.login("alice", sys.argv[4])
        s.sendmail("alice@corp.example", ["bob@b.example"], MSG)
        s.quit()
    elif mode == "plain":
        s = smtplib.SMTP(host, port, local_hostname="plain.corp.example", timeout=10)
        s.ehlo()
        s.sendmail("erin@corp.example", ["bob@b.example"], MSG)
        s.quit()
    elif mode == "probe":
        s = smtplib.SMTP(host, port, local_hostname="probe.corp.example", timeout=10)
        s.ehlo()
        s.quit()
    elif mode.startswith("hold:"):
        s = smtplib.SMTP(host, port, local_hostname="slow.corp.example", timeout=30)
        s.ehlo()
        s.mail("slow@corp.example")
        time.sleep(float(mode[5:]))
        s.quit()
    elif mode == "http":
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        s.recv(4096)
        s.close()
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
