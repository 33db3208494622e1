"""/v2/lbaas/l7policies/{policy_id}/rules (list key `rules`, body key `rule`)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from portus.api import collections, errors, l7build, quota, schemas as s, views
from portus.api.deps import (Caller, Services, authorize_create, caller, project_for_create,
                             services, write)
from portus.api.l7checks import MAX_RULES_PER_POLICY, RuleFields, check_rule
from portus.api.l7policies import get_policy
from portus.common import constants as C
from portus.db import models as m, status

router = APIRouter()
NAME = "L7 Rule"


def get_rule(session: Session, policy_id: str, rule_id: str, who: Caller) -> m.L7Rule:
    get_policy(session, policy_id, who)
    rule = session.get(m.L7Rule, rule_id)
    if rule is None or rule.l7policy_id != policy_id:
        raise errors.NotFound(NAME, rule_id)
    return rule


LIST = collections.ListSpec(
    m.L7Rule, "rules",
    ("id", "project_id", "tenant_id", "admin_state_up", "type", "compare_type", "key",
     "value", "invert", "provisioning_status", "l7policy_id", "created_at", "updated_at"),
    lambda _session, rows: [views.l7rule(r) for r in rows],
    derived={"operating_status": collections.applied_operating_status(m.L7Rule)})


def _lock_policy(session: Session, policy: m.L7Policy, allowed: tuple[str, ...]) -> None:
    """A rule changes: the load balancer, the listener and the policy go PENDING_UPDATE.
    As Octavia, the policy must be usable (ACTIVE; ERROR too for a delete)."""
    status.refuse_deleting("l7policy", policy)
    status.lock_lb(session, policy.listener.load_balancer_id)
    if policy.provisioning_status not in allowed + (C.PENDING_CREATE, C.PENDING_UPDATE):
        raise errors.Conflict(f"Invalid state {policy.provisioning_status} of l7policy "
                              f"resource {policy.id}")
    status.mark_pending_update(session, m.L7Policy, [policy.id])
    status.mark_pending_update(session, m.Listener, [policy.listener_id])


@router.get("/l7policies/{policy_id}/rules")
def list_l7rules(policy_id: str, request: Request, svc: Services = Depends(services),
                 who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        policy = get_policy(session, policy_id, who)
        who.authorize("l7rule:get_all", policy.project_id)
        # As Octavia: get_all on the policy's project, then every rule of the policy.
        query = collections.base_query(m.L7Rule, None, True)
        query = query.where(m.L7Rule.l7policy_id == policy_id)
        return collections.list_response(request, session, LIST, query,
                                         svc.cfg.api.pagination_max_limit)


@router.post("/l7policies/{policy_id}/rules", status_code=201)
def create_l7rule(policy_id: str, body: s.L7RuleCreate, svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> dict[str, Any]:
    req = body.rule
    with write(svc) as session:
        policy = get_policy(session, policy_id, who)
        project_id = project_for_create(who, req.project_id or policy.project_id, req.tenant_id)
        authorize_create(who, "l7rule:post", policy.project_id, project_id)
        check_rule(RuleFields(req.type, req.compare_type, req.key, req.value))
        if l7build.live_rule_count(session, policy_id) >= MAX_RULES_PER_POLICY:
            raise l7build.too_many_rules(policy_id)
        _lock_policy(session, policy, (C.ACTIVE,))
        rule = l7build.new_rule(req, policy, project_id)
        session.add(rule)
        quota.enforce(session, svc.cfg, project_id, [m.L7Rule])
        session.flush()
        out = views.l7rule(rule)
        lb_id = policy.listener.load_balancer_id
    svc.notify(lb_id)
    return {"rule": out}


@router.get("/l7policies/{policy_id}/rules/{rule_id}")
def show_l7rule(policy_id: str, rule_id: str, request: Request,
                svc: Services = Depends(services), who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        rule = get_rule(session, policy_id, rule_id, who)
        who.authorize("l7rule:get_one", rule.project_id)
        body = views.l7rule(rule)
    return {"rule": views.select_fields(body, request.query_params.getlist("fields"))}


@router.put("/l7policies/{policy_id}/rules/{rule_id}")
def update_l7rule(policy_id: str, body: s.L7RuleUpdate, rule_id: str,
                  svc: Services = Depends(services), who: Caller = Depends(caller)) -> dict[str, Any]:
    req = body.rule
    fields = req.model_fields_set
    with write(svc) as session:
        rule = get_rule(session, policy_id, rule_id, who)
        who.authorize("l7rule:put", rule.project_id)
        status.refuse_deleting("l7rule", rule)
        for field in ("type", "compare_type", "value"):
            if field in fields and getattr(req, field) is None:
                raise errors.InvalidField(field, None, f"{field} cannot be null.")
        # Validate what the rule will be, not just the fields sent.
        merged = RuleFields(
            type=req.type if "type" in fields else rule.type,  # type: ignore[arg-type]
            compare_type=(req.compare_type if "compare_type" in fields  # type: ignore[arg-type]
                          else rule.compare_type),
            key=req.key if "key" in fields else rule.key,
            value=req.value if "value" in fields else rule.value)  # type: ignore[arg-type]
        check_rule(merged)
        _lock_policy(session, rule.l7policy, (C.ACTIVE,))
        rule.type, rule.compare_type = merged.type, merged.compare_type
        rule.key, rule.value = merged.key, merged.value
        if "invert" in fields:
            rule.invert = bool(req.invert)  # null resets to false
        if "admin_state_up" in fields:
            rule.enabled = True if req.admin_state_up is None else req.admin_state_up
        if "tags" in fields:
            rule.tags = req.tags or []
        if rule.provisioning_status != C.PENDING_CREATE:
            rule.provisioning_status = C.PENDING_UPDATE
        session.flush()
        out = views.l7rule(rule)
        lb_id = rule.l7policy.listener.load_balancer_id
    svc.notify(lb_id)
    return {"rule": out}


@router.delete("/l7policies/{policy_id}/rules/{rule_id}", status_code=204)
def delete_l7rule(policy_id: str, rule_id: str, svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> Response:
    with write(svc) as session:
        rule = get_rule(session, policy_id, rule_id, who)
        who.authorize("l7rule:delete", rule.project_id)
        status.refuse_deleting("l7rule", rule)
        _lock_policy(session, rule.l7policy, (C.ACTIVE, C.ERROR))
        rule.provisioning_status = C.PENDING_DELETE
        lb_id = rule.l7policy.listener.load_balancer_id
    svc.notify(lb_id)
    return Response(status_code=204)
