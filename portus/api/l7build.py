"""New L7 policy and rule rows, redirect pool checks and position numbering.

Shared by /l7policies, /l7policies/{id}/rules, listener create and the fully
populated load balancer create, so all of them apply the same rules.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portus.api import builders, errors, schemas as s
from portus.api.l7checks import (L7_LISTENER_PROTOCOLS, MAX_RULES_PER_POLICY, PolicyAction,
                                 RuleFields, check_rule, resolve_action)
from portus.common import constants as C
from portus.db import models as m


def check_listener(listener: m.Listener) -> None:
    if listener.protocol == "PROMETHEUS":
        raise errors.ListenerNoChildren(listener.protocol)
    if listener.protocol not in L7_LISTENER_PROTOCOLS:
        # Octavia's amphora provider refuses this (ProviderUnsupportedOptionError).
        raise errors.APIError(
            f"Provider 'amphora' does not support a requested option: L7 policies are only "
            f"supported on HTTP and TERMINATED_HTTPS listeners, not {listener.protocol}.", 501)


def check_redirect_pool(session: Session, pool_id: str, listener: m.Listener,
                        path: str = "") -> m.Pool:
    """The redirect pool, on the listener's load balancer. Any other id is 404 "Pool
    <id> not found." on /l7policies, as in Octavia; inside a listener or load balancer
    create (`path` set) it stays a 400 naming the field, as Octavia's graph create
    answers an unknown reference."""
    pool = session.get(m.Pool, pool_id)
    if (pool is None or pool.load_balancer_id != listener.load_balancer_id
            or pool.provisioning_status in (C.PENDING_DELETE, C.DELETED)):
        if path:
            raise errors.InvalidField(f"{path}redirect_pool_id", pool_id,
                                      "Pool not found on the listener's load balancer.")
        raise errors.NotFound("Pool", pool_id)
    builders.check_listener_pool(listener.protocol, pool.protocol)
    return pool


def live_policies(session: Session, listener_id: str) -> list[m.L7Policy]:
    return list(session.execute(
        select(m.L7Policy).where(m.L7Policy.listener_id == listener_id,
                                 m.L7Policy.provisioning_status != C.PENDING_DELETE)
        .order_by(m.L7Policy.position, m.L7Policy.created_at, m.L7Policy.id)).scalars())


def place(session: Session, listener_id: str, policy: m.L7Policy, position: int | None) -> None:
    """Put `policy` at `position` (None or past the end: last) and renumber the
    listener's policies 1..n, as Octavia keeps them contiguous."""
    ordered = [p for p in live_policies(session, listener_id) if p.id != policy.id]
    index = len(ordered) if position is None else min(position - 1, len(ordered))
    ordered.insert(index, policy)
    renumber(ordered)


def renumber(ordered: list[m.L7Policy]) -> None:
    for i, p in enumerate(ordered, start=1):
        if p.position != i:
            p.position = i


def live_rule_count(session: Session, policy_id: str) -> int:
    return int(session.execute(
        select(func.count()).select_from(m.L7Rule)
        .where(m.L7Rule.l7policy_id == policy_id,
               m.L7Rule.provisioning_status != C.PENDING_DELETE)).scalar_one())


def too_many_rules(policy_id: str) -> errors.Conflict:
    return errors.Conflict(f"Too many rules on L7 policy {policy_id}: at most "
                           f"{MAX_RULES_PER_POLICY} are allowed.")


def new_rule(body: s.L7RuleSingle, policy: m.L7Policy, project_id: str,
             path: str = "") -> m.L7Rule:
    check_rule(RuleFields(body.type, body.compare_type, body.key, body.value), path)
    rule = m.L7Rule(**builders._named(body, project_id), type=body.type,
                    compare_type=body.compare_type, key=body.key, value=body.value,
                    invert=body.invert)
    rule.id = m.new_id()
    rule.l7policy = policy
    return rule


def new_policy(session: Session, body: s._L7PolicyFields, listener: m.Listener,
               project_id: str, pool: m.Pool | None = None, path: str = "") -> m.L7Policy:
    """A policy with its rules. `pool` is the redirect pool a graph create resolved by
    name; otherwise redirect_pool_id is looked up on the listener's load balancer."""
    check_listener(listener)
    if getattr(body, "redirect_pool", None) is not None and pool is None:
        raise errors.InvalidField(f"{path}redirect_pool", "...", "redirect_pool is only for "
                                  "fully populated load balancers; use redirect_pool_id.")
    given: dict[str, Any] = {
        f: getattr(body, f) for f in ("action", "redirect_pool_id", "redirect_url",
                                      "redirect_prefix", "redirect_http_code")
        if f in body.model_fields_set}
    try:
        action = resolve_action(given, pool_given=pool is not None)
    except errors.InvalidField as exc:
        if path:
            exc.message = exc.message.replace("attribute ", f"attribute {path}", 1)
        raise
    if action.redirect_pool_id is not None and pool is None:
        pool = check_redirect_pool(session, action.redirect_pool_id, listener, path)
    elif pool is not None:
        builders.check_listener_pool(listener.protocol, pool.protocol)
    rules = body.rules or []
    policy = m.L7Policy(**builders._named(body, project_id), action=action.action,
                        redirect_url=action.redirect_url, redirect_prefix=action.redirect_prefix,
                        redirect_http_code=action.redirect_http_code)
    policy.id = m.new_id()
    if len(rules) > MAX_RULES_PER_POLICY:
        raise too_many_rules(policy.id)
    place(session, listener.id, policy, body.position)
    if action.action == "REDIRECT_TO_POOL" and pool is not None:
        policy.redirect_pool = pool
        policy.redirect_pool_id = pool.id
    policy.listener = listener
    session.add(policy)
    for i, rule_body in enumerate(rules):
        session.add(new_rule(rule_body, policy, project_id, f"{path}rules.{i}."))
    return policy


def current_action(policy: m.L7Policy) -> PolicyAction:
    return PolicyAction(policy.action, policy.redirect_pool_id, policy.redirect_url,
                        policy.redirect_prefix, policy.redirect_http_code)


def refuse_pool_in_use(session: Session, pool_id: str) -> None:
    """A pool that an L7 policy redirects to cannot be deleted (PoolInUseByL7Policy)."""
    policy_id = session.execute(
        select(m.L7Policy.id).where(m.L7Policy.redirect_pool_id == pool_id,
                                    m.L7Policy.provisioning_status != C.PENDING_DELETE)
        .limit(1)).scalar_one_or_none()
    if policy_id is not None:
        raise errors.Conflict(f"Pool {pool_id} is in use by L7 policy {policy_id}")
