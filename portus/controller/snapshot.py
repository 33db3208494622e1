"""Read a load balancer's desired state from the database into render specs."""
from __future__ import annotations

from sqlalchemy.orm import Session

from portus.amphora import spec
from portus.common import constants as C
from portus.db import models as m


def _live(obj: object) -> bool:
    return getattr(obj, "provisioning_status") != C.PENDING_DELETE


def _health_monitor(hm: m.HealthMonitor | None) -> spec.HealthMonitorSpec | None:
    if hm is None or not _live(hm):
        return None
    return spec.HealthMonitorSpec(
        id=hm.id, type=hm.type, delay=hm.delay, timeout=hm.timeout, rise=hm.rise_threshold,
        fall=hm.fall_threshold, http_method=hm.http_method, url_path=hm.url_path,
        expected_codes=hm.expected_codes, http_version=hm.http_version,
        domain_name=hm.domain_name, enabled=hm.enabled)


def _pool(pool: m.Pool | None) -> spec.PoolSpec | None:
    if pool is None or not _live(pool):
        return None
    members = tuple(
        spec.MemberSpec(id=mb.id, address=mb.address, port=mb.protocol_port, weight=mb.weight,
                        backup=mb.backup, enabled=mb.enabled, monitor_address=mb.monitor_address,
                        monitor_port=mb.monitor_port)
        for mb in sorted(pool.members, key=lambda x: (x.created_at, x.id)) if _live(mb))
    return spec.PoolSpec(id=pool.id, protocol=pool.protocol, lb_algorithm=pool.lb_algorithm,
                         enabled=pool.enabled, session_persistence=pool.session_persistence,
                         members=members, health_monitor=_health_monitor(pool.health_monitor))


def _l7policies(listener: m.Listener) -> tuple[spec.L7PolicySpec, ...]:
    # As Octavia: disabled policies, and policies without an enabled rule, do nothing.
    out = []
    for policy in sorted(listener.l7policies, key=lambda p: (p.position, p.created_at, p.id)):
        if not (_live(policy) and policy.enabled):
            continue
        rules = tuple(
            spec.L7RuleSpec(id=r.id, type=r.type, compare_type=r.compare_type, value=r.value,
                            key=r.key, invert=r.invert)
            for r in sorted(policy.rules, key=lambda r: (r.created_at, r.id))
            if _live(r) and r.enabled)
        if not rules:
            continue
        out.append(spec.L7PolicySpec(
            id=policy.id, action=policy.action, position=policy.position, rules=rules,
            redirect_pool=_pool(policy.redirect_pool), redirect_url=policy.redirect_url,
            redirect_prefix=policy.redirect_prefix,
            redirect_http_code=policy.redirect_http_code))
    return tuple(out)


def load_balancer_spec(session: Session, lb: m.LoadBalancer) -> spec.LoadBalancerSpec:
    listeners = tuple(
        spec.ListenerSpec(
            id=li.id, protocol=li.protocol, port=li.protocol_port,
            connection_limit=li.connection_limit, enabled=li.enabled,
            timeout_client_data=li.timeout_client_data or 0,
            timeout_member_connect=li.timeout_member_connect or 0,
            timeout_member_data=li.timeout_member_data or 0,
            timeout_tcp_inspect=li.timeout_tcp_inspect or 0,
            insert_headers=dict(li.insert_headers or {}),
            default_pool=_pool(li.default_pool),
            l7policies=_l7policies(li))
        for li in sorted(lb.listeners, key=lambda x: (x.created_at, x.id))
        if _live(li) and lb.enabled)
    return spec.LoadBalancerSpec(id=lb.id, project_id=lb.project_id,
                                 vip_address=lb.vip.ip_address or "",
                                 generation=lb.desired_generation, enabled=lb.enabled,
                                 listeners=listeners,
                                 additional_vips=tuple(av.ip_address for av in lb.additional_vips
                                                       if av.ip_address))
