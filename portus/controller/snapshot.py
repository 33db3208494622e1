"""Read a load balancer's desired state from the database into render specs."""
from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from portus.amphora import spec
from portus.common import constants as C
from portus.db import models as m
from portus.drivers.certificates.store import CertificateStore


class TLSFiles:
    """Collects the TLS material of one load balancer as content-addressed PEM files,
    so a file name changes exactly when its content does."""

    def __init__(self, session: Session, store: CertificateStore | None, project: str) -> None:
        self.session, self.store, self.project = session, store, project
        self.files: dict[str, bytes] = {}

    def _add(self, content: bytes) -> str:
        name = hashlib.sha256(content).hexdigest()[:40] + ".pem"
        self.files[name] = content
        return name

    def _store(self) -> CertificateStore:
        if self.store is None:
            raise ValueError("this load balancer uses TLS but no certificate store is configured")
        return self.store

    def certificate(self, ref: str) -> str:
        return self._add(self._store().certificate(self.session, ref, self.project).pem)

    def ca(self, ref: str) -> str:
        return self._add(self._store().ca(self.session, ref, self.project)[0])

    def crl(self, ref: str, ca_ref: str) -> str:
        return self._add(self._store().crl(self.session, ref, ca_ref, self.project))


def _options(ciphers: str | None, versions: list[str] | None,
             alpn: list[str] | None) -> spec.TLSOptions:
    return spec.TLSOptions(ciphers=ciphers, versions=tuple(versions or ("TLSv1.2", "TLSv1.3")),
                           alpn=tuple(alpn or ()))


def _pool_tls(pool: m.Pool, tls: TLSFiles) -> spec.PoolTLSSpec | None:
    if not pool.tls_enabled:
        return None
    ca = pool.ca_tls_container_ref
    return spec.PoolTLSSpec(
        options=_options(pool.tls_ciphers, pool.tls_versions, pool.alpn_protocols),
        client_cert=tls.certificate(pool.tls_container_ref) if pool.tls_container_ref else None,
        ca=tls.ca(ca) if ca else None,
        crl=tls.crl(pool.crl_container_ref, ca) if ca and pool.crl_container_ref else None)


def _listener_tls(li: m.Listener, tls: TLSFiles) -> spec.ListenerTLSSpec | None:
    refs = [r for r in [li.default_tls_container_ref, *(li.sni_container_refs or [])] if r]
    # TERMINATED_HTTPS always has a certificate; PROMETHEUS may have one.
    if li.protocol not in ("TERMINATED_HTTPS", "PROMETHEUS") or not refs:
        return None
    ca = li.client_ca_tls_container_ref
    return spec.ListenerTLSSpec(
        certificates=tuple(dict.fromkeys(tls.certificate(r) for r in refs)),
        options=_options(li.tls_ciphers, li.tls_versions, li.alpn_protocols),
        client_auth=li.client_authentication if ca else "NONE",
        client_ca=tls.ca(ca) if ca else None,
        client_crl=tls.crl(li.client_crl_container_ref, ca)
        if ca and li.client_crl_container_ref else None,
        hsts_max_age=li.hsts_max_age, hsts_include_subdomains=li.hsts_include_subdomains,
        hsts_preload=li.hsts_preload)


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


def _pool(pool: m.Pool | None, tls: TLSFiles) -> spec.PoolSpec | None:
    if pool is None or not _live(pool):
        return None
    members = tuple(
        spec.MemberSpec(id=mb.id, address=mb.address, port=mb.protocol_port, weight=mb.weight,
                        backup=mb.backup, enabled=mb.enabled, monitor_address=mb.monitor_address,
                        monitor_port=mb.monitor_port)
        for mb in sorted(pool.members, key=lambda x: (x.created_at, x.id)) if _live(mb))
    return spec.PoolSpec(id=pool.id, protocol=pool.protocol, lb_algorithm=pool.lb_algorithm,
                         enabled=pool.enabled, session_persistence=pool.session_persistence,
                         members=members, health_monitor=_health_monitor(pool.health_monitor),
                         tls=_pool_tls(pool, tls))


def _l7policies(listener: m.Listener, tls: TLSFiles) -> tuple[spec.L7PolicySpec, ...]:
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
            redirect_pool=_pool(policy.redirect_pool, tls), redirect_url=policy.redirect_url,
            redirect_prefix=policy.redirect_prefix,
            redirect_http_code=policy.redirect_http_code))
    return tuple(out)


def load_balancer_spec(session: Session, lb: m.LoadBalancer,
                       store: CertificateStore | None = None) -> spec.LoadBalancerSpec:
    tls = TLSFiles(session, store, lb.project_id)
    listeners = tuple(
        spec.ListenerSpec(
            id=li.id, protocol=li.protocol, port=li.protocol_port,
            connection_limit=li.connection_limit, enabled=li.enabled,
            timeout_client_data=li.timeout_client_data or 0,
            timeout_member_connect=li.timeout_member_connect or 0,
            timeout_member_data=li.timeout_member_data or 0,
            timeout_tcp_inspect=li.timeout_tcp_inspect or 0,
            insert_headers=dict(li.insert_headers or {}),
            default_pool=_pool(li.default_pool, tls),
            l7policies=_l7policies(li, tls),
            tls=_listener_tls(li, tls),
            allowed_cidrs=tuple(li.allowed_cidrs or ()))
        for li in sorted(lb.listeners, key=lambda x: (x.created_at, x.id))
        if _live(li) and lb.enabled)
    return spec.LoadBalancerSpec(id=lb.id, project_id=lb.project_id,
                                 vip_address=lb.vip.ip_address or "",
                                 generation=lb.desired_generation, enabled=lb.enabled,
                                 listeners=listeners,
                                 additional_vips=tuple(av.ip_address for av in lb.additional_vips
                                                       if av.ip_address),
                                 files=tuple(sorted(tls.files.items())))
