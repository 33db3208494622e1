"""The certificate store: secrets in the database, named by Barbican-style refs.

A listener's or pool's ``*_container_ref`` names a secret as
``<api>/v1/secrets/<uuid>`` (what POST /v1/secrets returns) or by its bare uuid.
The API checks every ref when it is set; the worker reads them again when it
renders, so a secret deleted behind portus's back shows as a convergence error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography import x509
from sqlalchemy.orm import Session

from portus.db import models as m
from portus.drivers.certificates import bundles
from portus.drivers.certificates.secret_box import SecretBox

_REF = re.compile(r"(?:.*/v1/secrets/)?([0-9a-fA-F-]{36})/?")


class SecretUnavailable(LookupError):
    """A ref that names no readable secret, or a secret that is not what it must be."""


def secret_id(ref: str) -> str | None:
    match = _REF.fullmatch(ref.strip())
    return match.group(1).lower() if match else None


@dataclass
class CertificateStore:
    box: SecretBox

    def secret(self, session: Session, ref: str, project_id: str | None) -> m.Secret:
        """The secret a ref names, if ``project_id`` owns it (None: any project)."""
        sid = secret_id(ref)
        row = session.get(m.Secret, sid) if sid else None
        if row is None or (project_id is not None and row.project_id != project_id):
            raise SecretUnavailable(f"no secret {ref!r} is readable by project {project_id}")
        return row

    def payload(self, row: m.Secret) -> bytes:
        if row.encrypted_payload is None:
            raise SecretUnavailable(f"secret {row.id} has no payload")
        return self.box.open(row.encrypted_payload)

    def _read(self, session: Session, ref: str, project_id: str | None) -> bytes:
        return self.payload(self.secret(session, ref, project_id))

    def certificate(self, session: Session, ref: str,
                    project_id: str | None) -> bundles.CertificateBundle:
        try:
            return bundles.certificate_bundle(self._read(session, ref, project_id))
        except bundles.BundleError as exc:
            raise SecretUnavailable(f"{ref}: {exc}") from None

    def ca(self, session: Session, ref: str,
           project_id: str | None) -> tuple[bytes, list[x509.Certificate]]:
        try:
            return bundles.ca_bundle(self._read(session, ref, project_id))
        except bundles.BundleError as exc:
            raise SecretUnavailable(f"{ref}: {exc}") from None

    def crl(self, session: Session, ref: str, ca_ref: str, project_id: str | None) -> bytes:
        _, cas = self.ca(session, ca_ref, project_id)
        try:
            return bundles.crl_pem(self._read(session, ref, project_id), cas)
        except bundles.BundleError as exc:
            raise SecretUnavailable(f"{ref}: {exc}") from None
