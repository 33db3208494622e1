"""What every request handler needs: the service wiring and the caller's identity."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterator, Sequence

from fastapi import Request
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from portus.api import auth, errors, policy as policy_mod
from portus.common.config import Config
from portus.db import status
from portus.db.session import Database
from portus.drivers.certificates.secret_box import SecretBox
from portus.drivers.certificates.store import CertificateStore


@dataclass
class Services:
    cfg: Config
    db: Database
    notify: Callable[[str], None]  # wake the worker for a load balancer id

    @cached_property
    def certs(self) -> CertificateStore:
        return CertificateStore(SecretBox(self.cfg.secret_key_path))


@dataclass
class Caller:
    """Who is calling, and what the policy lets them do.

    The convention for every endpoint (Octavia's, so its policy files apply):

    - rule names are Octavia's without the ``os_load-balancer_api:`` prefix:
      ``"<obj>:<action>"``, obj in loadbalancer, listener, pool, member, healthmonitor,
      l7policy, l7rule, quota, provider, provider-flavor, provider-availability-zone,
      flavor, flavor-profile, availability-zone, availability-zone-profile, amphora;
      action in get_all, get_all-global, get_one, post, put, delete, get_stats,
      get_status, put_failover, put_config, get_defaults (see policy.API_RULES);
    - the target project is the project that owns the object, i.e. its load
      balancer's project (for a create: the project the object is created in; for
      quotas: the quota's project; for flavors, AZs, providers, amphorae: None);
      for a child create use ``authorize_create(who, "<obj>:post", parent_project,
      project_id)``, which also checks a different project named in the body;
    - ``who.authorize("<obj>:<action>", project)`` raises 403 "Policy does not allow
      this request to be performed."; ``who.can(...)`` answers True/False;
    - look the object up first (a missing or DELETED object is 404), then authorize:
      another project's object is 403, as in Octavia;
    - lists: ``project = who.list_scope("<obj>", request.query_params)`` before the
      query, then ``collections.base_query(model, project, False)``; ``project`` is
      None for global readers (get_all-global), else the project to filter on.
    """
    project_id: str | None
    is_admin: bool
    roles: tuple[str, ...] = ()
    user_id: str | None = None
    policy: policy_mod.Policy | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._creds = policy_mod.credentials(self.project_id, self.user_id, self.roles,
                                             self.is_admin)

    def can(self, rule: str, target_project: str | None = None) -> bool:
        if self.policy is None:  # built by hand (internal calls): only admins pass
            return self.is_admin
        return self.policy.allowed(rule, target_project, self._creds)

    def authorize(self, rule: str, target_project: str | None = None) -> None:
        if not self.can(rule, target_project):
            raise errors.Forbidden()

    def list_scope(self, obj: str, query: Any = None) -> str | None:
        """Octavia's list scoping. Callers with ``<obj>:get_all-global`` see every
        project (the query's own project_id filter still applies): returns None.
        Others are limited to one project: the one asked for with ``project_id``
        (needs ``<obj>:get_all`` on it, else 403) or, silently, their own."""
        asked: Sequence[str] = []
        if query is not None:
            asked = [*query.getlist("project_id"), *query.getlist("tenant_id")]
        if self.can(f"{obj}:get_all-global", asked[0] if len(asked) == 1 else None):
            return None
        wanted: set[str | None] = set(asked) or {self.project_id}
        project = wanted.pop() if len(wanted) == 1 else None
        if project is None:  # several projects, or a caller without one
            raise errors.Forbidden()
        self.authorize(f"{obj}:get_all", project)
        return project


# The two dependencies are coroutines although they never wait: FastAPI runs a plain
# function dependency in the thread pool, a hop per dependency per request.
async def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def caller(request: Request) -> Caller:
    """The Caller of this request, from the identity the auth middleware found."""
    identity = auth.identity_of(request.scope)
    if identity is None:  # a route outside the middleware's reach: nothing is allowed
        raise errors.APIError("Authentication required", 401)
    rules: policy_mod.Policy = request.app.state.policy
    if identity.noauth:
        is_admin = True  # Octavia forces is_admin under noauth
    else:
        creds = policy_mod.credentials(identity.project_id, identity.user_id, identity.roles,
                                       False)
        is_admin = rules.check("context_is_admin", {}, creds)
    return Caller(project_id=identity.project_id, is_admin=is_admin, roles=identity.roles,
                  user_id=identity.user_id, policy=rules)


def project_for_create(who: Caller, body_project: str | None, body_tenant: str | None) -> str:
    """The project a create names: tenant_id, an alias that sets project_id in Octavia
    and is applied after it, wins over project_id; then the caller's own project."""
    project = body_tenant or body_project or who.project_id
    if not project:
        raise errors.BadRequest("Missing project ID")
    return project


def authorize_create(who: Caller, rule: str, parent_project: str, project_id: str) -> None:
    """A child is created in its load balancer's project; a body project_id naming
    another project must be allowed there too (so only admins create across projects)."""
    who.authorize(rule, parent_project)
    if project_id != parent_project:
        who.authorize(rule, project_id)


@contextmanager
def write(svc: Services) -> Iterator[Session]:
    """A write transaction that turns lock failures and races into API errors."""
    try:
        with svc.db.write() as session:
            session.info[status.STRICT_LOCK] = svc.cfg.api.strict_pending_lock
            if not svc.cfg.api.strict_pending_lock:
                status.guard_relaxed_transitions(session)
            yield session
    except status.LockFailed as exc:
        if exc.state is None:
            raise errors.NotFound("Load Balancer", exc.lb_id) from None
        raise errors.PendingState(exc.state, exc.lb_id) from None
    except status.ObjectDeleting as exc:
        raise errors.Conflict(f"Invalid state PENDING_DELETE of {exc.kind} resource "
                              f"{exc.obj_id}") from None
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
