"""API tokens for `auth_strategy = "token"`: creation, listing, lookup.

Only the SHA-256 of a secret is ever stored, in the `api_token` table or in the
`[api] token_file` (TOML), so a leaked database or file does not leak usable tokens.
The token file holds entries written by an operator or a deployment tool::

    [[token]]
    name = "ci"                       # optional
    sha256 = "<64 hex digits>"        # hashlib.sha256(secret).hexdigest()
    project_id = "p1"
    roles = ["member"]
    user_id = "ci-bot"                # optional
    expires_at = 2027-01-01T00:00:00Z # optional
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from portus.db import models as m
from portus.db.session import Database


class TokenFileError(ValueError):
    """The token file is unreadable or malformed; raised at start-up."""


@dataclass(frozen=True)
class TokenEntry:
    id: str
    name: str | None
    project_id: str | None
    user_id: str | None
    roles: tuple[str, ...]
    expires_at: dt.datetime | None  # naive UTC, as the database stores it

    def expired(self, now: dt.datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def create(db: Database, project_id: str, roles: list[str], name: str | None = None,
           expires_in: float | None = None, user_id: str | None = None) -> tuple[str, str]:
    """Store a new token; returns (id, secret). The secret is not kept anywhere."""
    secret = "ptk-" + secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(seconds=expires_in) if expires_in else None
    with db.write() as session:
        row = m.ApiToken(name=name, project_id=project_id, user_id=user_id or name,
                         roles=list(roles), token_hash=digest(secret), expires_at=expires)
        session.add(row)
        session.flush()
        return row.id, secret


def list_all(db: Database) -> list[TokenEntry]:
    with db.read() as session:
        rows = session.execute(select(m.ApiToken).order_by(m.ApiToken.created_at)).scalars()
        return [_entry(row) for row in rows]


def delete(db: Database, token_id: str) -> bool:
    with db.write() as session:
        row = session.get(m.ApiToken, token_id)
        if row is None:
            return False
        session.delete(row)
        return True


def lookup(db: Database, token_hash: str) -> TokenEntry | None:
    with db.read() as session:
        row = session.execute(select(m.ApiToken).where(
            m.ApiToken.token_hash == token_hash)).scalar_one_or_none()
        return None if row is None else _entry(row)


def _entry(row: m.ApiToken) -> TokenEntry:
    return TokenEntry(id=row.id, name=row.name, project_id=row.project_id, user_id=row.user_id,
                      roles=tuple(row.roles or ()), expires_at=row.expires_at)


_FILE_KEYS = {"name", "sha256", "project_id", "roles", "user_id", "expires_at"}


def load_file(path: str) -> dict[str, TokenEntry]:
    """The token file's entries by hash."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise TokenFileError(f"cannot read token file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TokenFileError(f"token file {path}: {exc}") from None
    extra = set(data) - {"token"}
    if extra:
        raise TokenFileError(f"token file {path}: unknown key(s) {sorted(extra)}; "
                             f"entries go in [[token]] tables")
    out: dict[str, TokenEntry] = {}
    for i, item in enumerate(data.get("token", [])):
        where = f"token file {path}: token[{i}]"
        out_hash, entry = _file_entry(item, where)
        if out_hash in out:
            raise TokenFileError(f"{where}: duplicate sha256")
        out[out_hash] = entry
    return out


def _file_entry(item: Any, where: str) -> tuple[str, TokenEntry]:
    if not isinstance(item, dict):
        raise TokenFileError(f"{where}: expected a table")
    if "token" in item or "secret" in item:
        raise TokenFileError(f"{where}: store the sha256 of the secret, never the secret")
    unknown = set(item) - _FILE_KEYS
    if unknown:
        raise TokenFileError(f"{where}: unknown key(s) {sorted(unknown)}")
    token_hash = str(item.get("sha256", "")).lower()
    if len(token_hash) != 64 or any(ch not in "0123456789abcdef" for ch in token_hash):
        raise TokenFileError(f"{where}: sha256 must be 64 hex digits")
    project = item.get("project_id")
    if not isinstance(project, str) or not project:
        raise TokenFileError(f"{where}: project_id is required")
    roles = item.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise TokenFileError(f"{where}: roles must be a list of strings")
    expires = item.get("expires_at")
    if expires is not None:
        if not isinstance(expires, dt.datetime):
            raise TokenFileError(f"{where}: expires_at must be a TOML date-time")
        if expires.tzinfo is not None:
            expires = expires.astimezone(dt.timezone.utc).replace(tzinfo=None)
    name = item.get("name")
    return token_hash, TokenEntry(id="file:" + (name or token_hash[:12]), name=name,
                                  project_id=project, user_id=item.get("user_id") or name,
                                  roles=tuple(roles), expires_at=expires)
