#!/usr/bin/python3
"""make_crafted.py — builds the hand-crafted test captures of tests/pcaps/.

Run with Debian's python3 (python3-scapy):   /usr/bin/python3 tests/pcaps/make_crafted.py [NAME...]

Every capture is deterministic: fixed timestamps (a per-file clock starting at
1700000000.0 that advances 1 ms per packet), fixed ISNs, MACs and addresses
(documentation ranges only), and pseudo-random bytes derived from SHA-256 of
fixed labels.  Running the script twice gives byte-identical files.

The expected verdicts (NAME.expected) are written by hand and are NOT made by
this script; see README.md.
"""

import base64
import decimal
import hashlib
import hmac
import os
import struct
import sys

from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether
from scapy.utils import RawPcapWriter

try:
    from scapy.utils import RawPcapNgWriter
except ImportError:  # pragma: no cover - older scapy
    RawPcapNgWriter = None

HERE = os.path.dirname(os.path.abspath(__file__))
T0_US = 1700000000 * 1000000          # 2023-11-14 22:13:20 UTC
STEP_US = 1000                        # 1 ms between packets
MSS = 1460

# Addresses (documentation ranges only).
MTA_C = "192.0.2.10"        # sending MTA (relay client)
MX = "198.51.100.25"        # receiving MX (port 25)
MUA = "203.0.113.50"        # mail user agent (submission client)
MSA = "198.51.100.30"       # submission server (587 / 465)
MTA_C6 = "2001:db8::10"
MX6 = "2001:db8:0:1::25"
MAC_C = "02:00:00:00:00:0c"
MAC_S = "02:00:00:00:00:05"


# --------------------------------------------------------------------------
# deterministic pseudo-random bytes

def prand(label, n):
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(("%s/%d" % (label, i)).encode()).digest()
        i += 1
    return out[:n]


def b64(data):
    return base64.b64encode(data)


# --------------------------------------------------------------------------
# a capture: timed layer-3 packets, written with some link layer

class Capture:
    """Packets (time in us, layer-3 bytes, direction) of one capture file."""

    def __init__(self, t0_us=T0_US):
        self.clock = t0_us
        self.pkts = []              # (ts_us, l3 bytes, from_client, conv)

    def tick(self, us=STEP_US):
        self.clock += us

    def gap_time(self, seconds):
        self.clock += int(seconds * 1000000)

    def add(self, l3, from_client, conv):
        self.pkts.append((self.clock, l3, from_client, conv))
        self.tick()

    # ---- link layers -------------------------------------------------
    def frames(self, link):
        """(ts_us, frame bytes) for every packet, wrapped in `link`."""
        out = []
        for ts, l3, from_client, conv in self.pkts:
            v6 = (l3[0] >> 4) == 6
            et = 0x86DD if v6 else 0x0800
            src, dst = (MAC_C, MAC_S) if from_client else (MAC_S, MAC_C)
            if link == "ether":
                fr = bytes(Ether(src=src, dst=dst, type=et)) + l3
            elif link == "vlan":
                fr = bytes(Ether(src=src, dst=dst, type=0x8100) /
                           Dot1Q(vlan=100, type=et)) + l3
            elif link == "qinq":
                fr = bytes(Ether(src=src, dst=dst, type=0x88A8) /
                           Dot1AD(vlan=200, type=0x8100) /
                           Dot1Q(vlan=100, type=et)) + l3
            elif link == "sll":
                # Linux cooked v1 as seen on "any": outgoing = 4, host = 0
                fr = bytes(CookedLinux(pkttype=4 if from_client else 0,
                                       lladdrtype=1, lladdrlen=6,
                                       src=bytes.fromhex(src.replace(":", "")) + b"\0\0",
                                       proto=et)) + l3
            elif link == "sll2":
                fr = bytes(CookedLinuxV2(proto=et, ifindex=2, lladdrtype=1,
                                         pkttype=4 if from_client else 0,
                                         lladdrlen=6,
                                         src=bytes.fromhex(src.replace(":", "")) + b"\0\0")) + l3
            elif link == "null":
                # BSD loopback: 4-byte address family in the writer's byte
                # order (little endian here), AF_INET = 2.
                fr = struct.pack("<I", 2) + l3
            elif link == "raw":
                fr = l3
            else:
                raise ValueError(link)
            out.append((ts, fr))
        return out


LINKTYPES = {"ether": 1, "vlan": 1, "qinq": 1, "null": 0, "raw": 101,
             "sll": 113, "sll2": 276}


def write_pcap(cap, name, link="ether"):
    path = os.path.join(HERE, name)
    w = RawPcapWriter(path, linktype=LINKTYPES[link], endianness="<", snaplen=65535)
    w.write_header(None)
    for ts, fr in cap.frames(link):
        w.write_packet(fr, sec=ts // 1000000, usec=ts % 1000000)
    w.close()
    return path


def write_pcap_by_hand(cap, name, snaplen=65535, cut_last_record_at=None):
    """Classic little-endian pcap written with struct: lets a record have
    caplen < len (snaplen) and lets the file end inside a record."""
    path = os.path.join(HERE, name)
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1)
    frames = cap.frames("ether")
    for i, (ts, fr) in enumerate(frames):
        caplen = min(len(fr), snaplen)
        rec = struct.pack("<IIII", ts // 1000000, ts % 1000000, caplen, len(fr)) + fr[:caplen]
        if cut_last_record_at is not None and i == len(frames) - 1:
            rec = rec[:cut_last_record_at]
        data += rec
    with open(path, "wb") as f:
        f.write(data)
    return path


def write_pcapng(cap, name):
    path = os.path.join(HERE, name)
    frames = cap.frames("ether")
    if RawPcapNgWriter is not None:
        w = RawPcapNgWriter(path)
        w.write_header(None)
        for ts, fr in frames:
            # a Decimal keeps the microseconds exact (a float would not)
            w.write_packet(fr, sec=decimal.Decimal(ts) / 1000000)
        w.close()
        return path
    # fallback: SHB + IDB + EPBs by hand
    def block(btype, body):
        body += b"\0" * ((-len(body)) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)
    data = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    data += block(1, struct.pack("<HHI", 1, 0, 262144))
    for ts, fr in frames:
        data += block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(fr), len(fr)) + fr)
    with open(path, "wb") as f:
        f.write(data)
    return path


# --------------------------------------------------------------------------
# a TCP conversation

