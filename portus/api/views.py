"""ORM objects to Octavia v2 response bodies."""
from __future__ import annotations

import datetime as dt
from typing import Any

from portus.common import constants as C
from portus.db import models as m


def _ts(value: dt.datetime | None) -> str | None:
    # Naive (UTC) datetimes: strftime("%Y-%m-%dT%H:%M:%S")'s text, several times faster.
    return value.isoformat(timespec="seconds") if value else None


def _common(obj: Any) -> dict[str, Any]:
    return {
        "id": obj.id,
        "name": obj.name or "",
        "description": obj.description or "",
        "provisioning_status": obj.provisioning_status,
        "operating_status": obj.operating_status,
        "admin_state_up": obj.enabled,
        "project_id": obj.project_id,
        "tenant_id": obj.project_id,
        "created_at": _ts(obj.created_at),
        "updated_at": _ts(obj.updated_at),
        "tags": list(obj.tags or []),
    }


def loadbalancer(lb: m.LoadBalancer, listener_ids: list[str] | None = None,
                 pool_ids: list[str] | None = None) -> dict[str, Any]:
    """`listener_ids`, `pool_ids`: the children's ids when known (else lb's relations)."""
    vip = lb.vip
    body = _common(lb)
    body.update({
        "vip_address": vip.ip_address if vip else None,
        "vip_port_id": vip.port_id if vip else None,
        "vip_subnet_id": vip.subnet_id if vip else None,
        "vip_network_id": vip.network_id if vip else None,
        "vip_qos_policy_id": None,
        "vip_sg_ids": [],
        "vip_vnic_type": "normal",
        "additional_vips": [{"subnet_id": av.subnet_id, "ip_address": av.ip_address,
                             "port_id": av.port_id, "network_id": av.network_id}
                            for av in lb.additional_vips],
        "provider": lb.provider or "amphora",
        "flavor_id": lb.flavor_id,
        "availability_zone": lb.availability_zone,
        "listeners": [{"id": i} for i in (listener_ids if listener_ids is not None
                                           else [li.id for li in lb.listeners])],
        "pools": [{"id": i} for i in (pool_ids if pool_ids is not None
                                      else [p.id for p in lb.pools])],
    })
    if lb.provisioning_status == C.ERROR and lb.status_reason:
        body["status_reason"] = lb.status_reason
    return body


def listener(li: m.Listener) -> dict[str, Any]:
    body = _common(li)
    body.update({
        "protocol": li.protocol,
        "protocol_port": li.protocol_port,
        "connection_limit": li.connection_limit,
        "default_pool_id": li.default_pool_id,
        "loadbalancers": [{"id": li.load_balancer_id}],
        "insert_headers": dict(li.insert_headers or {}),
        "timeout_client_data": li.timeout_client_data,
        "timeout_member_connect": li.timeout_member_connect,
        "timeout_member_data": li.timeout_member_data,
        "timeout_tcp_inspect": li.timeout_tcp_inspect,
        "default_tls_container_ref": li.default_tls_container_ref,
        "sni_container_refs": list(li.sni_container_refs or []),
        "l7policies": [{"id": p.id} for p in sorted(li.l7policies, key=lambda p: p.position)],
        "client_authentication": li.client_authentication,
        "client_ca_tls_container_ref": li.client_ca_tls_container_ref,
        "client_crl_container_ref": li.client_crl_container_ref,
        "allowed_cidrs": li.allowed_cidrs,
        "tls_ciphers": li.tls_ciphers,
        "tls_versions": li.tls_versions,
        "alpn_protocols": li.alpn_protocols,
        "hsts_max_age": li.hsts_max_age,
        "hsts_include_subdomains": li.hsts_include_subdomains,
        "hsts_preload": li.hsts_preload,
    })
    return body


def listener_in_graph(li: m.Listener) -> dict[str, Any]:
    """A listener in the answer to a fully populated create, as Octavia's
    ListenerFullResponse: its L7 policies (and their rules) in full, no `loadbalancers`;
    its default pool stays a `default_pool_id` (the pool is in the load balancer's
    `pools`)."""
    body = listener(li)
    del body["loadbalancers"]
    body["l7policies"] = [l7policy_in_graph(p)
                          for p in sorted(li.l7policies, key=lambda p: p.position)]
    return body


_PERSISTENCE_KEYS = ("type", "cookie_name", "persistence_timeout", "persistence_granularity")


