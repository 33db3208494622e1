"""Status transitions shared by the API and the worker.

The API marks what changed PENDING_* and bumps the load balancer's
desired_generation in the same transaction; the conditional UPDATE on the load
balancer row is the lock (no SELECT ... FOR UPDATE, so it behaves the same on
SQLite, PostgreSQL and MariaDB). The worker finishes a generation with
`finish_generation`, which only succeeds if nothing newer was asked for.
"""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import bindparam, case, delete, event, exists, or_, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from portus.common import constants as C
from portus.db import ipam, models as m

_TREE_CLASSES = (m.Listener, m.Pool, m.Member, m.HealthMonitor, m.L7Policy, m.L7Rule)


class LockFailed(Exception):
    """The load balancer is missing (state None) or not in a state that allows the change."""

    def __init__(self, lb_id: str, state: str | None) -> None:
        super().__init__(lb_id, state)
        self.lb_id = lb_id
        self.state = state


# session.info key set by the API's write transaction: False relaxes the lock (below).
# Absent (the worker, the health manager) means strict.
STRICT_LOCK = "portus_strict_pending_lock"
_CONVERGING = (C.PENDING_CREATE, C.PENDING_UPDATE)


def lock_lb(session: Session, lb_id: str, new_status: str = C.PENDING_UPDATE,
            allowed: Iterable[str] = (C.ACTIVE,)) -> None:
    """Move the load balancer to `new_status` if it is in one of `allowed`.

    Not strict (`[api] strict_pending_lock = false`): a load balancer that is converging
    (PENDING_CREATE/UPDATE) also accepts the change. desired_generation is bumped, so the
    worker's finish_generation fails and it converges again with the change folded in.
    PENDING_CREATE is kept (it is not applied yet) rather than downgraded to UPDATE."""
    allowed = tuple(allowed)
    target: Any = new_status
    if not session.info.get(STRICT_LOCK, True) and C.ACTIVE in allowed:
        allowed += tuple(s for s in _CONVERGING if s not in allowed)
        if new_status == C.PENDING_UPDATE:
            target = case((m.LoadBalancer.provisioning_status == C.PENDING_CREATE,
                           C.PENDING_CREATE), else_=C.PENDING_UPDATE)
    result = session.execute(
        update(m.LoadBalancer)
        .where(m.LoadBalancer.id == lb_id, m.LoadBalancer.provisioning_status.in_(allowed))
        .values(provisioning_status=target,
                desired_generation=m.LoadBalancer.desired_generation + 1,
                converge_attempts=0, status_reason=None)
        .execution_options(synchronize_session=False))
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return
    state = session.execute(select(m.LoadBalancer.provisioning_status)
                            .where(m.LoadBalancer.id == lb_id)).scalar_one_or_none()
    raise LockFailed(lb_id, None if state == C.DELETED else state)


class ObjectDeleting(Exception):
    """The object is already being deleted: only possible without the strict lock, where
    its load balancer may still accept changes."""

    def __init__(self, kind: str, obj_id: str) -> None:
        super().__init__(kind, obj_id)
        self.kind = kind
        self.obj_id = obj_id


def refuse_deleting(kind: str, obj: Any) -> None:
    if obj.provisioning_status == C.PENDING_DELETE:
        raise ObjectDeleting(kind, obj.id)


def guard_relaxed_transitions(session: Session) -> None:
    """Without the strict lock an object can change while it is still PENDING_CREATE or
    already PENDING_DELETE. Checked once at flush for every resource, so no handler can
    resurrect a doomed object (PENDING_DELETE -> anything: refused) or mark an unapplied
    one as an update (PENDING_CREATE -> PENDING_UPDATE: stays PENDING_CREATE)."""

    def before_flush(sess: Session, _context: Any, _instances: Any) -> None:
        for obj in list(sess.dirty):
            if not isinstance(obj, _TREE_CLASSES):
                continue
            state: Any = sa_inspect(obj)
            old = state.attrs.provisioning_status.history.deleted
            if not old:
                continue
            if old[0] == C.PENDING_DELETE and obj.provisioning_status != C.PENDING_DELETE:
                raise ObjectDeleting(type(obj).__name__, obj.id)
            if old[0] == C.PENDING_CREATE and obj.provisioning_status == C.PENDING_UPDATE:
                obj.provisioning_status = C.PENDING_CREATE

    event.listen(session, "before_flush", before_flush)