class Conv:
    """One TCP connection inside a Capture.  Client side 'c', server 's'.

    seq numbers are tracked per side; every data segment carries PSH/ACK and
    acknowledges everything the other side has sent so far.  Methods that
    take `drop=True` advance the sequence space without recording the packet
    (a capture gap); `only` restricts what is recorded to one side.
    """

    def __init__(self, cap, cip, sip, cport, sport, cisn=1000000, sisn=2000000,
                 win=64240, only=None):
        self.cap = cap
        self.ip = {"c": cip, "s": sip}
        self.port = {"c": cport, "s": sport}
        self.nxt = {"c": cisn, "s": sisn}
        self.win = {"c": win, "s": win}
        self.v6 = ":" in cip
        self.only = only
        self.ipid = {"c": 0x1000 + (cport & 0xFFF), "s": 0x5000 + (cport & 0xFFF)}

    @staticmethod
    def other(side):
        return "s" if side == "c" else "c"

    def packet(self, side, flags, payload=b"", seq=None, ack=None, win=None,
               options=None, drop=False):
        o = self.other(side)
        if seq is None:
            seq = self.nxt[side]
        if ack is None:
            ack = self.nxt[o] if "A" in flags else 0
        tcp = TCP(sport=self.port[side], dport=self.port[o], seq=seq & 0xFFFFFFFF,
                  ack=ack & 0xFFFFFFFF, flags=flags,
                  window=self.win[side] if win is None else win,
                  options=options or [])
        if self.v6:
            l3 = IPv6(src=self.ip[side], dst=self.ip[o], hlim=64) / tcp
        else:
            self.ipid[side] += 1
            l3 = IP(src=self.ip[side], dst=self.ip[o], ttl=64, id=self.ipid[side],
                    flags="DF") / tcp
        if payload:
            l3 = l3 / payload
        if drop or (self.only is not None and self.only != side):
            self.cap.tick()
            return
        self.cap.add(bytes(l3), side == "c", self)

    # ---- connection set-up and tear-down ---------------------------
    def handshake(self):
        mss = [("MSS", MSS)]
        self.packet("c", "S", options=mss, ack=0)
        self.nxt["c"] += 1
        self.packet("s", "SA", options=mss)
        self.nxt["s"] += 1
        self.packet("c", "A")
        return self

    def close(self, first="c"):
        o = self.other(first)
        self.packet(first, "FA")
        self.nxt[first] += 1
        self.packet(o, "FA")
        self.nxt[o] += 1
        self.packet(first, "A")

    def rst(self, side):
        self.packet(side, "RA")

    # ---- data ------------------------------------------------------
    def send(self, side, data, split=None, drop=False, win=None):
        """Sends data as one or more segments.  split: list of segment
        sizes (the rest goes in a final segment) or None (MSS-sized)."""
        if isinstance(data, str):
            data = data.encode()
        parts = []
        if split:
            pos = 0
            for n in split:
                parts.append(data[pos:pos + n])
                pos += n
            if pos < len(data):
                parts.append(data[pos:])
        else:
            parts = [data[i:i + MSS] for i in range(0, len(data), MSS)] or [b""]
        for p in parts:
            self.packet(side, "PA", p, drop=drop, win=win)
            self.nxt[side] += len(p)
        return self

    def c(self, data, split=None, drop=False):
        return self.send("c", data, split, drop)

    def s(self, data, split=None, drop=False):
        return self.send("s", data, split, drop)

    def ack(self, side, win=None):
        self.packet(side, "A", win=win)

    def at(self, side, offset, data, win=None):
        """Records a segment at nxt[side] + offset without moving nxt
        (retransmissions, out-of-order delivery, probes)."""
        if isinstance(data, str):
            data = data.encode()
        self.packet(side, "PA", data, seq=self.nxt[side] + offset, win=win)

    def advance(self, side, n):
        self.nxt[side] += n

    def cmd(self, line, reply):
        """Client command then server reply (each one segment)."""
        if line is not None:
            self.c(line)
        if reply is not None:
            self.s(reply)
        return self


# --------------------------------------------------------------------------
# SMTP and TLS building blocks

MX_GREET = b"220 mx.example.net ESMTP Postfix\r\n"
MX_EHLO_TLS = (b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n"
               b"250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
               b"250 CHUNKING\r\n")
MX_EHLO_NOTLS = (b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n"
                 b"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 CHUNKING\r\n")
SUB_GREET = b"220 smtp.example.net ESMTP ready\r\n"
SUB_EHLO = (b"250-smtp.example.net\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n"
            b"250-STARTTLS\r\n250-AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2\r\n"
            b"250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n")
EHLO_MTA = b"EHLO client.example.org\r\n"
EHLO_MUA = b"EHLO [203.0.113.50]\r\n"
R250_MAIL = b"250 2.1.0 Ok\r\n"
R250_RCPT = b"250 2.1.5 Ok\r\n"
R354 = b"354 End data with <CR><LF>.<CR><LF>\r\n"
R250_QUEUED = b"250 2.0.0 Ok: queued as 4SVXq12345\r\n"
R220_TLS = b"220 2.0.0 Ready to start TLS\r\n"
QUIT = b"QUIT\r\n"
R221 = b"221 2.0.0 Bye\r\n"

PLAIN_ALICE = b64(b"\0alice\0S3cretPass")          # AGFsaWNlAFMzY3JldFBhc3M=


def body(subject, text="Hello Bob,\r\nthis is a test message.\r\n", frm="Alice <alice@example.org>",
         to="Bob <bob@example.com>", msgid="20231114221320.1@example.org"):
    """A small RFC 5322 message, CRLF line ends, no line starting with '.'
    (so the wire form is the content; size = len()).  Ends with CRLF."""
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
            "Message-ID: <%s>\r\n\r\n%s" % (frm, to, subject, msgid, text)).encode()


