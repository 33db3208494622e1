"""Authentication: who is calling, decided before a request reaches a route.

`[api] auth_strategy` picks one authenticator:

- ``noauth``: the project comes from ``X-Project-Id`` (or the request body) and every
  caller is an administrator, as in Octavia; only allowed on a loopback bind.
- ``token``: ``X-Auth-Token: <secret>`` or ``Authorization: Bearer <secret>``, looked up
  by SHA-256 in the ``[api] token_file`` and the ``api_token`` table.
- ``keystone``: keystonemiddleware's auth_token validates the token (portus.api.keystone).

The middleware stores an `Identity` in the ASGI scope; `deps.caller` turns it into a
`Caller` that answers policy questions. The version document ("/") needs no token.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from portus.api import errors, tokens
from portus.common.config import Config
from portus.db.session import Database

IDENTITY = "portus.identity"  # the ASGI scope key
OPEN_PATHS = frozenset({"/", "/healthcheck"})


@dataclass(frozen=True)
class Identity:
    project_id: str | None
    user_id: str | None = None
    roles: tuple[str, ...] = ()
    noauth: bool = False  # noauth callers are administrators whatever their roles


class Unauthorized(Exception):
    def __init__(self, message: str = "Authentication required",
                 www_authenticate: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.www_authenticate = www_authenticate


class Authenticator(Protocol):
    blocking: bool  # True: identify() does I/O and runs in the thread pool

    def identify(self, headers: Mapping[str, str]) -> Identity: ...


def _roles(text: str | None) -> tuple[str, ...]:
    return tuple(r.strip() for r in (text or "").split(",") if r.strip())


class NoAuth:
    blocking = False

    def identify(self, headers: Mapping[str, str]) -> Identity:
        return Identity(project_id=headers.get("x-project-id") or None,
                        user_id=headers.get("x-user-id") or None,
                        roles=_roles(headers.get("x-roles")), noauth=True)


class TokenAuth:
    """Opaque bearer tokens; the file's entries are read once at start."""
    blocking = True

    def __init__(self, db: Database, token_file: str = "") -> None:
        self.db = db
        self.file_tokens = tokens.load_file(token_file) if token_file else {}

    def identify(self, headers: Mapping[str, str]) -> Identity:
        secret = headers.get("x-auth-token")
        if not secret:
            scheme, _, value = headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer":
                secret = value.strip()
        if not secret:
            raise Unauthorized("Authentication required: send X-Auth-Token or "
                               "Authorization: Bearer", 'Bearer realm="portus"')
        token_hash = tokens.digest(secret)
        entry = self.file_tokens.get(token_hash) or tokens.lookup(self.db, token_hash)
        if entry is None or entry.expired(tokens.utcnow()):
            raise Unauthorized("The token is invalid or has expired.",
                               'Bearer realm="portus", error="invalid_token"')
        return Identity(project_id=entry.project_id, user_id=entry.user_id, roles=entry.roles)


def check_files(cfg: Config) -> None:
    """Parse the policy and token files now; raises PolicyError / TokenFileError."""
    from portus.api import policy
    policy.Policy.load(cfg.api.policy_file)
    if cfg.api.auth_strategy == "token" and cfg.api.token_file:
        tokens.load_file(cfg.api.token_file)


def build(cfg: Config, db: Database) -> Authenticator:
    """The authenticator for the configured strategy; raises ConfigError-like errors
    (a bad token file, keystone options) at start-up."""
    strategy = cfg.api.auth_strategy
    if strategy == "token":
        return TokenAuth(db, cfg.api.token_file)
    if strategy == "keystone":
        from portus.api.keystone import KeystoneAuth  # keystonemiddleware is heavy to import
        return KeystoneAuth(cfg.keystone)
    return NoAuth()


class AuthMiddleware:
    """ASGI middleware: authenticate, or answer 401 in Octavia's fault format."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator,
                 open_paths: frozenset[str] = OPEN_PATHS) -> None:
        self.app = app
        self.authenticator = authenticator
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            if self.authenticator.blocking:
                identity = await run_in_threadpool(self.authenticator.identify, headers)
            else:
                identity = self.authenticator.identify(headers)
        except Unauthorized as exc:
            response = errors.fault(401, exc.message)
            if exc.www_authenticate:
                response.headers["WWW-Authenticate"] = exc.www_authenticate
            await response(scope, receive, send)
            return
        scope[IDENTITY] = identity
        await self.app(scope, receive, send)


def identity_of(scope: Mapping[str, Any]) -> Identity | None:
    value = scope.get(IDENTITY)
    return value if isinstance(value, Identity) else None
