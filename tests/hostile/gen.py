#!/usr/bin/python3
"""gen.py — hostile captures for tests/hostile/run.sh, written with struct
(no scapy: millions of packets must be generated in seconds and streamed to
disk).  IPv4 and TCP checksums are correct (mailtap does not check them, but
other tools reading these files should not trip over them).

    gen.py CASE OUT [ARGS]      write one capture (see CASES below)
    gen.py xform KIND IN OUT [ARG]  rewrite a capture (snaplen, caplen > len,
                                huge caplen, empty records, pcapng, cut)
    gen.py corrupt IN OUTDIR N SEED [PREFIX]  N copies of IN, each with
                                1-10 random bytes overwritten (the file name
                                says where)
    gen.py sendpcap IFACE FILE  send the frames of an Ethernet capture on
                                IFACE (AF_PACKET; live capture test)
    gen.py check-inject DB      verify the injection strings round-tripped
    gen.py measure OUT CMD...   peak RSS and time of CMD (when /usr/bin/time
                                is missing)

Everything is deterministic (fixed seeds) so a failure reproduces.
"""
import os
import random
import socket
import struct
import sys

LT_ETH = 1
LT_RAW = 101            # LINKTYPE_RAW: packet starts with the IP header
T0 = 1_800_000_000      # packet time base (seconds)

# ---- checksums ------------------------------------------------------------
# The ones' complement sum of 16-bit words is the number mod 0xffff, which
# int.from_bytes computes in C: fast enough for 100 MB of payload.


def osum(b):
    if len(b) & 1:
        b = b + b"\0"
    return int.from_bytes(b, "big") % 0xffff


def cfold(s):
    """Checksum field from a sum mod 0xffff."""
    return (0xffff - s % 0xffff) % 0xffff


_psum_cache = {}


def payload_sum(p):
    if len(p) < 2048:
        return osum(p)
    k = id(p)
    hit = _psum_cache.get(k)
    if hit is not None and hit[0] is p:
        return hit[1]
    s = osum(p)
    if len(_psum_cache) > 64:
        _psum_cache.clear()
    _psum_cache[k] = (p, s)
    return s


IPH = struct.Struct("!BBHHHBBH4s4s")
TCPH = struct.Struct("!HHIIBBHHH")


def ip_tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", ident=0, win=65535):
    tl = 20 + len(payload)
    s = (osum(src + dst) + 6 + tl + sport + dport + (seq >> 16) + (seq & 0xffff)
         + (ack >> 16) + (ack & 0xffff) + ((5 << 12) | flags) + win
         + payload_sum(payload))
    tcp = TCPH.pack(sport, dport, seq, ack, 5 << 4, flags, win, cfold(s), 0)
    ip = IPH.pack(0x45, 0, 20 + tl, ident, 0x4000, 64, 6, 0, src, dst)
    ic = cfold(osum(ip))
    return ip[:10] + struct.pack("!H", ic) + ip[12:] + tcp + payload


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
ETH_C = b"\x02\x00\x00\x00\x00\x01"
ETH_S = b"\x02\x00\x00\x00\x00\x02"


class Pcap:
    """Classic pcap, microsecond timestamps, written through a big buffer."""

    REC = struct.Struct("<IIII")

    def __init__(self, path, linktype=LT_ETH, snaplen=262144):
        self.f = open(path, "wb", buffering=1 << 22)
        self.f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, snaplen, linktype))
        self.link = linktype
        self.us = 0          # microseconds since T0

    def tick(self, us=10):
        self.us += us

    def rec(self, data, caplen=None, origlen=None):
        n = len(data)
        self.f.write(self.REC.pack(T0 + self.us // 1000000, self.us % 1000000,
                                   n if caplen is None else caplen,
                                   n if origlen is None else origlen))
        self.f.write(data)
        self.tick()

    def ip(self, pkt, fwd=True):
        if self.link == LT_ETH:
            self.rec((ETH_S + ETH_C if fwd else ETH_C + ETH_S) + b"\x08\x00" + pkt)
        else:
            self.rec(pkt)

    def close(self):
        self.f.close()