def session_persistence(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """Octavia shows all four keys, null where unset."""
    if not stored:
        return None
    return {key: stored.get(key) for key in _PERSISTENCE_KEYS}


def pool(p: m.Pool, listener_ids: list[str], member_ids: list[str]) -> dict[str, Any]:
    body = _common(p)
    hm = p.health_monitor
    body.update({
        "protocol": p.protocol,
        "lb_algorithm": p.lb_algorithm,
        "session_persistence": session_persistence(p.session_persistence),
        "loadbalancers": [{"id": p.load_balancer_id}],
        "listeners": [{"id": i} for i in listener_ids],
        "members": [{"id": i} for i in member_ids],
        "healthmonitor_id": hm.id if hm else None,
        "tls_enabled": p.tls_enabled,
        "tls_container_ref": p.tls_container_ref,
        "ca_tls_container_ref": p.ca_tls_container_ref,
        "crl_container_ref": p.crl_container_ref,
        "tls_ciphers": p.tls_ciphers,
        "tls_versions": p.tls_versions,
        "alpn_protocols": p.alpn_protocols,
    })
    return body


def pool_in_graph(p: m.Pool, listener_ids: list[str]) -> dict[str, Any]:
    """A pool in the answer to a fully populated create, as Octavia's PoolFullResponse:
    members in full, its health monitor in full as `healthmonitor` (absent without one),
    no `loadbalancers` and no `healthmonitor_id`."""
    body = pool(p, listener_ids, [])
    del body["loadbalancers"], body["healthmonitor_id"]
    body["members"] = [member(mb) for mb in p.members]
    if p.health_monitor is not None:
        body["healthmonitor"] = healthmonitor_in_graph(p.health_monitor)
    return body


def member(mb: m.Member) -> dict[str, Any]:
    body = _common(mb)
    body.update({
        "address": mb.address,
        "protocol_port": mb.protocol_port,
        "weight": mb.weight,
        "backup": mb.backup,
        "subnet_id": mb.subnet_id,
        "monitor_address": mb.monitor_address,
        "monitor_port": mb.monitor_port,
        "pool_id": mb.pool_id,
        "vnic_type": "normal",
    })
    return body


def healthmonitor(hm: m.HealthMonitor) -> dict[str, Any]:
    body = _common(hm)
    del body["description"]
    body.update({
        "operating_status": applied_operating_status(hm.enabled, hm.provisioning_status),
        "type": hm.type,
        "delay": hm.delay,
        "timeout": hm.timeout,
        "max_retries": hm.rise_threshold,
        "max_retries_down": hm.fall_threshold,
        "http_method": hm.http_method,
        "url_path": hm.url_path,
        "expected_codes": hm.expected_codes,
        "http_version": hm.http_version,
        "domain_name": hm.domain_name,
        "pools": [{"id": hm.pool_id}],
    })
    return body


def healthmonitor_in_graph(hm: m.HealthMonitor) -> dict[str, Any]:
    """As Octavia's HealthMonitorFullResponse: inside its pool, without `pools`."""
    body = healthmonitor(hm)
    del body["pools"]
    return body


def select_fields(body: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    if not fields:
        return body
    return {k: v for k, v in body.items() if k in fields}


def applied_operating_status(enabled: bool, provisioning_status: str) -> str:
    """Health monitors and L7 objects have no health of their own: as Octavia, ONLINE
    once applied (ACTIVE) and enabled, else OFFLINE."""
    return C.ONLINE if enabled and provisioning_status == C.ACTIVE else C.OFFLINE


def l7policy(p: m.L7Policy) -> dict[str, Any]:
    body = _common(p)
    body.update({
        "operating_status": applied_operating_status(p.enabled, p.provisioning_status),
        "listener_id": p.listener_id,
        "action": p.action,
        "position": p.position,
        "redirect_pool_id": p.redirect_pool_id,
        "redirect_url": p.redirect_url,
        "redirect_prefix": p.redirect_prefix,
        "redirect_http_code": p.redirect_http_code,
        "rules": [{"id": r.id} for r in sorted(p.rules, key=lambda r: (r.created_at, r.id))],
    })
    return body


def l7policy_in_graph(p: m.L7Policy) -> dict[str, Any]:
    """As Octavia's L7PolicyFullResponse: its rules in full."""
    body = l7policy(p)
    body["rules"] = [l7rule(r) for r in sorted(p.rules, key=lambda r: (r.created_at, r.id))]
    return body


def l7rule(r: m.L7Rule) -> dict[str, Any]:
    body = _common(r)
    del body["name"], body["description"]
    body.update({
        "operating_status": applied_operating_status(r.enabled, r.provisioning_status),
        "type": r.type,
        "compare_type": r.compare_type,
        "key": r.key,
        "value": r.value,
        "invert": r.invert,
    })
    return body
