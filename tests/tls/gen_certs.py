#!/usr/bin/python3
"""Generate the certificates for the TLS captures (python3-cryptography).
Fixed validity dates so the committed pcaps keep their meaning: mailtap checks
validity against the packet time, not the wall clock."""
import datetime, sys, os
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

out = sys.argv[1] if len(sys.argv) > 1 else "."
D = datetime.datetime
VALID = (D(2024, 1, 1), D(2034, 1, 1))
EXPIRED = (D(2020, 1, 1), D(2021, 1, 1))
CA_DATES = (D(2019, 1, 1), D(2039, 1, 1))   # covers the expired leaf too

def key(bits):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)

def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailtap test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])

def cert(subj_cn, k, issuer_cn, issuer_key, dates, ca=False, san=None):
    b = (x509.CertificateBuilder().subject_name(name(subj_cn)).issuer_name(name(issuer_cn))
         .public_key(k.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(dates[0]).not_valid_after(dates[1])
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in san]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())

def save(base, c, k):
    with open(os.path.join(out, base + ".crt"), "wb") as f:
        f.write(c.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(out, base + ".key"), "wb") as f:
        f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()))

cak = key(2048)
ca = cert("mailtap test CA", cak, "mailtap test CA", cak, CA_DATES, ca=True)
save("ca", ca, cak)
for base, cn, bits, dates, signer in [
        ("leaf", "mx.test.example", 2048, VALID, "ca"),
        ("expired", "mx.test.example", 2048, EXPIRED, "ca"),
        ("wrongname", "other.elsewhere.example", 2048, VALID, "ca"),
        ("rsa1024", "mx.test.example", 1024, VALID, "ca"),
        ("selfsigned", "mx.test.example", 2048, VALID, "self")]:
    k = key(bits)
    if signer == "self":
        c = cert(cn, k, cn, k, dates, san=[cn])
    else:
        c = cert(cn, k, "mailtap test CA", cak, dates, san=[cn])
    save(base, c, k)