def ip4(s):
    return socket.inet_aton(s)


class Conn:
    """One TCP connection; side 0 = client, 1 = server."""

    def __init__(self, w, cip, cport, sip, sport):
        self.w = w
        self.addr = [(ip4(cip) if isinstance(cip, str) else cip, cport),
                     (ip4(sip) if isinstance(sip, str) else sip, sport)]
        self.seq = [0x10000000 + cport * 7, 0x70000000 + cport * 13]
        self.ident = [1, 1]

    def seg(self, side, flags, payload=b"", seq=None):
        (a, ap), (b, bp) = self.addr[side], self.addr[1 - side]
        s = self.seq[side] if seq is None else seq
        ack = self.seq[1 - side] if flags & ACK else 0
        self.w.ip(ip_tcp(a, b, ap, bp, s & 0xffffffff, ack & 0xffffffff, flags, payload,
                         self.ident[side] & 0xffff), fwd=(side == 0))
        self.ident[side] += 1
        if seq is None:
            self.seq[side] += len(payload) + (1 if flags & (SYN | FIN) else 0)

    def open(self):
        self.seg(0, SYN)
        self.seg(1, SYN | ACK)
        self.seg(0, ACK)

    def send(self, side, data, mss=1460):
        for i in range(0, len(data), mss):
            self.seg(side, PSH | ACK, data[i:i + mss])

    def close(self):
        self.seg(0, FIN | ACK)
        self.seg(1, FIN | ACK)
        self.seg(0, ACK)

    def say(self, side, *lines):
        self.send(side, b"".join(l + b"\r\n" for l in lines))


def ehlo(c, extra=b""):
    c.say(1, b"220 mx.test.example ESMTP")
    c.say(0, b"EHLO client.test.example")
    c.say(1, b"250-mx.test.example", b"250-PIPELINING", b"250-CHUNKING", b"250 SIZE 10000000")


def normal_session(c, n=0, body_lines=4):
    c.open()
    ehlo(c)
    c.say(0, b"MAIL FROM:<alice%d@corp.example>" % n)
    c.say(1, b"250 2.1.0 Ok")
    c.say(0, b"RCPT TO:<bob%d@other.example>" % n)
    c.say(1, b"250 2.1.5 Ok")
    c.say(0, b"DATA")
    c.say(1, b"354 End data with <CR><LF>.<CR><LF>")
    body = [b"Subject: hello %d" % n, b"Message-ID: <m%d@corp.example>" % n,
            b"From: alice@corp.example", b""]
    body += [b"line %d of a plain message body, nothing to see here" % i
             for i in range(body_lines)]
    c.say(0, *body, b".")
    c.say(1, b"250 2.0.0 Ok: queued")
    c.say(0, b"QUIT")
    c.say(1, b"221 2.0.0 Bye")
    c.close()


# ---- cases ----------------------------------------------------------------

def case_small(out):
    """Three ordinary sessions (cleartext, AUTH PLAIN, STARTTLS) for cut and
    corruption trials."""
    w = Pcap(out)
    normal_session(Conn(w, "10.1.0.1", 40001, "10.2.0.25", 25), 1)
    c = Conn(w, "10.1.0.2", 40002, "10.2.0.25", 587)
    c.open()
    ehlo(c)
    c.say(0, b"AUTH PLAIN AGFsaWNlAHNlY3JldA==")
    c.say(1, b"235 2.7.0 Authentication successful")
    c.say(0, b"MAIL FROM:<alice@corp.example>", b"RCPT TO:<carol@other.example>", b"DATA")
    c.say(1, b"250 Ok", b"250 Ok", b"354 go")
    c.say(0, b"Subject: second", b"", b"body", b".")
    c.say(1, b"250 Ok")
    c.say(0, b"QUIT")
    c.say(1, b"221 Bye")
    c.close()
    c = Conn(w, "10.1.0.3", 40003, "10.2.0.25", 25)
    c.open()
    c.say(1, b"220 mx.test.example ESMTP")
    c.say(0, b"EHLO c3")
    c.say(1, b"250-mx.test.example", b"250 STARTTLS")
    c.say(0, b"STARTTLS")
    c.say(1, b"220 2.0.0 Ready to start TLS")
    rnd = random.Random(3)
    hello = b"\x16\x03\x01\x00\x60\x01\x00\x00\x5c\x03\x03" + bytes(rnd.randrange(256) for _ in range(90))
    c.send(0, hello)
    c.send(1, b"\x16\x03\x03\x00\x30" + bytes(rnd.randrange(256) for _ in range(48)))
    c.send(0, b"\x17\x03\x03\x00\x20" + bytes(rnd.randrange(256) for _ in range(32)))
    c.close()
    w.close()


