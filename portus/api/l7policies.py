"""/v2/lbaas/l7policies."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from portus.api import collections, errors, l7build, quota, schemas as s, views
from portus.api.deps import (Caller, Services, authorize_create, caller, project_for_create,
                             services, write)
from portus.api.l7checks import resolve_action
from portus.api.listeners import get_listener
from portus.common import constants as C
from portus.db import models as m, status

router = APIRouter()
NAME = "L7 Policy"


def get_policy(session: Session, policy_id: str, who: Caller) -> m.L7Policy:
    policy = session.get(m.L7Policy, policy_id)
    if policy is None:  # existence only: the handler authorizes
        raise errors.NotFound(NAME, policy_id)
    return policy


LIST = collections.ListSpec(
    m.L7Policy, "l7policies",
    ("id", "name", "description", "project_id", "tenant_id", "admin_state_up", "action",
     "listener_id", "redirect_pool_id", "redirect_url", "redirect_prefix",
     "redirect_http_code", "position", "provisioning_status", "created_at", "updated_at"),
    lambda _session, rows: [views.l7policy(p) for p in rows],
    derived={"operating_status": collections.applied_operating_status(m.L7Policy),
             "rules": collections.related(m.L7Policy.id, m.L7Rule.id, m.L7Rule.l7policy_id,
                                          sortable=False)})


@router.get("/l7policies")
def list_l7policies(request: Request, svc: Services = Depends(services),
                    who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        project = who.list_scope("l7policy", request.query_params)
        query = collections.base_query(m.L7Policy, project, False)
        return collections.list_response(request, session, LIST, query,
                                         svc.cfg.api.pagination_max_limit)


@router.post("/l7policies", status_code=201)
def create_l7policy(body: s.L7PolicyCreate, svc: Services = Depends(services),
                    who: Caller = Depends(caller)) -> dict[str, Any]:
    req = body.l7policy
    with write(svc) as session:
        listener = get_listener(session, req.listener_id, who)  # unknown: 404, as in Octavia
        project_id = project_for_create(who, req.project_id or listener.project_id,
                                        req.tenant_id)
        authorize_create(who, "l7policy:post", listener.project_id, project_id)
        status.refuse_deleting("listener", listener)
        status.lock_lb(session, listener.load_balancer_id)
        policy = l7build.new_policy(session, req, listener, project_id)
        quota.enforce(session, svc.cfg, project_id, quota.l7policy_kinds(policy))
        status.mark_pending_update(session, m.Listener, [listener.id])
        session.flush()
        out = views.l7policy(policy)
        lb_id = listener.load_balancer_id
    svc.notify(lb_id)
    return {"l7policy": out}


@router.get("/l7policies/{policy_id}")
def show_l7policy(policy_id: str, request: Request, svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        policy = get_policy(session, policy_id, who)
        who.authorize("l7policy:get_one", policy.project_id)
        body = views.l7policy(policy)
    return {"l7policy": views.select_fields(body, request.query_params.getlist("fields"))}


_ACTION_FIELDS = ("action", "redirect_pool_id", "redirect_url", "redirect_prefix",
                  "redirect_http_code")


@router.put("/l7policies/{policy_id}")
def update_l7policy(policy_id: str, body: s.L7PolicyUpdate, svc: Services = Depends(services),
                    who: Caller = Depends(caller)) -> dict[str, Any]:
    req = body.l7policy
    with write(svc) as session:
        policy = get_policy(session, policy_id, who)
        who.authorize("l7policy:put", policy.project_id)
        status.refuse_deleting("l7policy", policy)
        listener = policy.listener
        given = {f: getattr(req, f) for f in _ACTION_FIELDS if f in req.model_fields_set}
        if given:
            if "action" in given and given["action"] is None:
                raise errors.InvalidField("action", None, "action cannot be null.")
            action = resolve_action(given, l7build.current_action(policy))
            if action.redirect_pool_id is not None:
                l7build.check_redirect_pool(session, action.redirect_pool_id, listener)
        status.lock_lb(session, listener.load_balancer_id)
        if given:
            policy.action = action.action
            policy.redirect_pool_id = action.redirect_pool_id
            policy.redirect_url = action.redirect_url
            policy.redirect_prefix = action.redirect_prefix
            policy.redirect_http_code = action.redirect_http_code
        for field in req.model_fields_set - set(_ACTION_FIELDS):
            value = getattr(req, field)
            if field == "admin_state_up":
                policy.enabled = True if value is None else value
            elif field == "tags":
                policy.tags = value or []
            elif field == "position":
                l7build.place(session, listener.id, policy, value)  # null: move to the end
            else:
                setattr(policy, field, value)
        if policy.provisioning_status != C.PENDING_CREATE:  # not applied yet: stays so
            policy.provisioning_status = C.PENDING_UPDATE
        status.mark_pending_update(session, m.Listener, [listener.id])
        session.flush()
        session.refresh(policy)
        out = views.l7policy(policy)
        lb_id = listener.load_balancer_id
    svc.notify(lb_id)
    return {"l7policy": out}


@router.delete("/l7policies/{policy_id}", status_code=204)
def delete_l7policy(policy_id: str, svc: Services = Depends(services),
                    who: Caller = Depends(caller)) -> Response:
    with write(svc) as session:
        policy = get_policy(session, policy_id, who)
        who.authorize("l7policy:delete", policy.project_id)
        status.refuse_deleting("l7policy", policy)
        listener = policy.listener
        status.lock_lb(session, listener.load_balancer_id)
        policy.provisioning_status = C.PENDING_DELETE
        session.flush()
        l7build.renumber(l7build.live_policies(session, listener.id))
        status.mark_pending_update(session, m.Listener, [listener.id])
        lb_id = listener.load_balancer_id
    svc.notify(lb_id)
    return Response(status_code=204)
