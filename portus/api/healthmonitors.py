"""/v2/lbaas/healthmonitors."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from portus.api import builders, collections, errors, schemas as s, views
from portus.api import quota
from portus.api.deps import (Caller, Services, authorize_create, caller, project_for_create,
                             services, write)
from portus.api.pools import get_pool
from portus.common import constants as C
from portus.db import models as m, status

router = APIRouter()
NAME = "Health Monitor"


def get_hm(session: Session, hm_id: str, who: Caller) -> m.HealthMonitor:
    hm = session.get(m.HealthMonitor, hm_id)
    if hm is None:  # existence only: the handler authorizes
        raise errors.NotFound(NAME, hm_id)
    return hm


LIST = collections.ListSpec(
    m.HealthMonitor, "healthmonitors",
    ("id", "name", "project_id", "tenant_id", "admin_state_up", "type", "delay", "timeout",
     "max_retries", "max_retries_down", "http_method", "url_path", "expected_codes",
     "provisioning_status", "pool_id", "http_version", "domain_name", "created_at",
     "updated_at"),
    lambda _session, rows: [views.healthmonitor(hm) for hm in rows],
    derived={"pools": collections.one_of(m.HealthMonitor.pool_id),
             "operating_status": collections.applied_operating_status(m.HealthMonitor)})


@router.get("/healthmonitors")
def list_healthmonitors(request: Request, svc: Services = Depends(services),
                        who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        project = who.list_scope("healthmonitor", request.query_params)
        query = collections.base_query(m.HealthMonitor, project, False)
        return collections.list_response(request, session, LIST, query,
                                         svc.cfg.api.pagination_max_limit)


@router.post("/healthmonitors", status_code=201)
def create_healthmonitor(body: s.HealthMonitorCreate, svc: Services = Depends(services),
                         who: Caller = Depends(caller)) -> dict[str, Any]:
    req = body.healthmonitor
    with write(svc) as session:
        pool = get_pool(session, req.pool_id, who)  # unknown: 404, as in Octavia
        who.authorize("healthmonitor:post", pool.project_id)  # before revealing any conflict
        if pool.health_monitor is not None:
            raise errors.Conflict(f"This pool already has a health monitor ({pool.health_monitor.id})")
        project_id = project_for_create(who, req.project_id or pool.project_id, req.tenant_id)
        authorize_create(who, "healthmonitor:post", pool.project_id, project_id)
        status.lock_pool_child(session, pool)
        hm = builders.new_health_monitor(svc.cfg, req, pool, project_id)
        session.add(hm)
        quota.enforce(session, svc.cfg, project_id, [m.HealthMonitor])
        session.flush()
        out = views.healthmonitor(hm)
    svc.notify(pool.load_balancer_id)
    return {"healthmonitor": out}


@router.get("/healthmonitors/{hm_id}")
def show_healthmonitor(hm_id: str, request: Request, svc: Services = Depends(services),
                       who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        hm = get_hm(session, hm_id, who)
        who.authorize("healthmonitor:get_one", hm.project_id)
        body = views.healthmonitor(hm)
    return {"healthmonitor": views.select_fields(body, request.query_params.getlist("fields"))}


_NOT_NULL = ("delay", "timeout", "max_retries")
_COLUMN = {"max_retries": "rise_threshold", "max_retries_down": "fall_threshold",
           "admin_state_up": "enabled"}


@router.put("/healthmonitors/{hm_id}")
def update_healthmonitor(hm_id: str, body: s.HealthMonitorUpdate, svc: Services = Depends(services),
                         who: Caller = Depends(caller)) -> dict[str, Any]:
    req = body.healthmonitor
    with write(svc) as session:
        hm = get_hm(session, hm_id, who)
        who.authorize("healthmonitor:put", hm.project_id)
        builders.check_health_monitor(req, hm.type)
        builders.check_pool_health_monitor(svc.cfg, hm.pool.protocol, hm.type, req.delay)
        http_defaults = {"http_method": "GET", "url_path": "/", "expected_codes": "200"}
        defaults: dict[str, Any] = {"max_retries_down": 3, "admin_state_up": True, "tags": []}
        if hm.type in C.HTTP_HM_TYPES:
            defaults.update(http_defaults)
        status.lock_pool_child(session, hm.pool)
        for field in req.model_fields_set:
            value = getattr(req, field)
            if value is None:
                if field in _NOT_NULL:
                    raise errors.InvalidField(field, None, f"{field} cannot be null.")
                value = defaults.get(field)
            setattr(hm, _COLUMN.get(field, field), value)
        if hm.domain_name and (hm.http_version or 1.0) < 1.1:
            raise errors.InvalidField("domain_name", hm.domain_name,
                                      "http_version 1.1 is required when domain_name is set.")
        hm.provisioning_status = C.PENDING_UPDATE
        session.flush()
        out = views.healthmonitor(hm)
    svc.notify(hm.pool.load_balancer_id)
    return {"healthmonitor": out}


@router.delete("/healthmonitors/{hm_id}", status_code=204)
def delete_healthmonitor(hm_id: str, svc: Services = Depends(services),
                         who: Caller = Depends(caller)) -> Response:
    with write(svc) as session:
        hm = get_hm(session, hm_id, who)
        who.authorize("healthmonitor:delete", hm.project_id)
        status.lock_pool_child(session, hm.pool)
        hm.provisioning_status = C.PENDING_DELETE
        lb_id = hm.pool.load_balancer_id
    svc.notify(lb_id)
    return Response(status_code=204)
