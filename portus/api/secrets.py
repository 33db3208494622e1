"""/v1/secrets: a Barbican-compatible secret store for TLS material.

Hosts without Barbican still need somewhere to keep the certificates that
TERMINATED_HTTPS listeners and re-encrypting pools name in their
``*_container_ref`` fields. This serves the part of Barbican's secrets API that
tenants and tools use to store one (POST with a payload, GET metadata and
payload, list, DELETE), so ``openstacksdk``'s key-manager calls and curl recipes
written for Barbican work. Payloads are encrypted at rest; a secret is visible
to its project only (and to admins), and one still in use cannot be deleted.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field, StrictInt, StrictStr
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from portus.api import errors
from portus.api.deps import Caller, Services, caller, services, write
from portus.api.schemas import Strict
from portus.db import models as m
from portus.drivers.certificates.store import secret_id

router = APIRouter()
NAME = "Secret"
PREFIX = "/v1/secrets"
MAX_PAYLOAD = 65536  # bytes once decoded; a certificate chain with its key fits easily
SecretType = Literal["symmetric", "public", "private", "passphrase", "certificate", "opaque"]


class SecretPOST(Strict):
    name: Annotated[StrictStr, Field(max_length=255)] | None = None
    payload: Annotated[StrictStr, Field(min_length=1)]
    payload_content_type: Annotated[StrictStr, Field(max_length=255)] = "text/plain"
    payload_content_encoding: Literal["base64"] | None = None
    secret_type: SecretType = "opaque"
    algorithm: Annotated[StrictStr, Field(max_length=255)] | None = None
    bit_length: Annotated[StrictInt, Field(ge=0)] | None = None
    mode: Annotated[StrictStr, Field(max_length=255)] | None = None
    expiration: dt.datetime | None = None


def _decode(body: SecretPOST) -> bytes:
    ctype = body.payload_content_type.split(";")[0].strip().lower()
    if ctype == "application/octet-stream" or ctype.startswith("application/pkcs"):
        if body.payload_content_encoding != "base64":
            raise errors.InvalidField("payload_content_encoding", body.payload_content_encoding,
                                      "A binary payload must be sent base64-encoded.")
        try:
            data = base64.b64decode(body.payload, validate=True)
        except (binascii.Error, ValueError):
            raise errors.InvalidField("payload", "…", "The payload is not valid base64.") from None
    elif ctype.startswith("text/plain"):
        if body.payload_content_encoding is not None:
            raise errors.InvalidField("payload_content_encoding", body.payload_content_encoding,
                                      "A text/plain payload takes no content encoding.")
        data = body.payload.encode("utf-8")
    else:
        raise errors.InvalidField("payload_content_type", body.payload_content_type,
                                  "Use text/plain or application/octet-stream.")
    if len(data) > MAX_PAYLOAD:
        raise errors.InvalidField("payload", "…", f"The payload exceeds {MAX_PAYLOAD} bytes.")
    return data


def _base(request: Request, svc: Services) -> str:
    return (svc.cfg.api.api_base_uri or str(request.base_url)).rstrip("/")


def _ts(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _view(row: m.Secret, base: str) -> dict[str, Any]:
    return {
        "secret_ref": f"{base}{PREFIX}/{row.id}",
        "name": row.name,
        "secret_type": row.secret_type,
        "status": "ACTIVE",
        "algorithm": row.algorithm,
        "bit_length": row.bit_length,
        "mode": row.mode,
        "expiration": _ts(row.expiration),
        "content_types": {"default": row.payload_content_type or "text/plain"},
        "creator_id": row.creator_id,
        "created": _ts(row.created_at),
        "updated": _ts(row.updated_at or row.created_at),
    }


def _get(session: Session, secret: str, who: Caller, action: str) -> m.Secret:
    row = session.get(m.Secret, secret_id(secret) or "-")
    if row is None:
        raise errors.NotFound(NAME, secret)
    who.authorize(f"secret:{action}", row.project_id)
    return row


@router.post(PREFIX, status_code=201)
def create_secret(body: SecretPOST, request: Request, svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> dict[str, Any]:
    if not who.project_id and not who.is_admin:
        raise errors.BadRequest("Missing project ID")
    who.authorize("secret:post", who.project_id)
    data = _decode(body)
    with write(svc) as session:
        row = m.Secret(project_id=who.project_id, creator_id=who.user_id, name=body.name,
                       secret_type=body.secret_type, algorithm=body.algorithm,
                       bit_length=body.bit_length, mode=body.mode,
                       payload_content_type=body.payload_content_type,
                       encrypted_payload=svc.certs.box.seal(data),
                       expiration=(body.expiration.astimezone(dt.timezone.utc).replace(tzinfo=None)
                                   if body.expiration and body.expiration.tzinfo
                                   else body.expiration))
        row.id = m.new_id()
        session.add(row)
    return {"secret_ref": f"{_base(request, svc)}{PREFIX}/{row.id}"}


@router.get(PREFIX)
def list_secrets(request: Request, svc: Services = Depends(services),
                 who: Caller = Depends(caller), limit: int = 10, offset: int = 0,
                 name: str | None = None, alg: str | None = None, mode: str | None = None,
                 bits: int = 0, secret_type: str | None = None) -> dict[str, Any]:
    """Barbican's list: its filters name, alg, mode, bits (0: any) and secret_type, as
    gophercloud's secrets.ListOpts sends them; its links carry only limit and offset."""
    if not 0 <= limit <= 100 or offset < 0:
        raise errors.BadRequest("limit must be 0 to 100 and offset non-negative.")
    project = None if who.can("secret:get_all-global") else who.project_id
    who.authorize("secret:get_all", project)
    query = select(m.Secret)
    if project is not None:
        query = query.where(m.Secret.project_id == project)
    for column, value in ((m.Secret.name, name), (m.Secret.algorithm, alg),
                          (m.Secret.mode, mode), (m.Secret.secret_type, secret_type),
                          (m.Secret.bit_length, bits or None)):
        if value is not None:
            query = query.where(column == value)
    with svc.db.read() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(m.Secret.created_at, m.Secret.id)
                               .limit(limit).offset(offset)).all()
        base = _base(request, svc)
        body: dict[str, Any] = {"secrets": [_view(r, base) for r in rows], "total": total}
    if offset + limit < total:
        body["next"] = f"{base}{PREFIX}?limit={limit}&offset={offset + limit}"
    if offset > 0:
        body["previous"] = f"{base}{PREFIX}?limit={limit}&offset={max(0, offset - limit)}"
    return body