def tls_client_hello(label, sni="mx.example.net"):
    rnd = prand(label + "/client_random", 32)
    sid = prand(label + "/session_id", 32)
    suites = [0xC02F, 0xC030, 0xC02B, 0xC02C, 0x009E, 0x009F]
    host = sni.encode()
    sn = struct.pack(">HBH", len(host) + 3, 0, len(host)) + host
    exts = struct.pack(">HH", 0, len(sn)) + sn
    groups = struct.pack(">H", 4) + struct.pack(">HH", 0x001D, 0x0017)
    exts += struct.pack(">HH", 10, len(groups)) + groups
    exts += struct.pack(">HHB", 11, 2, 1) + b"\x00"
    sigs = [0x0804, 0x0403, 0x0401]
    sa = struct.pack(">H", 2 * len(sigs)) + b"".join(struct.pack(">H", s) for s in sigs)
    exts += struct.pack(">HH", 13, len(sa)) + sa
    exts += struct.pack(">HH", 23, 0)
    exts += struct.pack(">HHB", 0xFF01, 1, 0)
    hb = (b"\x03\x03" + rnd + bytes([len(sid)]) + sid +
          struct.pack(">H", 2 * len(suites)) + b"".join(struct.pack(">H", s) for s in suites) +
          b"\x01\x00" + struct.pack(">H", len(exts)) + exts)
    hs = b"\x01" + struct.pack(">I", len(hb))[1:] + hb
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def tls_server_flight(label):
    """ServerHello (TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256, resumed session:
    no Certificate by design) + ChangeCipherSpec + encrypted Finished."""
    rnd = prand(label + "/server_random", 32)
    sid = prand(label + "/session_id", 32)        # echoes the client's: resumption
    exts = struct.pack(">HHB", 0xFF01, 1, 0) + struct.pack(">HH", 23, 0)
    hb = (b"\x03\x03" + rnd + bytes([len(sid)]) + sid + struct.pack(">H", 0xC02F) +
          b"\x00" + struct.pack(">H", len(exts)) + exts)
    hs = b"\x02" + struct.pack(">I", len(hb))[1:] + hb
    sh = b"\x16\x03\x03" + struct.pack(">H", len(hs)) + hs
    ccs = b"\x14\x03\x03\x00\x01\x01"
    fin = b"\x16\x03\x03\x00\x28" + prand(label + "/server_finished", 40)
    return sh + ccs + fin


def tls_client_finish(label):
    return (b"\x14\x03\x03\x00\x01\x01" + b"\x16\x03\x03\x00\x28" +
            prand(label + "/client_finished", 40))


def tls_appdata(label, n):
    return b"\x17\x03\x03" + struct.pack(">H", n) + prand(label, n)


def tls_session(conv, label, split_hello=None, client_records=(90, 310, 50), server_records=(180, 60, 40)):
    """Full (abbreviated, resumed) TLS 1.2 handshake plus encrypted SMTP
    traffic, alternating sides like an SMTP dialogue would."""
    conv.c(tls_client_hello(label), split=split_hello)
    conv.s(tls_server_flight(label))
    conv.c(tls_client_finish(label))
    for i in range(max(len(client_records), len(server_records))):
        if i < len(server_records):
            conv.s(tls_appdata("%s/s%d" % (label, i), server_records[i]))
        if i < len(client_records):
            conv.c(tls_appdata("%s/c%d" % (label, i), client_records[i]))
    conv.close()


def smtp_transaction(conv, mail_from, rcpts, content, rcpt_replies=None,
                     end_reply=R250_QUEUED):
    """MAIL, RCPT..., DATA, content, '.', one command per segment."""
    conv.cmd(b"MAIL FROM:<%s>\r\n" % mail_from.encode(), R250_MAIL)
    for i, r in enumerate(rcpts):
        rep = rcpt_replies[i] if rcpt_replies else R250_RCPT
        conv.cmd(b"RCPT TO:<%s>\r\n" % r.encode(), rep)
    conv.cmd(b"DATA\r\n", R354)
    conv.c(content + b".\r\n")
    conv.s(end_reply)


def quit_close(conv):
    conv.cmd(QUIT, R221)
    conv.close()


# --------------------------------------------------------------------------
# scenarios (DETECTIONS.md §7 numbering)

SCENARIOS = []


def scenario(fn):
    SCENARIOS.append(fn)
    return fn


def relay_cleartext(cap, cip=MTA_C, sip=MX, cport=40000, ehlo_reply=MX_EHLO_TLS,
                    subject="relay test", greet=MX_GREET):
    """A plain relay session used by several link-layer variants:
    greeting, EHLO (STARTTLS offered), one cleartext message, QUIT."""
    cv = Conv(cap, cip, sip, cport, 25).handshake()
    cv.s(greet)
    cv.cmd(EHLO_MTA, ehlo_reply)
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], body(subject))
    quit_close(cv)
    return cv


# ---- 1. split and tricky EHLO reply ---------------------------------------

@scenario
def s01_ehlo_split():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 40101, 25).handshake()
    cv.s(MX_GREET)
    cv.c(EHLO_MTA)
    # exactly the split of DETECTIONS §7.1
    cv.s(b"250-mx.example Hello\r\n250-PIPEL")
    cv.s(b"INING\r\n250-STAR")
    cv.s(b"TTLS\r\n250 SIZE 35882577\r\n")
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], body("split ehlo"))
    quit_close(cv)
    write_pcap(cap, "s01_ehlo_split.pcap")


@scenario
def s01_ehlo_lowercase():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 40102, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, b"250-mx.example.net\r\n250-pipelining\r\n250-starttls\r\n250 size 35882577\r\n")
    quit_close(cv)
    write_pcap(cap, "s01_ehlo_lowercase.pcap")


@scenario
def s01_ehlo_first_line():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 40103, 25).handshake()
    cv.s(MX_GREET)
    # STARTTLS only where the server's domain belongs: not a keyword
    cv.cmd(EHLO_MTA, b"250-STARTTLS\r\n250-mx.example\r\n250-PIPELINING\r\n250 SIZE 35882577\r\n")
    cv.cmd(b"MAIL FROM:<alice@example.org>\r\n", R250_MAIL)
    cv.cmd(b"RCPT TO:<bob@example.com>\r\n", R250_RCPT)
    quit_close(cv)
    write_pcap(cap, "s01_ehlo_first_line.pcap")


@scenario
def s01_greeting_multiline():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 40104, 25).handshake()
    cv.s(b"220-mx.example.net ESMTP\r\n220-STARTTLS supported, ask for it\r\n220 ready\r\n")
    cv.cmd(EHLO_MTA, b"250-mx.example.net\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], body("multiline greeting"))
    quit_close(cv)
    write_pcap(cap, "s01_greeting_multiline.pcap")


# ---- 2. pipelining with partial rejection -------------------------------

@scenario
def s02_pipelined_partial():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 40201, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_TLS)
    cv.c(b"MAIL FROM:<a@x.example> SIZE=1234\r\nRCPT TO:<b@y.example>\r\n"
         b"RCPT TO:<c@z.example>\r\nDATA\r\n")
    cv.s(b"250 2.1.0 Ok\r\n550 5.1.1 unknown\r\n250 2.1.5 Ok\r\n354 go ahead\r\n")
    cv.c(body("pipelined", frm="<a@x.example>", to="<c@z.example>") + b".\r\n")
    cv.s(R250_QUEUED)
    quit_close(cv)
    write_pcap(cap, "s02_pipelined_partial.pcap")