def mark_pending_update(session: Session, cls: Any, ids: Iterable[str]) -> None:
    """Parents of a changed child go PENDING_UPDATE (unless they are being created or deleted)."""
    ids = [i for i in ids if i]
    if not ids:
        return
    session.execute(
        update(cls).where(cls.id.in_(ids), cls.provisioning_status == C.ACTIVE)
        .values(provisioning_status=C.PENDING_UPDATE).execution_options(synchronize_session=False))


def lock_pool_child(session: Session, pool: m.Pool) -> None:
    """A member or health monitor changes: its pool, the pool's listeners and the load
    balancer go PENDING_UPDATE."""
    refuse_deleting("pool", pool)
    lock_lb(session, pool.load_balancer_id)
    mark_pending_update(session, m.Pool, [pool.id])
    mark_pending_update(session, m.Listener, listeners_of_pool(session, pool.id))


def listeners_of_pool(session: Session, pool_id: str) -> list[str]:
    """Listeners using the pool: as default pool or through an L7 policy (as Octavia)."""
    direct = session.execute(
        select(m.Listener.id).where(m.Listener.default_pool_id == pool_id)).scalars()
    via_l7 = session.execute(
        select(m.L7Policy.listener_id).where(m.L7Policy.redirect_pool_id == pool_id)).scalars()
    return list(dict.fromkeys([*direct, *via_l7]))


def finish_generation(session: Session, lb_id: str, generation: int) -> bool:
    """Mark the tree converged at `generation`. False if a newer change arrived meanwhile."""
    # Plain Core on the session's connection: these updates need none of the ORM's
    # bulk-update machinery, which cost more than the statements themselves.
    conn = session.connection()
    result = conn.execute(_FINISH, {"lb_id": lb_id, "generation": generation})
    if result.rowcount != 1:
        return False
    _purge_pending_deletes(session, lb_id)
    converging = conn.execute(_ANY_CONVERGING, {"lb_id": lb_id}).one()
    for statement, needed in zip(_ACTIVATE, converging):
        if needed:
            conn.execute(statement, {"lb_id": lb_id})
    return True


def fail_generation(session: Session, lb_id: str, reason: str) -> None:
    """The tree could not converge: pending objects and the load balancer go ERROR."""
    for cls in _TREE_CLASSES:
        session.execute(
            update(cls).where(_in_tree(cls, lb_id),
                              cls.provisioning_status.in_(C.PENDING_STATUSES))
            .values(provisioning_status=C.ERROR).execution_options(synchronize_session=False))
    session.execute(update(m.LoadBalancer).where(m.LoadBalancer.id == lb_id)
                    .values(provisioning_status=C.ERROR, status_reason=reason[:4000])
                    .execution_options(synchronize_session=False))


def mark_deleted(session: Session, lb_id: str) -> None:
    """The load balancer is gone from the data plane: remove its tree, keep a DELETED row."""
    for cls in _TREE_CLASSES:
        session.execute(update(cls).where(_in_tree(cls, lb_id))
                        .values(provisioning_status=C.PENDING_DELETE)
                        .execution_options(synchronize_session=False))
    _purge_pending_deletes(session, lb_id)
    session.execute(update(m.Vip).where(m.Vip.load_balancer_id == lb_id)
                    .values(ip_address=None).execution_options(synchronize_session=False))
    session.execute(update(m.AdditionalVip).where(m.AdditionalVip.load_balancer_id == lb_id)
                    .values(ip_address=None).execution_options(synchronize_session=False))
    ipam.release(session, [lb_id], (ipam.OWNER_VIP, ipam.OWNER_ADDITIONAL_VIP))
    session.execute(update(m.LoadBalancer).where(m.LoadBalancer.id == lb_id)
                    .values(provisioning_status=C.DELETED, operating_status=C.OFFLINE,
                            lease_owner=None, lease_expires=None)
                    .execution_options(synchronize_session=False))


def mark_amphora_deleted(session: Session, amphora_id: str) -> None:
    """The amphora is gone from the host: keep a DELETED row, free its addresses (its
    management address, its VRRP address and its member ports) and drop what is
    observed of it."""
    session.execute(update(m.Amphora).where(m.Amphora.id == amphora_id).values(
        status=C.AMP_DELETED, lb_network_ip=None).execution_options(synchronize_session=False))
    ipam.release(session, [amphora_id], ipam.AMPHORA_KINDS)
    for model in (m.AmphoraMemberPort, m.AmphoraHealth, m.ListenerStatistics):
        session.execute(delete(model).where(model.amphora_id == amphora_id)
                        .execution_options(synchronize_session=False))


