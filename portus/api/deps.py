"""What every request handler needs: the service wiring and the caller's identity."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from fastapi import Request
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from portus.api import errors
from portus.common.config import Config
from portus.db import status
from portus.db.session import Database


@dataclass
class Services:
    cfg: Config
    db: Database
    notify: Callable[[str], None]  # wake the worker for a load balancer id


@dataclass
class Caller:
    """Who is calling. `authorize` checks a policy rule (Octavia's names without the
    `os_load-balancer_api:` prefix, e.g. "loadbalancer:post") against the project that
    owns the target."""
    project_id: str | None
    is_admin: bool
    roles: tuple[str, ...] = ()
    user_id: str | None = None

    def can(self, rule: str, target_project: str | None = None) -> bool:
        return self.is_admin

    def authorize(self, rule: str, target_project: str | None = None) -> None:
        if not self.can(rule, target_project):
            raise errors.Forbidden()


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def caller(request: Request) -> Caller:
    # noauth, as Octavia's: the project comes from the request; every caller is admin.
    return Caller(project_id=request.headers.get("X-Project-Id") or None, is_admin=True)


def project_for_create(who: Caller, body_project: str | None, body_tenant: str | None) -> str:
    project = body_project or body_tenant or who.project_id
    if not project:
        raise errors.BadRequest("Missing project ID")
    if body_project and body_tenant and body_project != body_tenant:
        raise errors.BadRequest("project_id and tenant_id do not match")
    return project


@contextmanager
def write(svc: Services) -> Iterator[Session]:
    """A write transaction that turns lock failures and races into API errors."""
    try:
        with svc.db.write() as session:
            yield session
    except status.LockFailed as exc:
        if exc.state is None:
            raise errors.NotFound("Load Balancer", exc.lb_id) from None
        raise errors.PendingState(exc.state, exc.lb_id) from None
    except IntegrityError as exc:
        raise errors.Conflict(f"The request conflicts with an existing object: {_short(exc)}") from None
    except DataError as exc:
        # A value the schemas let through but a column cannot hold: still the client's input.
        raise errors.BadRequest(f"Invalid input: {_short(exc)}") from None
    except OperationalError as exc:
        if "deadlock" in str(exc).lower() or "lock" in str(exc).lower():
            raise errors.APIError("The project is busy; retry the request.", 503) from None
        raise


def _short(exc: IntegrityError | DataError) -> str:
    return str(exc.orig).splitlines()[0][:200]