@scenario
def s02_pipelined_all_rejected():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 40202, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_TLS)
    cv.c(b"MAIL FROM:<a@x.example> SIZE=1234\r\nRCPT TO:<b@y.example>\r\n"
         b"RCPT TO:<c@z.example>\r\nDATA\r\n")
    cv.s(b"250 2.1.0 Ok\r\n550 5.1.1 unknown\r\n550 5.1.1 unknown\r\n"
         b"554 5.5.1 No valid recipients\r\n")
    quit_close(cv)
    write_pcap(cap, "s02_pipelined_all_rejected.pcap")


# ---- 3. BDAT with hostile binary content -----------------------------------

BDAT_CHUNK = (b"\x00\x01\x16\x03\x01\x00\xff\n" + b"STARTTLS\r\n" + b"\r\n.\r\n" +
              b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n" + b"\x80\x81QUIT\r\n")
assert len(BDAT_CHUNK) == 64


def bdat_session(name, cport, first_reply, last_reply):
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, cport, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_TLS)
    cv.c(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.com>\r\n")
    cv.s(R250_MAIL + R250_RCPT)
    # BDAT 64 + the chunk over three segments, BDAT 0 LAST right behind it
    cv.c(b"BDAT 64\r\n" + BDAT_CHUNK + b"BDAT 0 LAST\r\n", split=[9 + 20, 25])
    cv.s(first_reply)
    cv.s(last_reply)
    quit_close(cv)
    write_pcap(cap, name)


@scenario
def s03_bdat_hostile():
    bdat_session("s03_bdat_hostile.pcap", 40301, b"250 2.0.0 Ok: 64 bytes\r\n",
                 b"250-2.0.0 Ok: 64 octets\r\n250 2.0.0 Ok: queued as 4SVXq1BDAT\r\n")


@scenario
def s03_bdat_552():
    bdat_session("s03_bdat_552.pcap", 40302,
                 b"552 5.3.4 Message size exceeds fixed limit\r\n",
                 b"552 5.3.4 Message size exceeds fixed limit\r\n")


# ---- 4. dot-stuffing, end-of-data split, smuggling -------------------------

DOTS_SEGMENTS = [
    b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\nSubject: dots\r\n\r\n"
    b"line one\r\n..hidden\r\n",          # in-segment stuffed line -> ".hidden"
    b".hidden\r\ntext\r\n.",               # segment starts with ".hidden" (-> "hidden"); ends "\r\n."
    b".tail\r\nlast text\r\n",             # "..tail" across the boundary -> ".tail"
    b".",                                  # terminator split: "\r\n" | "." | "\r\n"
    b"\r\n",
]


@scenario
def s04_dot_stuffing():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 40401, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_NOTLS)
    cv.cmd(b"MAIL FROM:<alice@example.org>\r\n", R250_MAIL)
    cv.cmd(b"RCPT TO:<bob@example.com>\r\n", R250_RCPT)
    cv.cmd(b"DATA\r\n", R354)
    for seg in DOTS_SEGMENTS:
        cv.c(seg)
    cv.s(R250_QUEUED)
    quit_close(cv)
    write_pcap(cap, "s04_dot_stuffing.pcap")


SMUGGLE_CONTENT = (b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\n"
                   b"Subject: smuggle\r\n\r\nHello\n.\nMAIL FROM:<ceo@victim.example>\r\n"
                   b"RCPT TO:<cfo@victim.example>\r\nDATA\r\nFrom: CEO <ceo@victim.example>\r\n"
                   b"Subject: urgent\r\n\r\nPay invoice 4711 today.\r\n")


@scenario
def s04_smuggling():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 40402, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_NOTLS)
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], SMUGGLE_CONTENT)
    quit_close(cv)
    write_pcap(cap, "s04_smuggling.pcap")


# ---- 5. mixed-protection session -------------------------------------------

@scenario
def s05_mixed_protection():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 40501, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_TLS)
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], body("before tls"))
    cv.cmd(b"RSET\r\n", b"250 2.0.0 Ok\r\n")
    cv.cmd(b"STARTTLS\r\n", R220_TLS)
    tls_session(cv, "s05a")
    write_pcap(cap, "s05_mixed_protection.pcap")


@scenario
def s05_mixed_data_rejected():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 40502, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_TLS)
    cv.cmd(b"MAIL FROM:<alice@example.org>\r\n", R250_MAIL)
    cv.cmd(b"RCPT TO:<bob@example.com>\r\n", R250_RCPT)
    cv.cmd(b"DATA\r\n", b"554 5.7.1 Transaction failed: policy\r\n")
    cv.cmd(b"RSET\r\n", b"250 2.0.0 Ok\r\n")
    cv.cmd(b"MAIL FROM:<alice@example.org>\r\n", R250_MAIL)
    cv.cmd(b"RCPT TO:<carol@example.com>\r\n", R250_RCPT)
    cv.cmd(b"STARTTLS\r\n", R220_TLS)
    tls_session(cv, "s05b")
    write_pcap(cap, "s05_mixed_data_rejected.pcap")


# ---- 6. STARTTLS injection --------------------------------------------------

def inject_prefix(cap, cport):
    cv = Conv(cap, MTA_C, MX, cport, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_TLS)
    return cv


@scenario
def s06_inject_cmd_same_segment():
    cap = Capture()
    cv = inject_prefix(cap, 40601)
    cv.c(b"STARTTLS\r\nRSET\r\n")                 # one segment (CVE-2011-0411 PoC)
    cv.s(R220_TLS)
    tls_session(cv, "s06a")
    write_pcap(cap, "s06_inject_cmd_same_segment.pcap")


@scenario
def s06_inject_cmd_later_segment():
    cap = Capture()
    cv = inject_prefix(cap, 40602)
    cv.c(b"STARTTLS\r\n")
    cv.c(b"EHLO x\r\n")                            # second segment, before the 220
    cv.s(R220_TLS)
    tls_session(cv, "s06b")
    write_pcap(cap, "s06_inject_cmd_later_segment.pcap")


