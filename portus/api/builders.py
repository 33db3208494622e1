"""Turn validated request bodies into new rows, with the checks that need the database.

Shared by the single-object endpoints and the fully populated load balancer create,
so both apply exactly the same rules.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from portus.api import errors, provider_support, schemas as s, tls_checks
from portus.common import constants as C
from portus.common.config import Config
from portus.controller.flavors import flavor_metadata
from portus.db import models as m
from portus.drivers.certificates.store import CertificateStore


def listener_pool_compatible(listener_protocol: str, pool_protocol: str) -> bool:
    return pool_protocol in C.LISTENER_POOL_PROTOCOLS.get(listener_protocol, ())


def check_listener_pool(listener_protocol: str, pool_protocol: str) -> None:
    if listener_protocol == "PROMETHEUS":  # serves haproxy's metrics, never a pool
        raise errors.ListenerNoChildren(listener_protocol)
    if not listener_pool_compatible(listener_protocol, pool_protocol):
        raise errors.BadRequest(
            f"The pool protocol '{pool_protocol}' is invalid while the listener protocol is "
            f"'{listener_protocol}'.")


def check_pool_health_monitor(cfg: Config, pool_protocol: str, hm_type: str,
                              delay: int | None) -> None:
    """Octavia's pool -> health monitor matrix and the UDP-CONNECT minimum delay."""
    if pool_protocol in C.L4_PROTOCOLS:
        if hm_type not in C.L4_POOL_HM_TYPES:
            raise errors.ValidationFailure(
                f"The associated pool protocol is {pool_protocol}, so only a "
                f"{'/'.join(C.L4_POOL_HM_TYPES)} health monitor is supported.")
    elif hm_type in C.L4_ONLY_HM_TYPES:
        raise errors.ValidationFailure(
            f"The {hm_type} type is only supported for pools of type "
            f"{'/'.join(C.L4_PROTOCOLS)}.")
    minimum = cfg.api.udp_connect_min_interval_health_monitor
    if hm_type == "UDP-CONNECT" and delay is not None and 0 <= minimum and delay < minimum:
        raise errors.ValidationFailure(
            f"The request delay value {delay} should be larger than {minimum} for "
            f"UDP-CONNECT health monitor type.")


def check_session_persistence(protocol: str, sp: s.SessionPersistence | None) -> None:
    """UDP/SCTP pools take only SOURCE_IP, with a timeout and a granularity; others neither."""
    if sp is None:
        return
    if protocol in C.L4_PROTOCOLS:
        if sp.type != "SOURCE_IP":
            raise errors.ValidationFailure(
                f"Session persistence of type {sp.type} is not supported for "
                f"{'/'.join(C.L4_PROTOCOLS)} protocol pools.")
    elif sp.persistence_timeout is not None or sp.persistence_granularity is not None:
        raise errors.ValidationFailure(
            "persistence_timeout and persistence_granularity is only for UDP and SCTP "
            "protocol pools.")


# Listener fields that carry TLS material (present once listener TLS is in the schema).
def check_l4_member_family(pool: m.Pool, address: str) -> None:
    """The nftables data plane NATs within one IP family: a UDP/SCTP member must share a
    VIP's (Octavia's amphora provider refuses the same with 501)."""
    if pool.protocol not in C.L4_PROTOCOLS:
        return
    lb = pool.load_balancer
    vips = [lb.vip.ip_address] + [av.ip_address for av in lb.additional_vips]
    families = {ipaddress.ip_address(v).version for v in vips if v}
    if families and ipaddress.ip_address(address).version not in families:
        raise errors.APIError(
            f"Provider 'amphora' does not support a requested option: the member address "
            f"{address} is not of the IP version of a VIP, which {pool.protocol} pools need.",
            501)


def check_health_monitor(body: s._HMFields | s.HealthMonitorPUT, hm_type: str) -> None:
    if hm_type not in C.HTTP_HM_TYPES:
        # Only these three (Octavia): http_version and domain_name are stored on any type.
        for field in ("http_method", "url_path", "expected_codes"):
            if getattr(body, field, None) is not None:
                raise errors.InvalidField(field, getattr(body, field),
                                          f"{field} is only allowed for HTTP and HTTPS health monitors.")
    # A PUT is checked on the merged result (healthmonitors.update_healthmonitor).
    if (not isinstance(body, s.HealthMonitorPUT) and body.domain_name
            and (body.http_version or 1.0) < 1.1):
        raise errors.InvalidField("domain_name", body.domain_name,
                                  "http_version 1.1 is required when domain_name is set.")


