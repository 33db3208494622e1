"""Per-project quotas: effective limits and their enforcement on every create.

Limits: a `quota` row per project (NULL: the `[quotas]` default; -1: unlimited).
Usage is counted live (every non-DELETED object of the project) in the creating
transaction, after the project's quota row is locked, so two concurrent creates
cannot both take the last unit. Unlike Octavia, which skips quotas under noauth,
portus enforces them in every auth mode.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portus.api import errors
from portus.common import constants as C
from portus.common.config import Config
from portus.db import models as m


@dataclass(frozen=True)
class Kind:
    model: type
    column: str  # on m.Quota
    api: str  # field in API bodies
    alias: str | None  # deprecated API alias
    config: str  # [quotas] option
    label: str  # in "Quota has been met for resources: <label>"


KINDS = (
    Kind(m.LoadBalancer, "load_balancer", "loadbalancer", "load_balancer",
         "default_load_balancer_quota", "Load Balancer"),
    Kind(m.Listener, "listener", "listener", None, "default_listener_quota", "Listener"),
    Kind(m.Member, "member", "member", None, "default_member_quota", "Member"),
    Kind(m.Pool, "pool", "pool", None, "default_pool_quota", "Pool"),
    Kind(m.HealthMonitor, "health_monitor", "healthmonitor", "health_monitor",
         "default_health_monitor_quota", "Health Monitor"),
    Kind(m.L7Policy, "l7policy", "l7policy", None, "default_l7policy_quota", "L7 Policy"),
    Kind(m.L7Rule, "l7rule", "l7rule", None, "default_l7rule_quota", "L7 Rule"),
)
_BY_MODEL = {k.model: k for k in KINDS}


def defaults(cfg: Config) -> dict[str, int]:
    return {k.column: getattr(cfg.quotas, k.config) for k in KINDS}


def effective(cfg: Config, row: m.Quota | None) -> dict[str, int]:
    """Column name -> limit, with NULL columns (or no row) taking the configured default."""
    out = defaults(cfg)
    if row is not None:
        for k in KINDS:
            value = getattr(row, k.column)
            if value is not None:
                out[k.column] = value
    return out


def _lock_row(session: Session, project_id: str) -> m.Quota:
    """The project's quota row, locked until the transaction ends (created if missing,
    with NULL limits, as Octavia creates one on first use)."""
    query = (select(m.Quota).where(m.Quota.project_id == project_id).with_for_update()
             .execution_options(populate_existing=True))
    row = session.execute(query).scalar_one_or_none()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            session.add(m.Quota(project_id=project_id))
    except IntegrityError:
        pass  # another transaction created it first; lock theirs
    return session.execute(query).scalar_one()


def _live_count(session: Session, model: Any, project_id: str) -> int:
    return int(session.execute(
        select(func.count()).select_from(model)
        .where(model.project_id == project_id, model.provisioning_status != C.DELETED)
    ).scalar_one())


def lock(session: Session, cfg: Config, project_id: str) -> None:
    """Take the project's quota lock early (before other rows are written), so creates in
    one project queue here instead of colliding later (e.g. on a VIP address, where
    MariaDB answers a rolled-back competitor with a deadlock). No-op when unlimited."""
    if any(v != -1 for v in defaults(cfg).values()):
        _lock_row(session, project_id)
        return
    row = session.get(m.Quota, project_id)
    if row is not None and any(getattr(row, k.column) not in (None, -1) for k in KINDS):
        _lock_row(session, project_id)


def enforce(session: Session, cfg: Config, project_id: str, models: Iterable[type],
            leaving: Mapping[type, int] | None = None) -> None:
    """Call after adding the new objects of `models` kinds for `project_id` to the
    session (they are flushed here and counted with the existing ones). Raises 403
    "Quota has been met for resources: ..." when a kind is over its limit.

    `leaving`: objects of a kind this same request marks PENDING_DELETE (a batch member
    update), so only the net increase counts against the quota."""
    kinds = [_BY_MODEL[model] for model in dict.fromkeys(models)]
    if all(getattr(cfg.quotas, k.config) == -1 for k in kinds):
        # Nothing to check unless the project has a row of its own.
        row = session.get(m.Quota, project_id)
        if row is None or all(getattr(row, k.column) in (None, -1) for k in kinds):
            return
    limits = effective(cfg, _lock_row(session, project_id))
    session.flush()
    leaving = leaving or {}
    over = [k.label for k in kinds if limits[k.column] != -1
            and _live_count(session, k.model, project_id) - leaving.get(k.model, 0)
            > limits[k.column]]
    if over:
        raise errors.Forbidden(f"Quota has been met for resources: {', '.join(over)}")


def kinds_in_graph(lb: m.LoadBalancer) -> list[type]:
    """Every kind of object in a new load balancer's tree (fully populated create)."""
    found: list[type] = [m.LoadBalancer]
    for listener in lb.listeners:
        found.extend(listener_kinds(listener))
    for pool in lb.pools:
        found.extend(pool_kinds(pool))
    return found


def listener_kinds(listener: m.Listener) -> list[type]:
    """A new listener and its L7 policies and rules (not its pools)."""
    found: list[type] = [m.Listener]
    for policy in listener.l7policies:
        found.extend(l7policy_kinds(policy))
    return found


def l7policy_kinds(policy: m.L7Policy) -> list[type]:
    return [m.L7Policy] + [m.L7Rule for _ in policy.rules]


def pool_kinds(pool: m.Pool) -> list[type]:
    found: list[type] = [m.Pool]
    found.extend(m.Member for _ in pool.members)
    if pool.health_monitor is not None:
        found.append(m.HealthMonitor)
    return found