@scenario
def s06_inject_response():
    cap = Capture()
    cv = inject_prefix(cap, 40603)
    cv.c(b"STARTTLS\r\n")
    cv.s(b"220 2.0.0 Ready\r\n250-mx\r\n250 AUTH PLAIN\r\n")   # one segment
    tls_session(cv, "s06c")
    write_pcap(cap, "s06_inject_response.pcap")


@scenario
def s06_control_split_hello():
    cap = Capture()
    cv = inject_prefix(cap, 40604)
    cv.cmd(b"STARTTLS\r\n", R220_TLS)
    tls_session(cv, "s06d", split_hello=[3])       # ClientHello: 3 bytes | rest
    write_pcap(cap, "s06_control_split_hello.pcap")


# ---- 7. middlebox stripping --------------------------------------------------

MASKED_BANNER = b"220 ******************************0**2***\r\n"


@scenario
def s07_mask_outside_tap():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 40701, 25).handshake()
    cv.s(MASKED_BANNER)
    cv.cmd(EHLO_MTA, b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n"
                     b"250-XXXXXXXA\r\n250-8BITMIME\r\n250 CHUNKING\r\n")
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], body("outside tap"))
    quit_close(cv)
    write_pcap(cap, "s07_mask_outside_tap.pcap")


@scenario
def s07_mask_inside_tap():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 40702, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_TLS)
    cv.cmd(b"XXXXXXXX\r\n", b"500 5.5.1 Command unrecognized: \"XXXXXXXX\"\r\n")
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], body("inside tap"))
    quit_close(cv)
    write_pcap(cap, "s07_mask_inside_tap.pcap")


@scenario
def s07_capability_days():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 40703, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_TLS)
    cv.cmd(b"STARTTLS\r\n", R220_TLS)
    tls_session(cv, "s07c-day1")
    cap.gap_time(86400)                             # the next day
    cv = Conv(cap, MTA_C, MX, 40704, 25, cisn=3000000, sisn=4000000).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_NOTLS)
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], body("next day"))
    quit_close(cv)
    write_pcap(cap, "s07_capability_days.pcap")


# ---- 8. AUTH matrix ------------------------------------------------------------

CRAM_CHALLENGE = b"<1896.697170952@postoffice.example.net>"
CRAM_RESPONSE = b"carol " + hmac.new(b"S3cretPass", CRAM_CHALLENGE, "md5").hexdigest().encode()
XOAUTH2_TOKEN = b"ya29." + b64(prand("xoauth2-token", 48)).rstrip(b"=").replace(b"+", b"-").replace(b"/", b"_")
XOAUTH2_IR = b64(b"user=dave@example.org\x01auth=Bearer " + XOAUTH2_TOKEN + b"\x01\x01")
P_USER = b"334 VXNlcm5hbWU6\r\n"          # "Username:"
P_PASS = b"334 UGFzc3dvcmQ6\r\n"          # "Password:"
R235 = b"235 2.7.0 Authentication successful\r\n"
R535 = b"535 5.7.8 Error: authentication failed: authentication failure\r\n"


def auth_session(cap, cport, exchange):
    cv = Conv(cap, MUA, MSA, cport, 587, cisn=1000000 + cport * 1000).handshake()
    cv.s(SUB_GREET)
    cv.cmd(EHLO_MUA, SUB_EHLO)
    for line, reply in exchange:
        cv.cmd(line, reply)
    quit_close(cv)
    cap.gap_time(1)


@scenario
def s08_auth_matrix():
    cap = Capture()
    # a: PLAIN with initial response, 235
    auth_session(cap, 40801, [(b"AUTH PLAIN " + PLAIN_ALICE + b"\r\n", R235)])
    # b: PLAIN via "334 " then the response, 235
    auth_session(cap, 40802, [(b"AUTH PLAIN\r\n", b"334 \r\n"), (PLAIN_ALICE + b"\r\n", R235)])
    # c: LOGIN two steps, 535
    auth_session(cap, 40803, [(b"AUTH LOGIN\r\n", P_USER), (b64(b"alice") + b"\r\n", P_PASS),
                              (b64(b"S3cretPass") + b"\r\n", R535)])
    # d: LOGIN with the username as initial response, 235
    auth_session(cap, 40804, [(b"AUTH LOGIN " + b64(b"bob") + b"\r\n", P_PASS),
                              (b64(b"Hunter2Hunter2") + b"\r\n", R235)])
    # e: CRAM-MD5, 235
    auth_session(cap, 40805, [(b"AUTH CRAM-MD5\r\n", b"334 " + b64(CRAM_CHALLENGE) + b"\r\n"),
                              (b64(CRAM_RESPONSE) + b"\r\n", R235)])
    # f: XOAUTH2 with initial response, 235
    auth_session(cap, 40806, [(b"AUTH XOAUTH2 " + XOAUTH2_IR + b"\r\n", R235)])
    # g: PLAIN answered 538 (the secret is already out)
    auth_session(cap, 40807, [(b"AUTH PLAIN " + PLAIN_ALICE + b"\r\n",
                               b"538 5.7.11 Encryption required for requested authentication mechanism\r\n")])
    # h: PLAIN, 334, "*" cancels, 501 (nothing leaked)
    auth_session(cap, 40808, [(b"AUTH PLAIN\r\n", b"334 \r\n"),
                              (b"*\r\n", b"501 5.7.0 Authentication aborted\r\n")])
    # i: EXTERNAL with "=" (zero-length initial response), 504
    auth_session(cap, 40809, [(b"AUTH EXTERNAL =\r\n",
                               b"504 5.5.4 Unrecognized authentication type\r\n")])
    # j: the same PLAIN exchange inside implicit TLS on 465
    cv = Conv(cap, MUA, MSA, 40810, 465, cisn=50000000).handshake()
    tls_session(cv, "s08j", client_records=(40, 60, 30, 20), server_records=(50, 200, 40, 30))
    write_pcap(cap, "s08_auth_matrix.pcap")


# ---- 9. TCP pathologies --------------------------------------------------------