@router.get(PREFIX + "/{secret}")
def show_secret(secret: str, request: Request, svc: Services = Depends(services),
                who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        return _view(_get(session, secret, who, "get_one"), _base(request, svc))


# The payload is the stored bytes in their own content type, not JSON
# (responses.RAW documents it).
@router.get(PREFIX + "/{secret}/payload")
def secret_payload(secret: str, svc: Services = Depends(services),
                   who: Caller = Depends(caller)) -> Response:
    with svc.db.read() as session:
        row = _get(session, secret, who, "get_one")
        data = svc.certs.payload(row)
    return Response(content=data, media_type=row.payload_content_type or "text/plain")


@router.delete(PREFIX + "/{secret}", status_code=204)
def delete_secret(secret: str, svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> Response:
    with write(svc) as session:
        row = _get(session, secret, who, "delete")
        users = _users(session, row.id)
        if users:
            raise errors.Conflict(f"Secret {row.id} is in use by {', '.join(sorted(users))}.")
        session.delete(row)
    return Response(status_code=204)


def _users(session: Session, sid: str) -> set[str]:
    """Live listeners and pools whose refs name this secret (refs are URLs or ids)."""
    def names(col: Any) -> Any:
        return or_(col == sid, col.like(f"%/{sid}"), col.like(f"%/{sid}/"))

    live = m.Listener.provisioning_status != "DELETED"
    out = {f"listener {i}" for i in session.scalars(select(m.Listener.id).where(live, or_(
        names(m.Listener.default_tls_container_ref), names(m.Listener.client_ca_tls_container_ref),
        names(m.Listener.client_crl_container_ref))))}
    out |= {f"pool {i}" for i in session.scalars(select(m.Pool.id).where(
        m.Pool.provisioning_status != "DELETED", or_(
            names(m.Pool.tls_container_ref), names(m.Pool.ca_tls_container_ref),
            names(m.Pool.crl_container_ref))))}
    # SNI refs are a JSON list: few listeners use TLS, so they are checked here.
    for lid, refs in session.execute(select(m.Listener.id, m.Listener.sni_container_refs)
                                     .where(live, m.Listener.protocol == "TERMINATED_HTTPS")):
        if any(secret_id(r) == sid for r in refs or []):
            out.add(f"listener {lid}")
    return out