RESERVED_MEMBER_ADDRESSES = ("169.254.169.254",)


def check_member_subnet(cfg: Config, subnet_id: str | None, address: str) -> None:
    if address in RESERVED_MEMBER_ADDRESSES:
        raise errors.InvalidField("address", address,
                                  "The address is reserved and cannot be a member.")
    if subnet_id is None:
        return
    subnet = cfg.subnet(subnet_id)
    if subnet is None:
        raise errors.InvalidField("subnet_id", subnet_id, "Subnet not found.")
    if ipaddress.ip_address(address) not in subnet.network:
        raise errors.InvalidField("address", address, f"Address is not in subnet {subnet_id}.")


def _refuse_sriov_member(cfg: Config, lb: m.LoadBalancer) -> None:
    session = object_session(lb)
    if session is None or not flavor_metadata(session, lb).get("allow_member_sriov"):
        raise errors.InvalidField("request_sriov", True,
                                  "Member SR-IOV is not enabled by the load balancer's flavor.")
    # The flavor allows it, but a veth into a Linux bridge has no virtual function.
    raise errors.APIError("Provider 'amphora' does not support a requested option: SR-IOV "
                          "member ports are not available on this deployment.", 501)


def _named(body: Any, project_id: str) -> dict[str, Any]:
    return {
        "name": getattr(body, "name", None),
        "description": getattr(body, "description", None),
        "enabled": body.admin_state_up,
        "project_id": project_id,
        "tag_rows": [m.Tag(tag=t) for t in body.tags or []],  # set: no lazy load after flush
        "provisioning_status": C.PENDING_CREATE,
        "operating_status": C.OFFLINE,
    }


def new_health_monitor(cfg: Config, body: s.HealthMonitorSingle, pool: m.Pool,
                       project_id: str) -> m.HealthMonitor:
    check_pool_health_monitor(cfg, pool.protocol, body.type, body.delay)
    if body.type == "PING" and not cfg.api.allow_ping_health_monitors:
        raise errors.DisabledOption("type", body.type)
    check_health_monitor(body, body.type)
    is_http = body.type in C.HTTP_HM_TYPES
    hm = m.HealthMonitor(
        **_named(body, project_id), pool_id=pool.id, type=body.type, delay=body.delay,
        timeout=body.timeout, rise_threshold=body.max_retries,
        fall_threshold=body.max_retries_down or 3,
        http_method=(body.http_method or "GET") if is_http else None,
        url_path=(body.url_path or "/") if is_http else None,
        expected_codes=(body.expected_codes or "200") if is_http else None,
        http_version=body.http_version, domain_name=body.domain_name)
    hm.description = None
    hm.pool = pool
    return hm


def new_member(cfg: Config, body: s.MemberSingle, pool: m.Pool, project_id: str,
               has_monitor: bool) -> m.Member:
    check_member_subnet(cfg, body.subnet_id, body.address)
    if body.request_sriov:
        _refuse_sriov_member(cfg, pool.load_balancer)
    check_l4_member_family(pool, body.address)
    named = _named(body, project_id)
    named["operating_status"] = C.OFFLINE if has_monitor else C.NO_MONITOR
    member = m.Member(**named, address=body.address, protocol_port=body.protocol_port,
                      weight=1 if body.weight is None else body.weight, backup=body.backup,
                      subnet_id=body.subnet_id, monitor_address=body.monitor_address,
                      monitor_port=body.monitor_port)
    member.pool = pool
    return member