@scenario
def s09_tcp_pathologies():
    cap = Capture()
    cv = Conv(cap, MUA, MSA, 40901, 587).handshake()
    cv.s(SUB_GREET)
    # duplicate segment: EHLO sent twice with identical bytes
    cv.at("c", 0, EHLO_MUA)
    cv.c(EHLO_MUA)
    # EHLO reply in three segments, captured in the order 2, 3, 1
    r = SUB_EHLO
    p1, p2, p3 = r[:30], r[30:90], r[90:]
    cv.at("s", len(p1), p2)
    cv.at("s", len(p1) + len(p2), p3)
    cv.s(p1)
    cv.advance("s", len(p2) + len(p3))
    # overlapping retransmission with different bytes: AUTH first, then NOOP
    auth = b"AUTH PLAIN " + PLAIN_ALICE + b"\r\n"
    cv.at("c", 0, auth)
    cv.at("c", 0, b"NOOP\r\n")
    cv.advance("c", len(auth))
    # the server takes the AUTH (first copy wins) and closes its window
    cv.send("s", R235, win=0)
    # 1-byte zero-window probe with the first byte of the next command
    mail = b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n"
    cv.at("c", 0, mail[:1])
    cv.ack("s", win=0)
    cv.ack("s", win=64240)                       # window update
    cv.c(mail)                                   # resends the probe byte
    # one segment carries the end of the 250 to MAIL... and the start of the next
    rep = R250_MAIL + R250_RCPT + R354
    cut = len(R250_MAIL) + 11                    # "250 2.1.5 O" | "k\r\n354 ..."
    cv.s(rep[:cut])
    second = rep[cut:]
    cv.s(second)
    # a duplicate of the segment just sent
    cv.at("s", -len(second), second)
    cv.c(body("pathologies", frm="Alice <alice@example.org>") + b".\r\n")
    cv.s(R250_QUEUED)
    quit_close(cv)
    write_pcap(cap, "s09_tcp_pathologies.pcap")


# ---- 10. incomplete captures -----------------------------------------------------

S10A_TAIL = b"the capture starts in the middle of this body,\r\nso the envelope is unknown.\r\n"


@scenario
def s10a_midstream_data():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 41001, 25)
    # no SYN: the first captured packet is in the middle of a DATA body
    cv.c(S10A_TAIL + b".\r\n")
    cv.s(R250_QUEUED)
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], body("second message"))
    quit_close(cv)
    write_pcap(cap, "s10a_midstream_data.pcap")


@scenario
def s10b_midstream_tls():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 41002, 25)
    for i, (cn, sn) in enumerate([(120, 60), (900, 40), (30, 50)]):
        cv.c(tls_appdata("s10b/c%d" % i, cn))
        cv.s(tls_appdata("s10b/s%d" % i, sn))
    cv.close()
    write_pcap(cap, "s10b_midstream_tls.pcap")


@scenario
def s10c_one_sided():
    cap = Capture()
    cv = Conv(cap, MUA, MSA, 41003, 587, only="c").handshake()
    cv.s(SUB_GREET)
    cv.cmd(EHLO_MUA, SUB_EHLO)
    cv.cmd(b"AUTH LOGIN\r\n", P_USER)
    cv.cmd(b64(b"alice") + b"\r\n", P_PASS)
    cv.cmd(b64(b"S3cretPass") + b"\r\n", R235)
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], body("one sided"))
    quit_close(cv)
    write_pcap(cap, "s10c_one_sided.pcap")


@scenario
def s10d_gap_starttls():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 41004, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_TLS)
    cv.c(b"STARTTLS\r\n", drop=True)             # not captured
    cv.s(R220_TLS, drop=True)                    # not captured
    tls_session(cv, "s10d")
    write_pcap(cap, "s10d_gap_starttls.pcap")


S10E_GREET = b"220 mx.example.net ESMTP Postfix (Debian/GNU) ready\r\n"     # 53 > 42
S10E_BODY = body("snaplen")


@scenario
def s10e_snaplen96():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 41005, 25).handshake()
    cv.s(S10E_GREET)                             # cut: 42 payload bytes kept
    cv.c(EHLO_MTA)
    # EHLO reply in segments of <= 42 octets, so it survives the snaplen
    cv.s(b"250-mx.example.net\r\n250-PIPELINING\r\n")
    cv.s(b"250-SIZE 10240000\r\n250 8BITMIME\r\n")
    cv.cmd(b"MAIL FROM:<alice@example.org>\r\n", R250_MAIL)
    cv.cmd(b"RCPT TO:<bob@example.com>\r\n", R250_RCPT)
    cv.cmd(b"DATA\r\n", R354)
    cv.c(S10E_BODY + b".\r\n")                   # one segment, cut after 42 octets
    cv.s(R250_QUEUED)
    quit_close(cv)
    write_pcap_by_hand(cap, "s10e_snaplen96.pcap", snaplen=96)


# ---- further cases -------------------------------------------------------------------

@scenario
def f_implicit_tls_465():
    cap = Capture()
    cv = Conv(cap, MUA, MSA, 42001, 465).handshake()
    tls_session(cv, "f465", client_records=(40, 60, 30, 700, 20), server_records=(50, 200, 40, 30, 30))
    write_pcap(cap, "f_implicit_tls_465.pcap")


@scenario
def f_cleartext_465():
    cap = Capture()
    cv = Conv(cap, MUA, MSA, 42002, 465).handshake()
    cv.s(SUB_GREET)
    cv.cmd(EHLO_MUA, b"250-smtp.example.net\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")
    cv.cmd(b"AUTH PLAIN " + PLAIN_ALICE + b"\r\n", R235)
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], body("clear 465"))
    quit_close(cv)
    write_pcap(cap, "f_cleartext_465.pcap")


@scenario
def f_clienthello_on_25():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42003, 25).handshake()
    cv.c(tls_client_hello("f25"))                # before any greeting
    cv.s(MX_GREET)
    cv.s(b"500 5.5.2 Error: bad syntax\r\n")
    cv.close(first="s")
    write_pcap(cap, "f_clienthello_on_25.pcap")


@scenario
def f_xclient():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42004, 25).handshake()
    cv.s(MX_GREET)
    ehlo = (b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n"
            b"250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN\r\n250 8BITMIME\r\n")
    cv.cmd(EHLO_MTA, ehlo)
    cv.cmd(b"XCLIENT NAME=client.example.org ADDR=192.0.2.77\r\n", MX_GREET)   # a new 220
    cv.cmd(EHLO_MTA, ehlo)
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], body("xclient"))
    quit_close(cv)
    write_pcap(cap, "f_xclient.pcap")


