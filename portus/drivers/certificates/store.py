"""The certificate store: secrets in the database, named by Barbican-style refs.

A listener's or pool's ``*_container_ref`` names a secret as
``<api>/v1/secrets/<uuid>`` (what POST /v1/secrets returns) or by its bare uuid.
The API checks every ref when it is set; the worker reads them again when it
renders, so a secret deleted behind portus's back shows as a convergence error.

A secret's payload never changes once stored, so what was parsed from it is kept
(keyed by its ciphertext, a bounded number of them): each render still reads the
rows (existence, owner) but decrypts and parses only secrets it has not seen.
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cryptography import x509
from sqlalchemy.orm import Session

from portus.db import models as m
from portus.drivers.certificates import bundles
from portus.drivers.certificates.secret_box import SecretBox

_REF = re.compile(r"(?:.*/v1/secrets/)?([0-9a-fA-F-]{36})/?")
_CACHED = 512  # parsed secrets kept per store
T = TypeVar("T")


class SecretUnavailable(LookupError):
    """A ref that names no readable secret, or a secret that is not what it must be."""


def secret_id(ref: str) -> str | None:
    match = _REF.fullmatch(ref.strip())
    return match.group(1).lower() if match else None


@dataclass
class CertificateStore:
    box: SecretBox
    _parsed: OrderedDict[tuple[Any, ...], Any] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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

    def _parse(self, session: Session, ref: str, project_id: str | None, kind: str,
               parse: Callable[[bytes], T], *depends: Any) -> T:
        """``parse`` of the payload ``ref`` names, from the cache when the same
        ciphertext was parsed as ``kind`` before (``depends``: more inputs of ``parse``)."""
        row = self.secret(session, ref, project_id)
        key = (kind, row.id, row.encrypted_payload, *depends)
        with self._lock:
            if key in self._parsed:
                self._parsed.move_to_end(key)
                return self._parsed[key]  # type: ignore[no-any-return]
        try:
            value = parse(self.payload(row))
        except bundles.BundleError as exc:
            raise SecretUnavailable(f"{ref}: {exc}") from None
        with self._lock:
            self._parsed[key] = value
            while len(self._parsed) > _CACHED:
                self._parsed.popitem(last=False)
        return value

    def certificate(self, session: Session, ref: str,
                    project_id: str | None) -> bundles.CertificateBundle:
        return self._parse(session, ref, project_id, "certificate", bundles.certificate_bundle)

    def ca(self, session: Session, ref: str,
           project_id: str | None) -> tuple[bytes, list[x509.Certificate]]:
        return self._parse(session, ref, project_id, "ca", bundles.ca_bundle)

    def crl(self, session: Session, ref: str, ca_ref: str, project_id: str | None) -> bytes:
        pem, cas = self.ca(session, ca_ref, project_id)
        return self._parse(session, ref, project_id, "crl",
                           lambda payload: bundles.crl_pem(payload, cas), pem)