def case_open(out):
    """small + one connection left open (no FIN): for live capture."""
    case_small(out + ".tmp")
    w = Pcap(out)
    with open(out + ".tmp", "rb") as f:
        w.f.write(f.read()[24:])
    os.unlink(out + ".tmp")
    c = Conn(w, "10.1.0.9", 40009, "10.2.0.25", 25)
    c.open()
    ehlo(c)
    c.say(0, b"MAIL FROM:<still-open@corp.example>")
    c.say(1, b"250 Ok")
    w.close()


def case_syn(out, n):
    """n SYNs from n distinct sources to one server (raw IPv4 link, 56 bytes a
    record), between a complete session at the start and one at the end.
    The checksums are computed incrementally (only the source, the port,
    the sequence number and the IP id change)."""
    n = int(n)
    w = Pcap(out, LT_RAW)
    normal_session(Conn(w, "192.168.0.1", 50001, "192.0.2.25", 25), 1)
    dst = ip4("192.0.2.25")
    dsum = osum(dst)
    # little-endian pcap header and big-endian packet: two Structs
    hdr = struct.Struct("<IIII")
    pkt = struct.Struct("!BBHHHBBHI4sHHIIBBHHH")
    ip_fixed = 0x4500 + 40 + 0x4000 + ((64 << 8) | 6) + dsum
    tcp_fixed = dsum + 6 + 20 + 25 + ((5 << 12) | SYN) + 65535
    f = w.f
    hp, pp = hdr.pack, pkt.pack
    base = (10 << 24) + 1
    us = w.us
    buf = []
    for i in range(n):
        a = base + i
        sport = 1024 + (i % 64000)
        seq = (i * 2654435761) & 0xffffffff
        asum = (a >> 16) + (a & 0xffff)
        tc = (0xffff - (tcp_fixed + asum + sport + (seq >> 16) + (seq & 0xffff)) % 0xffff) % 0xffff
        buf.append(hp(T0 + us // 1000000, us % 1000000, 40, 40))
        buf.append(pp(0x45, 0, 40, i & 0xffff, 0x4000, 64, 6,
                      (0xffff - (ip_fixed + asum + (i & 0xffff)) % 0xffff) % 0xffff,
                      a, dst, sport, 25, seq, 0, 5 << 4, SYN, 65535, tc, 0))
        us += 1
        if len(buf) >= 16384:
            f.write(b"".join(buf))
            buf.clear()
    f.write(b"".join(buf))
    w.us = us + 10
    normal_session(Conn(w, "192.168.0.2", 50002, "192.0.2.25", 25), 2)
    w.close()


def case_nolf(out, nbytes):
    """One connection whose client sends nbytes without a line end (after
    EHLO), then CRLF, QUIT."""
    nbytes = int(nbytes)
    w = Pcap(out)
    c = Conn(w, "10.3.0.1", 41000, "10.2.0.25", 25)
    c.open()
    ehlo(c)
    seg = b"A" * 16384
    left = nbytes
    while left >= len(seg):
        c.seg(0, PSH | ACK, seg)
        left -= len(seg)
    if left:
        c.seg(0, PSH | ACK, b"A" * left)
    c.say(0, b"", b"QUIT")
    c.say(1, b"500 5.5.2 Line too long", b"221 Bye")
    c.close()
    w.close()


def case_nolf_data(out, nbytes, side="0"):
    """side 0: a message whose content is nbytes without a line end (the
    header scanner's case); side 1: a server that answers EHLO with nbytes
    without a line end."""
    nbytes, side = int(nbytes), int(side)
    w = Pcap(out)
    c = Conn(w, "10.3.0.2", 41001, "10.2.0.25", 25)
    c.open()
    seg = b"B" * 16384
    if side == 1:
        c.say(1, b"220 mx.test.example ESMTP")
        c.say(0, b"EHLO client.test.example")
        c.seg(1, PSH | ACK, b"250-")
    else:
        ehlo(c)
        c.say(0, b"MAIL FROM:<a@b.example>", b"RCPT TO:<c@d.example>", b"DATA")
        c.say(1, b"250 Ok", b"250 Ok", b"354 go")
        c.seg(0, PSH | ACK, b"Subject: ")
    left = nbytes
    while left > 0:
        k = min(left, len(seg))
        c.seg(side, PSH | ACK, seg if k == len(seg) else seg[:k])
        left -= k
    if side == 1:
        c.say(1, b"", b"250 OK")
        c.say(0, b"QUIT")
    else:
        c.say(0, b"", b"", b"body", b".")
        c.say(1, b"250 Ok")
        c.say(0, b"QUIT")
    c.say(1, b"221 Bye")
    c.close()
    w.close()


def case_replyflood(out, n):
    """A multi-line EHLO reply of n continuation lines that never ends, then
    a final line."""
    n = int(n)
    w = Pcap(out)
    c = Conn(w, "10.3.0.3", 41002, "10.2.0.25", 25)
    c.open()
    c.say(1, b"220 mx.test.example ESMTP")
    c.say(0, b"EHLO client.test.example")
    line = b"250-X-KEYWORD-%d\r\n"
    done = 0
    while done < n:
        k = min(1000, n - done)
        c.seg(1, PSH | ACK, b"".join(line % (done + j) for j in range(k)))
        done += k
    c.say(1, b"250 STARTTLS")
    c.say(0, b"QUIT")
    c.say(1, b"221 Bye")
    c.close()
    w.close()


def case_msgs(out, n):
    """One session carrying n messages (pipelined MAIL/RCPT/DATA)."""
    n = int(n)
    w = Pcap(out)
    c = Conn(w, "10.3.0.4", 41003, "10.2.0.25", 25)
    c.open()
    ehlo(c)
    for i in range(n):
        c.say(0, b"MAIL FROM:<a%d@b.example>" % i, b"RCPT TO:<c@d.example>", b"DATA")
        c.say(1, b"250 Ok", b"250 Ok", b"354 go")
        c.say(0, b"Subject: m%d" % i, b"", b"body", b".")
        c.say(1, b"250 Ok")
    c.say(0, b"QUIT")
    c.say(1, b"221 Bye")
    c.close()
    w.close()


def case_noop(out, n, replies="1"):
    """n pipelined NOOP commands in big segments (1448 bytes), each segment
    answered by one segment of 250 replies when replies=1."""
    n, replies = int(n), replies == "1"
    w = Pcap(out)
    c = Conn(w, "10.4.0.1", 42000, "10.2.0.25", 25)
    c.open()
    ehlo(c)
    per = 1448 // 6
    cmd, rep = b"NOOP\r\n" * per, b"250 2.0.0 Ok\r\n" * per
    done = 0
    while done < n:
        k = min(per, n - done)
        c.seg(0, PSH | ACK, cmd if k == per else b"NOOP\r\n" * k)
        if replies:
            c.send(1, rep if k == per else b"250 2.0.0 Ok\r\n" * k, mss=16384)
        done += k
    c.say(0, b"QUIT")
    c.say(1, b"221 Bye")
    c.close()
    w.close()


def case_rcpt(out, n):
    """One message with n recipients (pipelined, 50 a segment, all 250)."""
    n = int(n)
    w = Pcap(out)
    c = Conn(w, "10.5.0.1", 43000, "10.2.0.25", 25)
    c.open()
    ehlo(c)
    c.say(0, b"MAIL FROM:<spammer@bulk.example>")
    c.say(1, b"250 Ok")
    done = 0
    while done < n:
        k = min(50, n - done)
        c.seg(0, PSH | ACK, b"".join(b"RCPT TO:<u%d@victims.example>\r\n" % (done + j) for j in range(k)))
        c.seg(1, PSH | ACK, b"250 2.1.5 Ok\r\n" * k)
        done += k
    c.say(0, b"DATA")
    c.say(1, b"354 go")
    c.say(0, b"Subject: to everyone", b"", b"hi", b".")
    c.say(1, b"250 Ok")
    c.say(0, b"QUIT")
    c.say(1, b"221 Bye")
    c.close()
    w.close()


def case_bdat(out):
    """BDAT sizes at and past 2^64, 2^32, negative, garbage; each in its own
    session, followed by 200 KB of chunk data (more than any buffer) and
    then more commands."""
    w = Pcap(out)
    sizes = [b"18446744073709551615", b"18446744073709551615 LAST",
             b"18446744073709551616 LAST", b"99999999999999999999999999999999",
             b"4294967296", b"4294967297 LAST", b"-1 LAST", b"0x10 LAST",
             b"9223372036854775808", b"", b"1" * 5000]
    junk = (b"X" * 1000 + b"\r\n") * 200
    for i, sz in enumerate(sizes):
        c = Conn(w, "10.6.0.%d" % (i + 1), 44000 + i, "10.2.0.25", 25)
        c.open()
        ehlo(c)
        c.say(0, b"MAIL FROM:<a@b.example>", b"RCPT TO:<c@d.example>")
        c.say(1, b"250 Ok", b"250 Ok")
        c.say(0, b"BDAT " + sz)
        c.send(0, junk)
        c.say(1, b"552 5.3.4 Message size exceeds fixed maximum message size")
        c.say(0, b"MAIL FROM:<x@y.example>", b"QUIT")
        c.say(1, b"250 Ok", b"221 Bye")
        c.close()
    w.close()


def case_overlap(out, n):
    """Session 1: after EHLO, a 1000-byte client segment retransmitted n times
    with different bytes each time (and a partially overlapping variant).
    Session 2: the same against the out-of-order queue: a hole first, then
    n overlapping segments with varying bytes beyond it, then the hole
    filled."""
    n = int(n)
    rnd = random.Random(7)
    w = Pcap(out)
    c = Conn(w, "10.7.0.1", 45000, "10.2.0.25", 25)
    c.open()
    ehlo(c)
    start = c.seq[0]
    first = b"MAIL FROM:<a@b.example>\r\n" + b"X" * 973 + b"\r\n"
    c.seg(0, PSH | ACK, first)
    for i in range(n):
        off = (i * 37) % 500 if i & 1 else 0
        data = bytes([65 + rnd.randrange(26)]) * (1000 - off)
        c.seg(0, PSH | ACK, data, seq=start + off)
    c.say(1, b"250 Ok")
    c.say(0, b"RCPT TO:<c@d.example>")
    c.say(1, b"250 Ok")
    c.say(0, b"QUIT")
    c.say(1, b"221 Bye")
    c.close()

    c = Conn(w, "10.7.0.2", 45001, "10.2.0.25", 25)
    c.open()
    ehlo(c)
    start = c.seq[0]
    for i in range(n):
        off = 100 + (i * 13) % 700
        data = bytes([97 + rnd.randrange(26)]) * 600
        c.seg(0, PSH | ACK, data, seq=start + off)
    c.seg(0, PSH | ACK, b"MAIL FROM:<z@b.example>\r\n" + b"Y" * 73 + b"\r\n")
    c.seq[0] = start + 1399
    c.say(0, b"", b"QUIT")
    c.say(1, b"221 Bye")
    c.close()
    w.close()


def case_flood(out, n):
    """n connections that each say a little and never end (handshake, 220
    banner, EHLO): every one of them gets dissector state and history
    buffers, so the flow table fills with live, talking flows."""
    n = int(n)
    w = Pcap(out, LT_RAW)
    banner = b"220 mx.test.example ESMTP\r\n"
    hello = b"EHLO flood.example\r\n"
    sip = ip4("192.0.2.25")
    for i in range(n):
        c = Conn(w, struct.pack("!I", (11 << 24) + 1 + i), 1024 + i % 60000, sip, 25)
        c.open()
        c.seg(1, PSH | ACK, banner)
        c.seg(0, PSH | ACK, hello)
    w.close()


def case_interleave(out, n):
    """n connections opened in turn, each saying its banner, and then, in a
    second round, each sending EHLO, a cleartext message and QUIT: with a
    flow table smaller than n, the first round evicts connections that have
    carried data; their second round must not come back as new sessions."""
    n = int(n)
    w = Pcap(out, LT_RAW)
    sip = ip4("192.0.2.25")
    conns = []
    for i in range(n):
        c = Conn(w, struct.pack("!I", (13 << 24) + 1 + i), 2000 + i, sip, 25)
        c.open()
        c.say(1, b"220 mx.test.example ESMTP")
        conns.append(c)
    for c in conns:
        c.say(0, b"EHLO client.test.example")
        c.say(1, b"250 mx.test.example")
        c.say(0, b"MAIL FROM:<a@x.example>", b"RCPT TO:<b@y.example>", b"DATA")
        c.say(1, b"250 ok", b"250 ok", b"354 go")
        c.say(0, b"Subject: s", b"", b"body", b".", b"QUIT")
        c.say(1, b"250 queued", b"221 bye")
        c.close()
    w.close()


def case_ooo(out, n, kib="256"):
    """n connections, each with its first client segment missing and then
    kib KiB of client data held out of order (1448-byte segments): the
    reassembly queues of many flows at once."""
    n, nbytes = int(n), int(kib) * 1024
    w = Pcap(out, LT_RAW)
    seg = b"Z" * 1448
    sip = ip4("192.0.2.25")
    for i in range(n):
        c = Conn(w, struct.pack("!I", (12 << 24) + 1 + i), 1024 + i % 60000, sip, 25)
        c.open()
        c.seg(1, PSH | ACK, b"220 mx.test.example ESMTP\r\n")
        base = c.seq[0] + 1448          # the first 1448 bytes never come
        for k in range(0, nbytes, 1448):
            c.seg(0, PSH | ACK, seg, seq=base + k)
    w.close()


def case_many(out, target):
    """Many ordinary sessions (distinct clients) until the file reaches
    target bytes: the capture for the SIGKILL trials."""
    target = int(target)
    w = Pcap(out)
    i = 0
    while w.f.tell() < target:
        cip = "10.%d.%d.%d" % (8 + (i >> 16) % 200, (i >> 8) & 255, (i & 255) or 1)
        normal_session(Conn(w, cip, 1024 + i % 60000, "10.2.0.25", 25), i, body_lines=3)
        i += 1
    w.close()


# Hostile strings: each must come back out of the database byte for byte
# (they are printable ASCII, which the escaping keeps as is).
INJECT = {
    "mail_from": b"x'); DROP TABLE sessions;--@a",
    "rcpt1": b"\"; DELETE FROM findings; --\"@b.example",
    "rcpt2": b"a' OR '1'='1@c.example",
    "rcpt3": b"x'); DROP TABLE recipients;--@d.example",
    "helo": b"'); DROP TABLE captures;--",
    "banner": b"mx'\"; DROP TABLE messages;-- ESMTP",
    "user": b"admin'--",
    "subject": b"'); UPDATE sessions SET protection='starttls';--",
    "msgid": b"<x%' ESCAPE '\\'@y>",
}


def case_inject(out):
    w = Pcap(out)
    c = Conn(w, "10.9.0.1", 46000, "10.2.0.25", 587)
    c.open()
    c.say(1, b"220 " + INJECT["banner"])
    c.say(0, b"EHLO " + INJECT["helo"])
    c.say(1, b"250-mx.test.example", b"250 AUTH PLAIN LOGIN")
    import base64
    c.say(0, b"AUTH PLAIN " + base64.b64encode(b"\0" + INJECT["user"] + b"\0pw'; --"))
    c.say(1, b"235 2.7.0 ok")
    c.say(0, b"MAIL FROM:<" + INJECT["mail_from"] + b">")
    c.say(1, b"250 Ok")
    c.say(0, b"RCPT TO:<" + INJECT["rcpt1"] + b">")
    c.say(1, b"250 Ok")
    c.say(0, b"RCPT TO:<" + INJECT["rcpt2"] + b">")
    c.say(1, b"250 Ok")
    c.say(0, b"RCPT TO:<" + INJECT["rcpt3"] + b">")
    c.say(1, b"250 Ok")
    c.say(0, b"DATA")
    c.say(1, b"354 go")
    c.say(0, b"Subject: " + INJECT["subject"], b"Message-ID: " + INJECT["msgid"],
          b"", b"body", b".")
    c.say(1, b"250 Ok")
    c.say(0, b"QUIT")
    c.say(1, b"221 Bye")
    c.close()
    w.close()


def check_inject(db):
    import sqlite3
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    con.text_factory = bytes
    errs = []

    def one(sql, *args):
        r = con.execute(sql, args).fetchone()
        return r[0] if r else None

    tables = {r[0].decode() for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for t in ("captures", "sessions", "messages", "recipients", "findings"):
        if t not in tables:
            errs.append("table %s is gone" % t)
    if errs:
        print("; ".join(errs))
        return 1
    want = [("SELECT count(*) FROM messages WHERE mail_from = ?", INJECT["mail_from"]),
            ("SELECT count(*) FROM recipients WHERE address = ?", INJECT["rcpt1"]),
            ("SELECT count(*) FROM recipients WHERE address = ?", INJECT["rcpt2"]),
            ("SELECT count(*) FROM recipients WHERE address = ?", INJECT["rcpt3"]),
            ("SELECT count(*) FROM sessions WHERE helo = ?", INJECT["helo"]),
            ("SELECT count(*) FROM sessions WHERE banner = ?", INJECT["banner"]),
            ("SELECT count(*) FROM sessions WHERE auth_user = ?", INJECT["user"]),
            ("SELECT count(*) FROM messages WHERE subject = ?", INJECT["subject"]),
            ("SELECT count(*) FROM messages WHERE message_id = ?", INJECT["msgid"])]
    for sql, v in want:
        v = v.replace(b"\\", b"\\\\")    # the stored form writes a backslash as two
        if one(sql, v.decode()) != 1:
            col = sql.split("WHERE ")[1].split(" ")[0]
            got = [r[0] for r in con.execute(sql.replace("count(*)", col).split(" WHERE")[0])]
            errs.append("%s: want %r, have %r" % (col, v, got))
    if one("SELECT count(*) FROM sessions") != 1:
        errs.append("sessions: %r rows, want 1" % one("SELECT count(*) FROM sessions"))
    if one("SELECT count(*) FROM sessions WHERE protection = 'cleartext'") != 1:
        errs.append("protection was changed")
    if one("SELECT count(*) FROM findings") in (None, 0):
        errs.append("no findings")
    if one("SELECT count(*) FROM findings WHERE evidence LIKE '%pw''; --%'"):
        errs.append("the password reached the database")
    if errs:
        print("; ".join(errs))
        return 1
    return 0


# ---- transforms -----------------------------------------------------------

def records(data):
    """(offset of record header, caplen, len) of each record of a classic
    little-endian microsecond pcap."""
    off = 24
    out = []
    while off + 16 <= len(data):
        _, _, cl, ln = struct.unpack_from("<IIII", data, off)
        out.append((off, cl, ln))
        off += 16 + cl
    return out


def xform(kind, src, dst, arg=None):
    data = bytearray(open(src, "rb").read())
    if kind == "snaplen":           # re-capture with a short snaplen
        n = int(arg)
        outb = bytearray(data[:24])
        struct.pack_into("<I", outb, 16, n)
        for off, cl, ln in records(data):
            k = min(cl, n)
            outb += struct.pack("<IIII", *struct.unpack_from("<II", data, off), k, ln)
            outb += data[off + 16:off + 16 + k]
        data = outb
    elif kind == "caplen_gt_len":   # every record claims len < caplen
        for off, cl, ln in records(data):
            struct.pack_into("<I", data, off + 12, max(1, cl // 2))
    elif kind == "huge_caplen":     # record arg (index, 'mid' = middle) gets caplen 0xfffffff0
        recs = records(data)
        i = len(recs) // 2 if arg in (None, "mid") else int(arg)
        struct.pack_into("<I", data, recs[i][0] + 8, 0xfffffff0)
    elif kind == "big_caplen":      # caplen just over the file's snaplen (262145), not followed by data
        recs = records(data)
        struct.pack_into("<I", data, recs[len(recs) // 2][0] + 8, 262145)
    elif kind == "zero_len":        # every third record: caplen 0 and len 0
        outb = bytearray(data[:24])
        for j, (off, cl, ln) in enumerate(records(data)):
            if j % 3 == 1:
                outb += struct.pack("<IIII", *struct.unpack_from("<II", data, off), 0, 0)
            else:
                outb += data[off:off + 16 + cl]
        data = outb
    elif kind == "pcapng":          # the same records as pcapng (SHB, IDB, EPBs)
        def block(t, body):
            body += b"\0" * (-len(body) % 4)
            return struct.pack("<II", t, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
        snap, link = struct.unpack_from("<II", data, 16)
        outb = bytearray(block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
        outb += block(1, struct.pack("<HHI", link, 0, snap))
        for off, cl, ln in records(data):
            sec, usec = struct.unpack_from("<II", data, off)
            t = sec * 1000000 + usec
            outb += block(6, struct.pack("<IIIII", 0, t >> 32, t & 0xffffffff, cl, ln)
                          + bytes(data[off + 16:off + 16 + cl]))
        data = outb
    elif kind == "cut":
        data = data[:int(arg)]
    else:
        raise SystemExit("gen.py: unknown transform " + kind)
    open(dst, "wb").write(data)


def corrupt(src, outdir, n, seed, prefix="c"):
    data = open(src, "rb").read()
    rnd = random.Random(int(seed))
    os.makedirs(outdir, exist_ok=True)
    for j in range(int(n)):
        d = bytearray(data)
        k = rnd.randint(1, 10)
        at = rnd.randrange(len(d) - k)
        for i in range(k):
            d[at + i] = rnd.randrange(256)
        with open(os.path.join(outdir, "%s%03d_at%d_len%d.pcap" % (prefix, j, at, k)), "wb") as f:
            f.write(d)


def sendpcap(iface, path):
    data = open(path, "rb").read()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    import time
    for off, cl, ln in records(data):
        s.send(data[off + 16:off + 16 + cl])
        time.sleep(0.0005)
    s.close()


def measure(outfile, *cmd):
    """Fallback for /usr/bin/time -o OUTFILE -f '%M %e' CMD: peak RSS (KiB)
    and seconds of CMD and its children; the exit status of CMD (128 + the
    signal when it was killed by one)."""
    import subprocess
    import time
    t = time.monotonic()
    p = subprocess.Popen(cmd)
    _, status, ru = os.wait4(p.pid, 0)
    with open(outfile, "w") as f:
        f.write("%d %.2f\n" % (ru.ru_maxrss, time.monotonic() - t))
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


CASES = {"small": case_small, "open": case_open, "syn": case_syn, "nolf": case_nolf,
         "noop": case_noop, "rcpt": case_rcpt, "bdat": case_bdat, "flood": case_flood, "interleave": case_interleave, "nolf_data": case_nolf_data,
         "replyflood": case_replyflood, "msgs": case_msgs, "ooo": case_ooo, "overlap": case_overlap,
         "many": case_many, "inject": case_inject}


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd = argv[1]
    if cmd in CASES:
        CASES[cmd](*argv[2:])
    elif cmd == "xform":
        xform(*argv[2:])
    elif cmd == "corrupt":
        corrupt(*argv[2:])
    elif cmd == "sendpcap":
        sendpcap(*argv[2:])
    elif cmd == "measure":
        return measure(*argv[2:])
    elif cmd == "check-inject":
        return check_inject(argv[2])
    else:
        raise SystemExit("gen.py: unknown case " + cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
