from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from portus.drivers.certificates.local_ca import LocalCA


@pytest.fixture
def ca(tmp_path: Path) -> LocalCA:
    authority = LocalCA(tmp_path / "ca", validity_days=30)
    authority.ensure()
    return authority


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_ensure_creates_files_with_safe_modes(ca: LocalCA) -> None:
    assert mode(ca.ca_dir) == 0o700
    assert mode(ca.ca_dir / "ca.key") == 0o600
    assert mode(ca.client_key_path) == 0o600
    for path in (ca.ca_cert_path, ca.client_cert_path):
        assert path.exists()


def test_ca_is_p256_ten_years(ca: LocalCA) -> None:
    cert = load(ca.ca_cert_path)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc - cert.not_valid_before_utc >= dt.timedelta(days=3650)


def test_ensure_is_idempotent(ca: LocalCA) -> None:
    before = {p: p.read_bytes() for p in ca.ca_dir.iterdir()}
    ca.ensure()
    LocalCA(ca.ca_dir).ensure()  # another process starting later
    assert {p: p.read_bytes() for p in ca.ca_dir.iterdir()} == before


def test_client_cert(ca: LocalCA) -> None:
    cert = load(ca.client_cert_path)
    assert cn(cert) == "portus-controller"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert.verify_directly_issued_by(load(ca.ca_cert_path))


def test_client_cert_reissued_when_ca_replaced(ca: LocalCA) -> None:
    old_client = ca.client_cert_path.read_bytes()
    (ca.ca_dir / "ca.pem").unlink()
    fresh = LocalCA(ca.ca_dir)
    fresh.ensure()
    assert ca.client_cert_path.read_bytes() != old_client
    load(ca.client_cert_path).verify_directly_issued_by(load(ca.ca_cert_path))


def test_issue_server_cert(ca: LocalCA) -> None:
    issued = ca.issue_server_cert("amp-123", ["10.0.0.5", "fd00::5"])
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    cert.verify_directly_issued_by(load(ca.ca_cert_path))
    assert cn(cert) == "amp-123"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["amp-123"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("fd00::5"),
    ]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert issued.expires == cert.not_valid_after_utc
    lifetime = cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=29) < lifetime <= dt.timedelta(days=30)
    assert b"PRIVATE KEY" in issued.key_pem


def test_issue_without_explicit_ensure(tmp_path: Path) -> None:
    issued = LocalCA(tmp_path / "lazy").issue_server_cert("amp-1", [])
    assert issued.cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")


def test_mutual_tls_handshake(ca: LocalCA, tmp_path: Path) -> None:
    """The issued files work together in a real TLS handshake, both ways."""
    issued = ca.issue_server_cert("amp-xyz", ["127.0.0.1"])
    (tmp_path / "s.pem").write_bytes(issued.cert_pem)
    (tmp_path / "s.key").write_bytes(issued.key_pem)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "s.pem", tmp_path / "s.key")
    server_ctx.load_verify_locations(ca.ca_cert_path)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(ca.ca_cert_path)
    client_ctx.load_cert_chain(ca.client_cert_path, ca.client_key_path)

    a, b = socket.socketpair()
    peer: dict[str, object] = {}

    def serve() -> None:
        with server_ctx.wrap_socket(a, server_side=True) as tls:
            peer.update(tls.getpeercert() or {})
            tls.sendall(b"ok")

    t = threading.Thread(target=serve)
    t.start()
    with client_ctx.wrap_socket(b, server_hostname="amp-xyz") as tls:
        assert tls.recv(2) == b"ok"
    t.join()
    assert ((("commonName", "portus-controller"),),) == peer["subject"]