def new_pool(cfg: Config, session: Session, body: s.PoolSingle, lb: m.LoadBalancer,
             project_id: str, certs: CertificateStore, path: str = "pool") -> m.Pool:
    for field in ("protocol", "lb_algorithm"):
        if getattr(body, field) is None:
            raise errors.InvalidField(f"{path}.{field}", None, "Mandatory field missing.")
    check_pool_provider(cfg, lb, str(body.protocol), str(body.lb_algorithm))
    check_session_persistence(str(body.protocol), body.session_persistence)
    pool = m.Pool(**_named(body, project_id), protocol=body.protocol,
                  lb_algorithm=body.lb_algorithm,
                  session_persistence=(body.session_persistence.model_dump(exclude_none=True)
                                       if body.session_persistence else None),
                  tls_enabled=body.tls_enabled, **{f: getattr(body, f) for f in POOL_TLS_FIELDS})
    pool.id = m.new_id()
    pool.load_balancer = lb
    session.add(pool)
    tls_checks.pool_defaults(cfg, pool)
    tls_checks.check_pool(cfg, session, certs, pool, f"{path}.")
    if body.healthmonitor is not None:
        session.add(new_health_monitor(cfg, body.healthmonitor, pool, project_id))
    seen: set[tuple[str, int]] = set()
    for member_body in body.members or []:
        key = (member_body.address, member_body.protocol_port)
        if key in seen:
            raise errors.Conflict(
                f"Another member on this pool is already using ip {key[0]} on protocol_port {key[1]}")
        seen.add(key)
        session.add(new_member(cfg, member_body, pool, project_id, body.healthmonitor is not None))
    return pool


def check_pool_provider(cfg: Config, lb: m.LoadBalancer, protocol: str, algorithm: str) -> None:
    """The load balancer's provider may refuse an option (the amphora: SOURCE_IP_PORT, 501)."""
    drv = provider_support.lb_driver(cfg, lb)
    provider_support.call(drv.check_pool, protocol, algorithm)


def check_listener_port_free(session: Session, lb_id: str, protocol: str, port: int) -> None:
    taken = session.execute(select(m.Listener.id).where(
        m.Listener.load_balancer_id == lb_id, m.Listener.protocol_port == port,
        m.Listener.l4_family == C.l4_family(protocol))).first()
    if taken:
        raise errors.Conflict(f"Another Listener on this Load Balancer is already using "
                              f"protocol_port {port}")


LISTENER_TLS_FIELDS = ("default_tls_container_ref", "client_ca_tls_container_ref",
                       "client_crl_container_ref", "tls_ciphers", "tls_versions",
                       "alpn_protocols", "hsts_max_age", "allowed_cidrs")
POOL_TLS_FIELDS = ("tls_container_ref", "ca_tls_container_ref", "crl_container_ref",
                   "tls_ciphers", "tls_versions", "alpn_protocols")


def new_listener(cfg: Config, session: Session, body: s._ListenerFields, lb: m.LoadBalancer,
                 project_id: str, certs: CertificateStore, path: str = "") -> m.Listener:
    if body.protocol == "PROMETHEUS" and not cfg.api.allow_prometheus_listeners:
        raise errors.DisabledOption("protocol", body.protocol)
    amp = cfg.amphora
    listener = m.Listener(
        **_named(body, project_id), protocol=body.protocol, protocol_port=body.protocol_port,
        l4_family=C.l4_family(body.protocol),
        connection_limit=-1 if body.connection_limit is None else body.connection_limit,
        timeout_client_data=_or(body.timeout_client_data, amp.timeout_client_data),
        timeout_member_connect=_or(body.timeout_member_connect, amp.timeout_member_connect),
        timeout_member_data=_or(body.timeout_member_data, amp.timeout_member_data),
        timeout_tcp_inspect=_or(body.timeout_tcp_inspect, amp.timeout_tcp_inspect),
        insert_headers=dict(body.insert_headers or {}),
        sni_container_refs=list(body.sni_container_refs or []),
        client_authentication=body.client_authentication or "NONE",
        hsts_include_subdomains=bool(body.hsts_include_subdomains),
        hsts_preload=bool(body.hsts_preload),
        **{f: getattr(body, f) for f in LISTENER_TLS_FIELDS})
    listener.id = m.new_id()
    listener.load_balancer = lb
    session.add(listener)
    tls_checks.listener_defaults(cfg, listener)
    tls_checks.check_listener(cfg, session, certs, listener, vip_families(cfg, lb), path)
    return listener


def vip_families(cfg: Config, lb: m.LoadBalancer) -> set[int]:
    """IP versions of the load balancer's VIP subnets (allowed_cidrs must match one)."""
    ids = [lb.vip.subnet_id, *(av.subnet_id for av in lb.additional_vips)]
    return {subnet.network.version for subnet in map(cfg.subnet, ids) if subnet is not None}


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def attach_default_pool(listener: m.Listener, pool: m.Pool) -> None:
    check_listener_pool(listener.protocol, pool.protocol)
    listener.default_pool_id = pool.id