@scenario
def f_xforward():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42005, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, b"250-mx.example.net\r\n250-PIPELINING\r\n"
                     b"250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT\r\n250 8BITMIME\r\n")
    cv.cmd(b"XFORWARD NAME=client.example.org ADDR=192.0.2.77 PROTO=ESMTP HELO=client.example.org\r\n",
           b"250 2.0.0 Ok\r\n")
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], body("xforward"))
    quit_close(cv)
    write_pcap(cap, "f_xforward.pcap")


LMTP_BODY = body("lmtp", to="bob@example.com, carol@example.com")


@scenario
def f_lmtp():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42006, 25).handshake()
    cv.s(b"220 mx.example.net LMTP ready\r\n")
    cv.cmd(b"LHLO client.example.org\r\n", b"250-mx.example.net\r\n250-PIPELINING\r\n"
                                           b"250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n")
    cv.cmd(b"MAIL FROM:<alice@example.org>\r\n", R250_MAIL)
    cv.cmd(b"RCPT TO:<bob@example.com>\r\n", R250_RCPT)
    cv.cmd(b"RCPT TO:<carol@example.com>\r\n", R250_RCPT)
    cv.cmd(b"RCPT TO:<nobody@example.com>\r\n", b"550 5.1.1 <nobody@example.com> User unknown\r\n")
    cv.cmd(b"DATA\r\n", R354)
    cv.c(LMTP_BODY + b".\r\n")
    # one reply per accepted recipient
    cv.s(b"250 2.1.5 <bob@example.com> delivered\r\n250 2.1.5 <carol@example.com> delivered\r\n")
    cv.cmd(b"MAIL FROM:<alice@example.org>\r\n", R250_MAIL)
    cv.cmd(b"RCPT TO:<dave@lists.example>\r\n", b"550 5.1.1 <dave@lists.example> User unknown\r\n")
    cv.cmd(b"DATA\r\n", b"503 5.5.1 Error: no valid recipients\r\n")
    quit_close(cv)
    write_pcap(cap, "f_lmtp.pcap")


F421_PART = body("timeout", text="first part of a body that never ends\r\n")


@scenario
def f_421_mid_data():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42007, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_NOTLS)
    cv.cmd(b"MAIL FROM:<alice@example.org>\r\n", R250_MAIL)
    cv.cmd(b"RCPT TO:<bob@example.com>\r\n", R250_RCPT)
    cv.cmd(b"DATA\r\n", R354)
    cv.c(F421_PART)
    cap.gap_time(300)
    cv.s(b"421 4.4.2 mx.example.net Error: timeout exceeded\r\n")
    cv.close(first="s")
    write_pcap(cap, "f_421_mid_data.pcap")


LONG_TEXT = (b"short line\r\n" + b"A" * 998 + b"\r\n" + b"B" * 1500 + b"\r\n" +
             b"." + b"C" * 1200 + b"\r\n" + b"end\r\n")
LONG_CONTENT = body("long lines", text="")  # headers only, the text follows
LONG_WIRE = LONG_CONTENT + LONG_TEXT        # wire form; the "." line is stuffed on the wire


@scenario
def f_long_lines():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42008, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_NOTLS)
    cv.cmd(b"MAIL FROM:<alice@example.org> SIZE=4000\r\n", R250_MAIL)
    cv.cmd(b"RCPT TO:<bob@example.com>\r\n", R250_RCPT)
    cv.cmd(b"DATA\r\n", R354)
    cv.c(LONG_WIRE.replace(b"\r\n.C", b"\r\n..C") + b".\r\n")
    cv.s(R250_QUEUED)
    quit_close(cv)
    write_pcap(cap, "f_long_lines.pcap")


LONG_TOKEN = b"ya29." + b64(prand("long-sasl-token", 6600)).replace(b"+", b"-").replace(b"/", b"_").rstrip(b"=")
LONG_SASL = b64(b"user=dave@example.org\x01auth=Bearer " + LONG_TOKEN + b"\x01\x01")


@scenario
def f_long_sasl():
    cap = Capture()
    cv = Conv(cap, MUA, MSA, 42009, 587).handshake()
    cv.s(SUB_GREET)
    cv.cmd(EHLO_MUA, SUB_EHLO)
    cv.cmd(b"AUTH XOAUTH2\r\n", b"334 \r\n")
    cv.cmd(LONG_SASL + b"\r\n", R235)             # about 12 kB on one line
    quit_close(cv)
    write_pcap(cap, "f_long_sasl.pcap")


NUL_CONTENT = body("nul bytes", text="a NUL \x00 here\r\n\x00\x00\x00\r\nend\r\n")


@scenario
def f_nul_bytes():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42010, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(b"EHLO client\x00evil.example\r\n", MX_EHLO_NOTLS)
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], NUL_CONTENT)
    quit_close(cv)
    write_pcap(cap, "f_nul_bytes.pcap")


UTF8_FROM = "jürgen@bücher.example"
UTF8_RCPT = "用户@例子.example"
UTF8_CONTENT = body("UTF-8 Grüße", frm="Jürgen <jürgen@bücher.example>", to="<用户@例子.example>",
                    text="Grüße aus München.\r\n")


@scenario
def f_smtputf8():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42011, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, b"250-mx.example.net\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
    cv.cmd(("MAIL FROM:<%s> SMTPUTF8 BODY=8BITMIME\r\n" % UTF8_FROM).encode(), R250_MAIL)
    cv.cmd(("RCPT TO:<%s>\r\n" % UTF8_RCPT).encode(), R250_RCPT)
    cv.cmd(b"DATA\r\n", R354)
    cv.c(UTF8_CONTENT + b".\r\n")
    cv.s(R250_QUEUED)
    quit_close(cv)
    write_pcap(cap, "f_smtputf8.pcap")


# ---- link-layer variants: the same relay session in other wrappings ----------

def link_variant(name, link, cport):
    cap = Capture()
    relay_cleartext(cap, cport=cport, subject="link " + link)
    write_pcap(cap, name, link=link)


@scenario
def f_link_vlan():
    link_variant("f_link_vlan.pcap", "vlan", 42101)


@scenario
def f_link_qinq():
    link_variant("f_link_qinq.pcap", "qinq", 42102)


@scenario
def f_link_sll():
    link_variant("f_link_sll.pcap", "sll", 42103)


@scenario
def f_link_sll2():
    link_variant("f_link_sll2.pcap", "sll2", 42104)


@scenario
def f_link_null():
    link_variant("f_link_null.pcap", "null", 42105)


@scenario
def f_link_raw():
    link_variant("f_link_raw.pcap", "raw", 42106)


