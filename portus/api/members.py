"""/v2/lbaas/pools/{pool_id}/members."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from portus.api import builders, collections, errors, schemas as s, views
from portus.api import quota
from portus.api.deps import (Caller, Services, authorize_create, caller, project_for_create,
                             services, write)
from portus.api.pools import get_pool
from portus.common import constants as C
from portus.db import models as m, status

router = APIRouter()
NAME = "Member"


def get_member(session: Session, pool_id: str, member_id: str, who: Caller) -> m.Member:
    get_pool(session, pool_id, who)
    member = session.get(m.Member, member_id)
    if member is None or member.pool_id != pool_id:
        raise errors.NotFound(NAME, member_id)
    return member


LIST = collections.ListSpec(
    m.Member, "members",
    ("id", "name", "project_id", "tenant_id", "admin_state_up", "address", "protocol_port",
     "weight", "backup", "subnet_id", "monitor_address", "monitor_port", "provisioning_status",
     "operating_status", "pool_id", "created_at", "updated_at"),
    lambda _session, rows: [views.member(mb) for mb in rows],
    derived={"vnic_type": collections.constant("normal")})


@router.get("/pools/{pool_id}/members")
def list_members(pool_id: str, request: Request, svc: Services = Depends(services),
                 who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        # As Octavia: get_all on the pool's project, then every member of the pool.
        who.authorize("member:get_all", get_pool(session, pool_id, who).project_id)
        query = collections.base_query(m.Member, None, True)
        query = query.where(m.Member.pool_id == pool_id)
        return collections.list_response(request, session, LIST, query,
                                         svc.cfg.api.pagination_max_limit)


@router.post("/pools/{pool_id}/members", status_code=201)
def create_member(pool_id: str, body: s.MemberCreate, svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> dict[str, Any]:
    req = body.member
    with write(svc) as session:
        pool = get_pool(session, pool_id, who)
        project_id = project_for_create(who, req.project_id or pool.project_id, req.tenant_id)
        authorize_create(who, "member:post", pool.project_id, project_id)
        duplicate = session.query(m.Member.id).filter_by(
            pool_id=pool_id, address=req.address, protocol_port=req.protocol_port).first()
        if duplicate:
            raise errors.Conflict(f"Another member on this pool is already using ip "
                                  f"{req.address} on protocol_port {req.protocol_port}")
        status.lock_pool_child(session, pool)
        # pool.load_balancer.vip is needed: load it alone (not the additional VIPs and tags).
        set_committed_value(pool, "load_balancer", session.get(
            m.LoadBalancer, pool.load_balancer_id, options=_LB_AND_VIP))
        member = builders.new_member(svc.cfg, req, pool, project_id,
                                     pool.health_monitor is not None)
        session.add(member)
        quota.enforce(session, svc.cfg, project_id, [m.Member])
        session.flush()
        out = views.member(member)
    svc.notify(pool.load_balancer_id)
    return {"member": out}


_LB_AND_VIP = (lazyload(m.LoadBalancer.tag_rows), lazyload(m.LoadBalancer.additional_vips))


@router.get("/pools/{pool_id}/members/{member_id}")
def show_member(pool_id: str, member_id: str, request: Request,
                svc: Services = Depends(services), who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        member = get_member(session, pool_id, member_id, who)
        who.authorize("member:get_one", member.project_id)
        body = views.member(member)
    return {"member": views.select_fields(body, request.query_params.getlist("fields"))}


@router.put("/pools/{pool_id}/members/{member_id}")
def update_member(pool_id: str, member_id: str, body: s.MemberUpdate,
                  svc: Services = Depends(services), who: Caller = Depends(caller)) -> dict[str, Any]:
    req = body.member
    defaults = {"weight": 1, "backup": False, "admin_state_up": True, "tags": []}
    with write(svc) as session:
        member = get_member(session, pool_id, member_id, who)
        who.authorize("member:put", member.project_id)
        status.refuse_deleting("member", member)
        status.lock_pool_child(session, member.pool)
        for field in req.model_fields_set:
            value = getattr(req, field)
            if value is None:
                value = defaults.get(field)
            setattr(member, "enabled" if field == "admin_state_up" else field, value)
        if member.provisioning_status != C.PENDING_CREATE:  # not applied yet: stays so
            member.provisioning_status = C.PENDING_UPDATE
        session.flush()
        out = views.member(member)
    svc.notify(member.pool.load_balancer_id)
    return {"member": out}


@router.delete("/pools/{pool_id}/members/{member_id}", status_code=204)
def delete_member(pool_id: str, member_id: str, svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> Response:
    with write(svc) as session:
        member = get_member(session, pool_id, member_id, who)
        who.authorize("member:delete", member.project_id)
        status.refuse_deleting("member", member)
        status.lock_pool_child(session, member.pool)
        member.provisioning_status = C.PENDING_DELETE
        lb_id = member.pool.load_balancer_id
    svc.notify(lb_id)
    return Response(status_code=204)


# --- batch update (PUT /pools/{pool_id}/members) --------------------------------------

class MemberBatch(s.Strict):
    members: list[s.MemberSingle]


_BATCH_FIELDS = ("name", "weight", "backup", "admin_state_up", "monitor_address",
                 "monitor_port", "tags")


@router.put("/pools/{pool_id}/members", status_code=202)
def batch_update_members(pool_id: str, body: MemberBatch, request: Request,
                         svc: Services = Depends(services),
                         who: Caller = Depends(caller)) -> Response:
    """Make the pool's members match the body, matched by (address, protocol_port):
    new ones are created, matched ones updated, the others deleted (unless
    additive_only). One transaction, one generation."""
    additive = request.query_params.get("additive_only", "false").lower() == "true"
    wanted: dict[tuple[str, int], s.MemberSingle] = {}
    for i, req in enumerate(body.members):
        key = (req.address, req.protocol_port)
        if key in wanted:
            raise errors.InvalidField(f"members.{i}", f"{req.address}:{req.protocol_port}",
                                      "Duplicate address and protocol_port in the request.")
        wanted[key] = req
    with write(svc) as session:
        pool = get_pool(session, pool_id, who)
        for rule in ("member:post", "member:put") + (() if additive else ("member:delete",)):
            who.authorize(rule, pool.project_id)
        existing = {(mb.address, mb.protocol_port): mb for mb in session.execute(
            select(m.Member).where(m.Member.pool_id == pool_id)).scalars()}
        changed = False
        created = leaving = 0  # for the quota: only the net increase counts
        for key, req in wanted.items():
            member = existing.get(key)
            if member is None:
                session.add(builders.new_member(svc.cfg, req, pool, pool.project_id,
                                                pool.health_monitor is not None))
                changed = True
                created += 1
            elif _apply_batch_fields(member, req):
                changed = True
        if not additive:
            for key, member in existing.items():
                if key not in wanted and member.provisioning_status != C.PENDING_DELETE:
                    member.provisioning_status = C.PENDING_DELETE
                    changed = True
                    leaving += 1
        if not changed:
            return Response(status_code=202)  # an empty diff: nothing to converge
        if created:
            quota.enforce(session, svc.cfg, pool.project_id, [m.Member],
                          leaving={m.Member: leaving})
        status.lock_pool_child(session, pool)
        lb_id = pool.load_balancer_id
    svc.notify(lb_id)
    return Response(status_code=202)


# What a batch entry replaces even when it leaves it out: the fields with a default
# (Octavia writes the entry's weight, admin_state_up and backup, defaults included).
_BATCH_DEFAULTED = ("weight", "backup", "admin_state_up")


def _apply_batch_fields(member: m.Member, req: s.MemberSingle) -> bool:
    """Set the fields the body carries, and weight, backup and admin_state_up to their
    defaults when it omits them; True when anything differs. A member still being
    deleted (only possible without the strict lock) that is listed again counts as a
    change, which status.guard_relaxed_transitions refuses with 409."""
    changed = member.provisioning_status == C.PENDING_DELETE
    for field in _BATCH_FIELDS:
        if field not in req.model_fields_set and field not in _BATCH_DEFAULTED:
            continue
        value = getattr(req, field)
        if field == "weight" and value is None:
            value = 1
        if field == "tags":
            if sorted(member.tags or []) != sorted(value or []):
                member.tags = value or []
                changed = True
            continue
        column = "enabled" if field == "admin_state_up" else field
        if getattr(member, column) != value:
            setattr(member, column, value)
            changed = True
    if changed and member.provisioning_status != C.PENDING_CREATE:
        member.provisioning_status = C.PENDING_UPDATE
    return changed
