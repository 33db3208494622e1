"""/v2/lbaas/pools."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from portus.api import builders, collections, errors, l7build, schemas as s, views
from portus.api import quota, tls_checks
from portus.api.deps import (Caller, Services, authorize_create, caller, project_for_create,
                             services, write)
from portus.api.listeners import get_listener
from portus.api.loadbalancers import get_lb
from portus.common import constants as C
from portus.db import models as m, status

router = APIRouter()
NAME = "Pool"


def get_pool(session: Session, pool_id: str, who: Caller) -> m.Pool:
    pool = session.get(m.Pool, pool_id)
    if pool is None:  # existence only: the handler authorizes
        raise errors.NotFound(NAME, pool_id)
    return pool


def serialize(session: Session, pools: list[m.Pool]) -> list[dict[str, Any]]:
    ids = [p.id for p in pools]
    listeners: dict[str, list[str]] = {i: [] for i in ids}
    members: dict[str, list[str]] = {i: [] for i in ids}
    if ids:
        for lid, pid in session.execute(select(m.Listener.id, m.Listener.default_pool_id)
                                        .where(m.Listener.default_pool_id.in_(ids))):
            listeners[str(pid)].append(lid)
        for mid, pid in session.execute(select(m.Member.id, m.Member.pool_id)
                                        .where(m.Member.pool_id.in_(ids))):
            members[pid].append(mid)
    return [views.pool(p, listeners[p.id], members[p.id]) for p in pools]


LIST = collections.ListSpec(
    m.Pool, "pools",
    ("id", "name", "description", "project_id", "tenant_id", "admin_state_up", "protocol",
     "lb_algorithm", "provisioning_status", "operating_status", "loadbalancer_id",
     "tls_enabled", "tls_container_ref", "ca_tls_container_ref", "crl_container_ref",
     "tls_ciphers", "created_at", "updated_at"),
    serialize,
    derived={
        "healthmonitor_id": collections.related(m.Pool.id, m.HealthMonitor.id,
                                                m.HealthMonitor.pool_id),
        "tls_versions": collections.json_list(m.Pool.tls_versions),
        "alpn_protocols": collections.json_list(m.Pool.alpn_protocols),
        # As shown: the listeners whose default pool this is.
        "listeners": collections.related(m.Pool.id, m.Listener.id, m.Listener.default_pool_id,
                                         sortable=False),
        "members": collections.related(m.Pool.id, m.Member.id, m.Member.pool_id,
                                       sortable=False),
        "loadbalancers": collections.one_of(m.Pool.load_balancer_id)})


@router.get("/pools")
def list_pools(request: Request, svc: Services = Depends(services),
               who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        project = who.list_scope("pool", request.query_params)
        query = collections.base_query(m.Pool, project, False)
        return collections.list_response(request, session, LIST, query,
                                         svc.cfg.api.pagination_max_limit)


@router.post("/pools", status_code=201)
def create_pool(body: s.PoolCreate, svc: Services = Depends(services),
                who: Caller = Depends(caller)) -> dict[str, Any]:
    req = body.pool
    with write(svc) as session:
        listener = None
        if req.listener_id is not None:
            try:
                listener = get_listener(session, req.listener_id, who)
            except errors.NotFound:
                raise errors.InvalidField("listener_id", req.listener_id,
                                          "Listener not found.") from None
            if req.loadbalancer_id is not None and req.loadbalancer_id != listener.load_balancer_id:
                raise errors.BadRequest("The listener is not on the given load balancer.")
            if listener.default_pool_id is not None:
                raise errors.Conflict(f"Listener {listener.id} already has default pool "
                                      f"{listener.default_pool_id}.")
            builders.check_listener_pool(listener.protocol, req.protocol)
            lb_id = listener.load_balancer_id
        elif req.loadbalancer_id is not None:
            lb_id = req.loadbalancer_id
        else:
            raise errors.BadRequest("Invalid input for field/attribute pool. One of "
                                    "loadbalancer_id or listener_id must be provided.")
        lb = get_lb(session, lb_id, who)  # an unknown loadbalancer_id is 404, as in Octavia
        project_id = project_for_create(who, req.project_id or lb.project_id, req.tenant_id)
        authorize_create(who, "pool:post", lb.project_id, project_id)
        status.lock_lb(session, lb.id)
        pool = builders.new_pool(svc.cfg, session, req, lb, project_id, svc.certs)
        if listener is not None:
            builders.attach_default_pool(listener, pool)
            status.mark_pending_update(session, m.Listener, [listener.id])
        quota.enforce(session, svc.cfg, project_id, quota.pool_kinds(pool))
        session.flush()
        out = serialize(session, [pool])[0]
    svc.notify(lb.id)
    return {"pool": out}


@router.get("/pools/{pool_id}")
def show_pool(pool_id: str, request: Request, svc: Services = Depends(services),
              who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        pool = get_pool(session, pool_id, who)
        who.authorize("pool:get_one", pool.project_id)
        body = serialize(session, [pool])[0]
    return {"pool": views.select_fields(body, request.query_params.getlist("fields"))}


@router.put("/pools/{pool_id}")
def update_pool(pool_id: str, body: s.PoolUpdate, svc: Services = Depends(services),
                who: Caller = Depends(caller)) -> dict[str, Any]:
    req = body.pool
    with write(svc) as session:
        pool = get_pool(session, pool_id, who)
        who.authorize("pool:put", pool.project_id)
        status.lock_lb(session, pool.load_balancer_id)
        for field in req.model_fields_set:
            value = getattr(req, field)
            if field == "admin_state_up":
                pool.enabled = True if value is None else value
            elif field == "lb_algorithm":
                if value is None:
                    raise errors.InvalidField("lb_algorithm", None, "lb_algorithm cannot be null.")
                builders.check_pool_provider(svc.cfg, pool.load_balancer, pool.protocol, value)
                pool.lb_algorithm = value
            elif field == "session_persistence":
                merged = _merged_persistence(pool.session_persistence, value)
                builders.check_session_persistence(pool.protocol, merged)
                pool.session_persistence = merged.model_dump(exclude_none=True) if merged else None
            elif field == "tags":
                pool.tags = value or []
            elif field == "tls_enabled":
                pool.tls_enabled = bool(value)
            else:
                setattr(pool, field, value)
        tls_checks.pool_defaults(svc.cfg, pool)
        tls_checks.check_pool(svc.cfg, session, svc.certs, pool)
        pool.provisioning_status = C.PENDING_UPDATE
        status.mark_pending_update(session, m.Listener, status.listeners_of_pool(session, pool.id))
        session.flush()
        out = serialize(session, [pool])[0]
    svc.notify(pool.load_balancer_id)
    return {"pool": out}


def _merged_persistence(old: dict[str, Any] | None,
                        new: s.SessionPersistencePUT | None) -> s.SessionPersistence | None:
    """The session persistence a PUT leaves: the body's when it names a type; without
    a type, the old one with the given fields changed (Octavia: "A PUT without type
    keeps the old type"), checked again as a whole."""
    if new is None:
        return None
    given = new.model_dump(include=new.model_fields_set)
    if new.type is None and not old:
        raise errors.InvalidField("pool.session_persistence.type", None,
                                  "Mandatory field missing.")
    try:
        return s.SessionPersistence.model_validate(given if new.type else {**(old or {}), **given})
    except ValidationError as exc:
        message = str(exc.errors()[0].get("msg", "invalid value")).removeprefix("Value error, ")
        raise errors.InvalidField("pool.session_persistence", given, message) from None


@router.delete("/pools/{pool_id}", status_code=204)
def delete_pool(pool_id: str, svc: Services = Depends(services),
                who: Caller = Depends(caller)) -> Response:
    with write(svc) as session:
        pool = get_pool(session, pool_id, who)
        who.authorize("pool:delete", pool.project_id)
        l7build.refuse_pool_in_use(session, pool.id)
        status.lock_lb(session, pool.load_balancer_id)
        pool.provisioning_status = C.PENDING_DELETE
        status.mark_pending_update(session, m.Listener, status.listeners_of_pool(session, pool.id))
    svc.notify(pool.load_balancer_id)
    return Response(status_code=204)
