#!/usr/bin/python3
"""SMTP client for the TLS captures.
usage: client.py PORT MODE [TLSVER] [CIPHERS]
MODE: starttls | implicit | refuse-retry
Prints the negotiated version and cipher (OpenSSL name) for the log."""
import smtplib, ssl, sys, time

port, mode = int(sys.argv[1]), sys.argv[2]
ver = sys.argv[3] if len(sys.argv) > 3 else "any"
ciphers = sys.argv[4] if len(sys.argv) > 4 else ""
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE     # we want to reach bad certificates
V = {"1.0": ssl.TLSVersion.TLSv1, "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
if ver in V:
    ctx.minimum_version = ctx.maximum_version = V[ver]
if ciphers:
    ctx.set_ciphers(ciphers)
HOST = "mx.test.example"
MSG = ("From: alice@client.test.example\r\nTo: bob@test.example\r\n"
       "Subject: tls capture\r\n\r\nhello\r\n")

def show(s):
    sock = s.sock
    print("negotiated", sock.version(), sock.cipher()[0], flush=True)

if mode == "implicit":
    class S(smtplib.SMTP_SSL):
        def _get_socket(self, host, port, timeout):
            raw = super(smtplib.SMTP_SSL, self)._get_socket(host, port, timeout)
            return self.context.wrap_socket(raw, server_hostname=HOST)
    s = S("127.0.0.1", port, local_hostname="client.test.example", context=ctx)
    show(s)
    s.ehlo()
    s.quit()
elif mode == "starttls":
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test.example")
    s._host = HOST          # SNI comes from this
    s.ehlo()
    s.starttls(context=ctx)
    show(s)
    s.ehlo()
    s.quit()
elif mode == "refuse-retry":
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test.example")
    s.ehlo()
    code, _ = s.docmd("STARTTLS")
    print("starttls reply", code, flush=True)
    s.quit()
    time.sleep(1)
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test.example")
    s.ehlo()
    s.sendmail("alice@client.test.example", ["bob@test.example"], MSG)
    s.quit()
