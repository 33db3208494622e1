"""/v2/lbaas/pools/{pool_id}/members."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from portus.api import builders, collections, errors, schemas as s, views
from portus.api.deps import Caller, Services, caller, project_for_create, services, write
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
     "operating_status"),
    lambda _session, rows: [views.member(mb) for mb in rows])


@router.get("/pools/{pool_id}/members")
def list_members(pool_id: str, request: Request, svc: Services = Depends(services),
                 who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        get_pool(session, pool_id, who)
        query = collections.base_query(m.Member, who.project_id, who.is_admin)
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
        duplicate = session.query(m.Member.id).filter_by(
            pool_id=pool_id, address=req.address, protocol_port=req.protocol_port).first()
        if duplicate:
            raise errors.Conflict(f"Another member on this pool is already using ip "
                                  f"{req.address} on protocol_port {req.protocol_port}")
        status.lock_pool_child(session, pool)
        member = builders.new_member(svc.cfg, req, pool, project_id,
                                     pool.health_monitor is not None)
        session.add(member)
        session.flush()
        out = views.member(member)
    svc.notify(pool.load_balancer_id)
    return {"member": out}


@router.get("/pools/{pool_id}/members/{member_id}")
def show_member(pool_id: str, member_id: str, request: Request,
                svc: Services = Depends(services), who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        body = views.member(get_member(session, pool_id, member_id, who))
    return {"member": views.select_fields(body, request.query_params.getlist("fields"))}


@router.put("/pools/{pool_id}/members/{member_id}")
def update_member(pool_id: str, member_id: str, body: s.MemberUpdate,
                  svc: Services = Depends(services), who: Caller = Depends(caller)) -> dict[str, Any]:
    req = body.member
    defaults = {"weight": 1, "backup": False, "admin_state_up": True, "tags": []}
    with write(svc) as session:
        member = get_member(session, pool_id, member_id, who)
        status.lock_pool_child(session, member.pool)
        for field in req.model_fields_set:
            value = getattr(req, field)
            if value is None:
                value = defaults.get(field)
            setattr(member, "enabled" if field == "admin_state_up" else field, value)
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
        status.lock_pool_child(session, member.pool)
        member.provisioning_status = C.PENDING_DELETE
        lb_id = member.pool.load_balancer_id
    svc.notify(lb_id)
    return Response(status_code=204)
