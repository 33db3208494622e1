"""portus's own certificate authority, kept in a directory on the controller.

It signs the controller's client certificate and one server certificate per
amphora, which together give the controller<->agent mutual TLS. ECDSA P-256
throughout: signing costs ~20 µs, so issuing a certificate per amphora is
effectively free next to creating the amphora.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from portus.common.osutil import write_atomic

CA_VALIDITY = dt.timedelta(days=3650)
CLIENT_VALIDITY = dt.timedelta(days=365)
CLIENT_CN = "portus-controller"
CA_CN = "portus-ca"
# Certificates start a little in the past so a peer whose clock is slightly
# behind ours does not reject a certificate issued a moment ago.
BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class IssuedCert:
    cert_pem: bytes
    key_pem: bytes
    expires: dt.datetime  # timezone-aware UTC


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class LocalCA:
    def __init__(self, ca_dir: Path, validity_days: int = 30) -> None:
        self.ca_dir = Path(ca_dir)
        self.validity = dt.timedelta(days=validity_days)
        self._ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None

    @property
    def ca_cert_path(self) -> Path:
        return self.ca_dir / "ca.pem"

    @property
    def ca_key_path(self) -> Path:
        return self.ca_dir / "ca.key"

    @property
    def client_cert_path(self) -> Path:
        return self.ca_dir / "client.pem"

    @property
    def client_key_path(self) -> Path:
        return self.ca_dir / "client.key"

    def ensure(self) -> None:
        """Create the CA and the controller's client certificate if missing.

        Idempotent and safe to call from several processes at once (API,
        workers, housekeeping): creation happens under an exclusive file lock.
        The client certificate is re-issued when missing, not from this CA, or
        within 30 days of expiry.
        """
        self.ca_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.ca_dir, 0o700)
        with open(self.ca_dir / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not (self.ca_cert_path.exists() and self.ca_key_path.exists()):
                    self._create_ca()
                self._ca = self._load_ca()
                if not self._client_cert_ok():
                    self._create_client()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def issue_server_cert(self, amphora_id: str, ips: list[str]) -> IssuedCert:
        """A server certificate for one amphora's agent (CN and DNS SAN = its id)."""
        sans: list[x509.GeneralName] = [x509.DNSName(amphora_id)]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._sign(
            key.public_key(), amphora_id, self.validity,
            ExtendedKeyUsageOID.SERVER_AUTH, sans,
        )
        return IssuedCert(
            cert.public_bytes(serialization.Encoding.PEM), _key_pem(key), cert.not_valid_after_utc,
        )

    # -- internals -------------------------------------------------------

    def _create_ca(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_CN)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False,
                    key_encipherment=False, data_encipherment=False,
                    key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        # Key first: a crash between the two writes leaves no cert without its key.
        write_atomic(self.ca_key_path, _key_pem(key), 0o600)
        write_atomic(self.ca_cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)

    def _load_ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        cert = x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())
        key = serialization.load_pem_private_key(self.ca_key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{self.ca_key_path}: expected an EC private key")
        return cert, key

    def _client_cert_ok(self) -> bool:
        if not (self.client_cert_path.exists() and self.client_key_path.exists()):
            return False
        assert self._ca is not None
        cert = x509.load_pem_x509_certificate(self.client_cert_path.read_bytes())
        if cert.issuer != self._ca[0].subject:
            return False
        try:
            cert.verify_directly_issued_by(self._ca[0])
        except (InvalidSignature, ValueError, TypeError):
            return False  # e.g. the CA was recreated: re-issue
        return cert.not_valid_after_utc - _now() > dt.timedelta(days=30)

    def _create_client(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._sign(key.public_key(), CLIENT_CN, CLIENT_VALIDITY, ExtendedKeyUsageOID.CLIENT_AUTH, [])
        write_atomic(self.client_key_path, _key_pem(key), 0o600)
        write_atomic(self.client_cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)

    def _sign(
        self,
        public_key: ec.EllipticCurvePublicKey,
        cn: str,
        validity: dt.timedelta,
        eku: x509.ObjectIdentifier,
        sans: list[x509.GeneralName],
    ) -> x509.Certificate:
        if self._ca is None:
            self.ensure()
        assert self._ca is not None
        ca_cert, ca_key = self._ca
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(min(now + validity, ca_cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False,
                    key_encipherment=False, data_encipherment=False,
                    key_agreement=False, key_cert_sign=False, crl_sign=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False,
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(ca_key, hashes.SHA256())
