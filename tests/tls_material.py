"""TLS material for tests: a CA, server and client certificates, a CRL, PKCS#12.

Generated once per process with `cryptography` (ECDSA P-256, fast), never stored in
the repository.
"""
from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    @property
    def pem_bundle(self) -> str:
        return (self.cert_pem + self.key_pem).decode()

    def pkcs12_b64(self, chain: tuple["Issued", ...] = ()) -> str:
        data = pkcs12.serialize_key_and_certificates(
            b"t", self.key, self.cert, [c.cert for c in chain] or None,
            serialization.NoEncryption())
        return base64.b64encode(data).decode()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(cn: str, issuer: Issued | None = None, dns: tuple[str, ...] = (),
          ca: bool = False) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(cn))
               .issuer_name(issuer.cert.subject if issuer else _name(cn))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(hours=1))
               .not_valid_after(now + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Issued(cert, key)


def crl(issuer: Issued, revoked: tuple[Issued, ...] = ()) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
               .last_update(now - dt.timedelta(hours=1)).next_update(now + dt.timedelta(days=2)))
    for item in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(item.cert.serial_number)
            .revocation_date(now - dt.timedelta(minutes=5)).build())
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(
        serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class Material:
    ca: Issued
    server: Issued  # www.example.test
    other: Issued  # api.example.test (an SNI certificate)
    client: Issued
    revoked_client: Issued
    crl: str  # signed by ca, revokes revoked_client
    foreign_ca: Issued
    foreign_crl: str  # signed by foreign_ca


@lru_cache(maxsize=1)
def material() -> Material:
    ca = issue("portus test CA", ca=True)
    revoked = issue("revoked client", ca)
    foreign = issue("another CA", ca=True)
    return Material(
        ca=ca, server=issue("www.example.test", ca, dns=("www.example.test",)),
        other=issue("api.example.test", ca, dns=("api.example.test",)),
        client=issue("client one", ca), revoked_client=revoked, crl=crl(ca, (revoked,)),
        foreign_ca=foreign, foreign_crl=crl(foreign))
