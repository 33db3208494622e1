"""Parse and check the TLS material tenants store: certificates with their key,
CA bundles and CRLs. Everything is turned into the PEM files HAProxy loads.

A certificate secret is either PKCS#12 (what Octavia's documentation tells users
to store, binary or base64) or a PEM text holding the certificate, its private
key and optionally the intermediates, in any order.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


class BundleError(ValueError):
    """The secret is not a usable certificate, CA or CRL; the message says why."""


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.S)


@dataclass(frozen=True)
class CertificateBundle:
    pem: bytes  # leaf certificate, intermediates, private key: one file for HAProxy
    names: tuple[str, ...]  # subject CN and DNS subject alternative names
    not_after: dt.datetime


def _key_pem(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _maybe_base64(payload: bytes) -> bytes:
    """PKCS#12 travels base64-encoded in many tools; accept both forms."""
    if payload.lstrip().startswith(b"-----BEGIN"):
        return payload
    try:
        return base64.b64decode(payload, validate=False) if _looks_base64(payload) else payload
    except (binascii.Error, ValueError):
        return payload


def _looks_base64(payload: bytes) -> bool:
    return bool(re.fullmatch(rb"[A-Za-z0-9+/=\s]+", payload))


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    names: list[str] = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
                        if isinstance(a.value, str)]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names += [n for n in san.value.get_values_for_type(x509.DNSName) if n not in names]
    except x509.ExtensionNotFound:
        pass
    return tuple(names)


def _bundle(cert: x509.Certificate, key: object, chain: list[x509.Certificate]) -> CertificateBundle:
    if key is None:
        raise BundleError("the secret holds no private key")
    ours = key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    theirs = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if ours != theirs:
        raise BundleError("the private key does not match the certificate")
    pem = _cert_pem(cert) + b"".join(_cert_pem(c) for c in chain) + _key_pem(key)
    return CertificateBundle(pem=pem, names=_names(cert), not_after=cert.not_valid_after_utc)


def certificate_bundle(payload: bytes, passphrase: bytes | None = None) -> CertificateBundle:
    data = _maybe_base64(payload)
    if not data.lstrip().startswith(b"-----BEGIN"):
        try:
            p12_key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase)
        except ValueError as exc:
            raise BundleError(f"not a PKCS#12 bundle or PEM certificate and key ({exc})") from None
        if cert is None:
            raise BundleError("the PKCS#12 bundle holds no certificate")
        return _bundle(cert, p12_key, list(extra or []))
    certs: list[x509.Certificate] = []
    key: object = None
    for block in _PEM_BLOCK.finditer(data):
        kind = block.group(1)
        try:
            if kind == b"CERTIFICATE":
                certs.append(x509.load_pem_x509_certificate(block.group(0)))
            elif kind.endswith(b"PRIVATE KEY"):
                if key is not None:
                    raise BundleError("the secret holds more than one private key")
                key = serialization.load_pem_private_key(block.group(0), passphrase)
        except (ValueError, TypeError) as exc:
            raise BundleError(f"unreadable PEM {kind.decode()} ({exc})") from None
    if not certs:
        raise BundleError("the secret holds no certificate")
    leaf = _leaf(certs, key)
    return _bundle(leaf, key, [c for c in certs if c is not leaf])


def _leaf(certs: list[x509.Certificate], key: object) -> x509.Certificate:
    """The certificate that matches the key (PEM order is not guaranteed)."""
    if key is None:
        return certs[0]
    want = key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for cert in certs:
        if cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo) == want:
            return cert
    raise BundleError("the private key does not match any certificate in the secret")


def ca_bundle(payload: bytes) -> tuple[bytes, list[x509.Certificate]]:
    """PEM (or DER) CA certificates → (PEM file content, certificates)."""
    data = _maybe_base64(payload)
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise BundleError(f"not a PEM or DER CA certificate ({exc})") from None
    return b"".join(_cert_pem(c) for c in certs), certs


def crl_pem(payload: bytes, cas: list[x509.Certificate]) -> bytes:
    """A CRL, which must be signed by one of the CA certificates it goes with."""
    data = _maybe_base64(payload)
    try:
        crl = (x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----BEGIN")
               else x509.load_der_x509_crl(data))
    except ValueError as exc:
        raise BundleError(f"not a PEM or DER certificate revocation list ({exc})") from None
    if not any(crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
               for ca in cas):
        raise BundleError("the CRL is not signed by the CA certificate it goes with")
    return crl.public_bytes(serialization.Encoding.PEM)