def _in_tree(cls: Any, lb_id: Any) -> ColumnElement[bool]:
    """`lb_id`: the id, or a bind parameter for it."""
    # No self-referencing subqueries: MariaDB refuses them in UPDATE and DELETE.
    if cls in (m.Listener, m.Pool):
        return cls.load_balancer_id == lb_id  # type: ignore[no-any-return]
    if cls in (m.Member, m.HealthMonitor):
        return cls.pool_id.in_(  # type: ignore[no-any-return]
            select(m.Pool.id).where(m.Pool.load_balancer_id == lb_id))
    listeners = select(m.Listener.id).where(m.Listener.load_balancer_id == lb_id)
    if cls is m.L7Policy:
        return m.L7Policy.listener_id.in_(listeners)
    return m.L7Rule.l7policy_id.in_(
        select(m.L7Policy.id).where(m.L7Policy.listener_id.in_(listeners)))


# Every convergence finishes a generation (a noop one on every API change): its
# statements are built once, bound with the load balancer's id.
_LB_ID: Any = bindparam("lb_id")
_FINISH = (update(m.LoadBalancer)
           .where(m.LoadBalancer.id == _LB_ID,
                  m.LoadBalancer.desired_generation == bindparam("generation"))
           .values(applied_generation=bindparam("generation"), provisioning_status=C.ACTIVE,
                   converge_attempts=0, status_reason=None)
           .execution_options(synchronize_session=False))

_ACTIVATE = tuple(update(cls).where(_in_tree(cls, _LB_ID),
                                    cls.provisioning_status.in_(_CONVERGING))
                  .values(provisioning_status=C.ACTIVE)
                  .execution_options(synchronize_session=False) for cls in _TREE_CLASSES)
# Which tables of the tree have rows to activate: one statement instead of an update
# per table (a bare load balancer has none).
_ANY_CONVERGING = select(*(
    exists().where(_in_tree(cls, _LB_ID), cls.provisioning_status.in_(_CONVERGING))
    for cls in _TREE_CLASSES))
# Usually nothing is being deleted: one statement says so (everything doomed is
# PENDING_DELETE or under something that is).
_ANY_PENDING_DELETE = select(or_(*(
    exists().where(_in_tree(cls, _LB_ID), cls.provisioning_status == C.PENDING_DELETE)
    for cls in _TREE_CLASSES)))


def _ids(session: Session, query: Any) -> list[str]:
    return list(session.execute(query).scalars())


def _purge_pending_deletes(session: Session, lb_id: str) -> None:
    """Delete the rows marked PENDING_DELETE and everything under them. Ids are read
    first, then deleted children before parents."""
    pending = C.PENDING_DELETE
    if session.execute(_ANY_PENDING_DELETE, {"lb_id": lb_id}).scalar() in (None, False, 0):
        return
    listeners = _ids(session, select(m.Listener.id).where(
        _in_tree(m.Listener, lb_id), m.Listener.provisioning_status == pending))
    pools = _ids(session, select(m.Pool.id).where(
        _in_tree(m.Pool, lb_id), m.Pool.provisioning_status == pending))
    policies = _ids(session, select(m.L7Policy.id).where(
        _in_tree(m.L7Policy, lb_id),
        or_(m.L7Policy.provisioning_status == pending, m.L7Policy.listener_id.in_(listeners))))
    rules = _ids(session, select(m.L7Rule.id).where(
        _in_tree(m.L7Rule, lb_id),
        or_(m.L7Rule.provisioning_status == pending, m.L7Rule.l7policy_id.in_(policies))))
    members = _ids(session, select(m.Member.id).where(
        _in_tree(m.Member, lb_id),
        or_(m.Member.provisioning_status == pending, m.Member.pool_id.in_(pools))))
    monitors = _ids(session, select(m.HealthMonitor.id).where(
        _in_tree(m.HealthMonitor, lb_id),
        or_(m.HealthMonitor.provisioning_status == pending, m.HealthMonitor.pool_id.in_(pools))))
    doomed = rules + policies + members + monitors + listeners + pools
    if not doomed:
        return
    opts = {"synchronize_session": False}
    session.execute(delete(m.Tag).where(m.Tag.resource_id.in_(doomed)).execution_options(**opts))
    if pools:
        session.execute(update(m.Listener).where(m.Listener.default_pool_id.in_(pools))
                        .values(default_pool_id=None).execution_options(**opts))
    for cls, ids in ((m.L7Rule, rules), (m.L7Policy, policies), (m.Member, members),
                     (m.HealthMonitor, monitors), (m.Listener, listeners), (m.Pool, pools)):
        if ids:
            session.execute(delete(cls).where(cls.id.in_(ids)).execution_options(**opts))