@scenario
def f_link_ipv6():
    cap = Capture()
    relay_cleartext(cap, cip=MTA_C6, sip=MX6, cport=42107, subject="link ipv6")
    write_pcap(cap, "f_link_ipv6.pcap")


@scenario
def f_pcapng():
    cap = Capture()
    relay_cleartext(cap, cport=42108, subject="pcapng")
    write_pcapng(cap, "f_pcapng.pcapng")


@scenario
def f_truncated_file():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42109, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_TLS)
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], body("truncated file"))
    cv.cmd(QUIT, R221)                             # the 221 record is cut in the file
    write_pcap_by_hand(cap, "f_truncated_file.pcap", cut_last_record_at=16 + 40)


# ---- negotiation failures and masking ------------------------------------------

@scenario
def f_starttls_alert():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42201, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_TLS)
    cv.cmd(b"STARTTLS\r\n", R220_TLS)
    cv.c(tls_client_hello("falert"))
    cv.s(b"\x15\x03\x03\x00\x02\x02\x28")          # fatal handshake_failure
    cv.close(first="s")
    write_pcap(cap, "f_starttls_alert.pcap")


@scenario
def f_starttls_454_auth():
    cap = Capture()
    cv = Conv(cap, MUA, MSA, 42202, 587).handshake()
    cv.s(SUB_GREET)
    cv.cmd(EHLO_MUA, SUB_EHLO)
    cv.cmd(b"STARTTLS\r\n", b"454 4.7.0 TLS not available due to local problem\r\n")
    cv.cmd(b"AUTH PLAIN " + PLAIN_ALICE + b"\r\n", R235)
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], body("after 454"))
    quit_close(cv)
    write_pcap(cap, "f_starttls_454_auth.pcap")


@scenario
def f_token_masked():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42203, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n250 XXXXXXXA\r\n")
    quit_close(cv)
    write_pcap(cap, "f_token_masked.pcap")


@scenario
def f_banner_masked():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42204, 25).handshake()
    cv.s(MASKED_BANNER)
    cv.cmd(EHLO_MTA, MX_EHLO_TLS)
    cv.cmd(b"STARTTLS\r\n", R220_TLS)
    tls_session(cv, "fbanner")
    write_pcap(cap, "f_banner_masked.pcap")


@scenario
def f_keywords_masked():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42205, 25).handshake()
    cv.s(MX_GREET)
    # PIPELINING and ENHANCEDSTATUSCODES overwritten with X's of their length
    cv.cmd(EHLO_MTA, b"250-mx.example.net\r\n250-XXXXXXXXXX\r\n250-SIZE 35882577\r\n"
                     b"250-STARTTLS\r\n250-XXXXXXXXXXXXXXXXXXX\r\n250 8BITMIME\r\n")
    cv.cmd(b"STARTTLS\r\n", R220_TLS)
    tls_session(cv, "fkeywords")
    write_pcap(cap, "f_keywords_masked.pcap")


@scenario
def f_requiretls():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42206, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, b"250-mx.example.net\r\n250-PIPELINING\r\n250-STARTTLS\r\n"
                     b"250-REQUIRETLS\r\n250 8BITMIME\r\n")
    cv.cmd(b"MAIL FROM:<alice@example.org> REQUIRETLS\r\n",
           b"530 5.7.10 REQUIRETLS needs a TLS session\r\n")
    quit_close(cv)
    write_pcap(cap, "f_requiretls.pcap")


@scenario
def f_auth_offered_tls():
    cap = Capture()
    cv = Conv(cap, MUA, MSA, 42207, 587).handshake()
    cv.s(SUB_GREET)
    cv.cmd(EHLO_MUA, SUB_EHLO)
    cv.cmd(b"STARTTLS\r\n", R220_TLS)
    tls_session(cv, "fauthtls", client_records=(40, 60, 30, 500, 20), server_records=(50, 200, 40, 30, 30))
    write_pcap(cap, "f_auth_offered_tls.pcap")


@scenario
def f_helo_fallback():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42208, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, b"502 5.5.2 Error: command not recognized\r\n")
    cv.cmd(b"HELO client.example.org\r\n", b"250 mx.example.net\r\n")
    smtp_transaction(cv, "alice@example.org", ["bob@example.com"], body("helo fallback"))
    quit_close(cv)
    write_pcap(cap, "f_helo_fallback.pcap")


@scenario
def f_pipelining_violation():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42209, 25).handshake()
    cv.s(MX_GREET)
    # EHLO must end a pipelined group; a spam bot sends everything at once
    cv.c(EHLO_MTA + b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
    cv.s(MX_EHLO_NOTLS + R250_MAIL + R250_RCPT + R354)
    cv.c(body("pipelining violation") + b".\r\n")
    cv.s(R250_QUEUED)
    quit_close(cv)
    write_pcap(cap, "f_pipelining_violation.pcap")


@scenario
def f_non_tls_after_220():
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42210, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_TLS)
    cv.cmd(b"STARTTLS\r\n", R220_TLS)
    cv.c(b"EHLO client.example.org\r\nMAIL FROM:<alice@example.org>\r\n")
    cv.close(first="s")
    write_pcap(cap, "f_non_tls_after_220.pcap")


@scenario
def f_null_sender():
    """A bounce (delivery status notification) relayed in cleartext: the
    envelope sender is the null path <>, which is not the same as a sender
    that was never seen."""
    cap = Capture()
    cv = Conv(cap, MTA_C, MX, 42212, 25).handshake()
    cv.s(MX_GREET)
    cv.cmd(EHLO_MTA, MX_EHLO_TLS)
    smtp_transaction(cv, "", ["alice@example.org"],
                     body("Undelivered Mail Returned to Sender",
                          text="This is the mail system at host mta.example.org.\r\n",
                          frm="MAILER-DAEMON@mta.example.org (Mail Delivery System)"))
    quit_close(cv)
    write_pcap(cap, "f_null_sender.pcap")


# --------------------------------------------------------------------------

def run_scenarios(prog, scenarios, argv):
    """Makes the captures named on the command line, or all of them."""
    want = set(argv[1:])
    names = [fn.__name__ for fn in scenarios]
    unknown = want - set(names)
    if unknown:
        sys.stderr.write("%s: unknown scenario(s): %s\n" % (prog, " ".join(sorted(unknown))))
        return 2
    for fn in scenarios:
        if not want or fn.__name__ in want:
            fn()
    return 0


def main(argv):
    return run_scenarios("make_crafted.py", SCENARIOS, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
