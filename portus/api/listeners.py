"""/v2/lbaas/listeners."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from portus.api import builders, collections, errors, schemas as s, views
from portus.api import l7build, quota, tls_checks
from portus.api.deps import (Caller, Services, authorize_create, caller, project_for_create,
                             services, write)
from portus.api.loadbalancers import get_lb, sum_stats
from portus.common import constants as C
from portus.db import models as m, status

router = APIRouter()
NAME = "Listener"


def get_listener(session: Session, listener_id: str, who: Caller) -> m.Listener:
    listener = session.get(m.Listener, listener_id)
    if listener is None:  # existence only: the handler authorizes
        raise errors.NotFound(NAME, listener_id)
    return listener


LIST = collections.ListSpec(
    m.Listener, "listeners",
    ("id", "name", "description", "project_id", "tenant_id", "admin_state_up", "protocol",
     "protocol_port", "connection_limit", "default_pool_id", "provisioning_status",
     "operating_status", "loadbalancer_id", "timeout_client_data", "timeout_member_connect",
     "timeout_member_data", "timeout_tcp_inspect", "created_at", "updated_at",
     "default_tls_container_ref", "client_authentication", "client_ca_tls_container_ref",
     "client_crl_container_ref", "tls_ciphers", "hsts_max_age", "hsts_include_subdomains",
     "hsts_preload"),
    lambda _session, rows: [views.listener(li) for li in rows],
    derived={
        "tls_versions": collections.json_list(m.Listener.tls_versions),
        "alpn_protocols": collections.json_list(m.Listener.alpn_protocols),
        "sni_container_refs": collections.json_list(m.Listener.sni_container_refs),
        "allowed_cidrs": collections.json_list(m.Listener.allowed_cidrs),
        "insert_headers": collections.json_object(m.Listener.insert_headers),
        "loadbalancers": collections.one_of(m.Listener.load_balancer_id),
        "l7policies": collections.related(m.Listener.id, m.L7Policy.id,
                                          m.L7Policy.listener_id, sortable=False)})


@router.get("/listeners")
def list_listeners(request: Request, svc: Services = Depends(services),
                   who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        project = who.list_scope("listener", request.query_params)
        query = collections.base_query(m.Listener, project, False)
        return collections.list_response(request, session, LIST, query,
                                         svc.cfg.api.pagination_max_limit)


@router.post("/listeners", status_code=201)
def create_listener(body: s.ListenerCreate, svc: Services = Depends(services),
                    who: Caller = Depends(caller)) -> dict[str, Any]:
    req = body.listener
    with write(svc) as session:
        lb = _lb_for_child(session, req.loadbalancer_id, who)
        project_id = project_for_create(who, req.project_id or lb.project_id, req.tenant_id)
        authorize_create(who, "listener:post", lb.project_id, project_id)
        builders.check_listener_port_free(session, lb.id, req.protocol, req.protocol_port)
        status.lock_lb(session, lb.id)
        listener = builders.new_listener(svc.cfg, session, req, lb, project_id, svc.certs)
        if req.default_pool_id is not None and req.default_pool is not None:
            raise errors.BadRequest("default_pool_id and default_pool cannot both be given.")
        if req.default_pool_id is not None:
            pool = _usable_pool(session, req.default_pool_id, lb.id)
            builders.attach_default_pool(listener, pool)
        elif req.default_pool is not None:
            pool = builders.new_pool(svc.cfg, session, req.default_pool, lb, project_id,
                                     svc.certs, "listener.default_pool")
            builders.attach_default_pool(listener, pool)
        for j, policy_body in enumerate(req.l7policies or []):
            l7build.new_policy(session, policy_body, listener, project_id,
                               path=f"listener.l7policies.{j}.")
        new_pool = pool if req.default_pool is not None else None
        quota.enforce(session, svc.cfg, project_id, quota.listener_kinds(listener)
                      + (quota.pool_kinds(new_pool) if new_pool else []))
        session.flush()
        out = views.listener(listener)
    svc.notify(lb.id)
    return {"listener": out}


def _lb_for_child(session: Session, lb_id: str, who: Caller) -> m.LoadBalancer:
    """The load balancer a body names; an unknown one is 404, as in Octavia."""
    return get_lb(session, lb_id, who)


def _usable_pool(session: Session, pool_id: str, lb_id: str) -> m.Pool:
    """A default pool must be on the listener's load balancer; any other id is 404
    "Pool <id> not found." (Octavia looks it up by id and load balancer)."""
    pool = session.get(m.Pool, pool_id)
    if pool is None or pool.load_balancer_id != lb_id:
        raise errors.NotFound("Pool", pool_id)
    return pool


@router.get("/listeners/{listener_id}")
def show_listener(listener_id: str, request: Request, svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        listener = get_listener(session, listener_id, who)
        who.authorize("listener:get_one", listener.project_id)
        body = views.listener(listener)
    return {"listener": views.select_fields(body, request.query_params.getlist("fields"))}


# PUT null resets these to their defaults (TLS options: the configured ones, below).
_RESET_TO_DEFAULT: dict[str, Any] = {
    "client_authentication": "NONE", "hsts_include_subdomains": False, "hsts_preload": False,
    "sni_container_refs": []}
_RESET_TO_CONFIG = ("timeout_client_data", "timeout_member_connect", "timeout_member_data",
                    "timeout_tcp_inspect")


@router.put("/listeners/{listener_id}")
def update_listener(listener_id: str, body: s.ListenerUpdate, svc: Services = Depends(services),
                    who: Caller = Depends(caller)) -> dict[str, Any]:
    req = body.listener
    with write(svc) as session:
        listener = get_listener(session, listener_id, who)
        who.authorize("listener:put", listener.project_id)
        status.lock_lb(session, listener.load_balancer_id)
        for field in req.model_fields_set:
            value = getattr(req, field)
            if field == "admin_state_up":
                listener.enabled = True if value is None else value
            elif field == "connection_limit":
                listener.connection_limit = -1 if value is None else value
            elif field in _RESET_TO_CONFIG:
                setattr(listener, field, getattr(svc.cfg.amphora, field) if value is None else value)
            elif field == "insert_headers":
                listener.insert_headers = dict(value or {})
            elif field in _RESET_TO_DEFAULT:
                setattr(listener, field, _RESET_TO_DEFAULT[field] if value is None else value)
            elif field == "default_pool_id":
                if value is None:
                    listener.default_pool_id = None
                else:
                    builders.attach_default_pool(
                        listener, _usable_pool(session, value, listener.load_balancer_id))
            elif field == "tags":
                listener.tags = value or []
            else:
                setattr(listener, field, value)
        tls_checks.listener_defaults(svc.cfg, listener)
        tls_checks.check_listener(svc.cfg, session, svc.certs, listener,
                                  builders.vip_families(svc.cfg, listener.load_balancer))
        listener.provisioning_status = C.PENDING_UPDATE
        session.flush()
        out = views.listener(listener)
    svc.notify(listener.load_balancer_id)
    return {"listener": out}


@router.delete("/listeners/{listener_id}", status_code=204)
def delete_listener(listener_id: str, svc: Services = Depends(services),
                    who: Caller = Depends(caller)) -> Response:
    with write(svc) as session:
        listener = get_listener(session, listener_id, who)
        who.authorize("listener:delete", listener.project_id)
        status.lock_lb(session, listener.load_balancer_id)
        listener.provisioning_status = C.PENDING_DELETE
    svc.notify(listener.load_balancer_id)
    return Response(status_code=204)


@router.get("/listeners/{listener_id}/stats")
def listener_stats(listener_id: str, svc: Services = Depends(services),
                   who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        who.authorize("listener:get_stats", get_listener(session, listener_id, who).project_id)
        return {"stats": sum_stats(session, m.ListenerStatistics.listener_id == listener_id)}
