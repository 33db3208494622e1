"""The TLS rules of listeners and pools (Octavia's), checked on the final state.

Handlers copy the request onto the row first (create or update alike), then call
``check_listener`` / ``check_pool``: a 400 rolls the whole request back, so
nothing half-written remains. Every secret ref is read from the certificate store
as the object's project, as Octavia reads Barbican as the user.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy.orm import Session

from portus.api import errors
from portus.common import constants as C
from portus.common.config import Config
from portus.db import models as m
from portus.drivers.certificates.store import CertificateStore, SecretUnavailable

# Listener fields that only mean something on a TLS-terminating listener. tls_ciphers,
# tls_versions and alpn_protocols are not among them: Octavia accepts and stores them
# on any listener (they do nothing without TLS), checking only their values.
_TERMINATION_ONLY = ("default_tls_container_ref", "client_ca_tls_container_ref",
                     "client_crl_container_ref", "hsts_max_age")


def terminates_tls(listener: m.Listener) -> bool:
    """TERMINATED_HTTPS always; PROMETHEUS when it is given a certificate (Octavia)."""
    return listener.protocol == "TERMINATED_HTTPS" or (
        listener.protocol == "PROMETHEUS"
        and bool(listener.default_tls_container_ref or listener.sni_container_refs))


def listener_defaults(cfg: Config, listener: m.Listener) -> None:
    """Fill the TLS defaults of a TLS-terminating listener (and reset them on a PUT null)."""
    if terminates_tls(listener):
        _fill_tls(listener, cfg.api.default_listener_ciphers,
                  cfg.api.default_listener_tls_versions, cfg.api.default_listener_alpn_protocols)


def pool_defaults(cfg: Config, pool: m.Pool) -> None:
    if pool.tls_enabled:
        _fill_tls(pool, cfg.api.default_pool_ciphers, cfg.api.default_pool_tls_versions,
                  cfg.api.default_pool_alpn_protocols)


def _fill_tls(obj: m.Listener | m.Pool, ciphers: str, versions: list[str],
              alpn: list[str]) -> None:
    if obj.tls_ciphers is None:
        obj.tls_ciphers = ciphers
    if obj.tls_versions is None:
        obj.tls_versions = list(versions)
    if obj.alpn_protocols is None:
        obj.alpn_protocols = list(alpn)


def check_listener(cfg: Config, session: Session, store: CertificateStore,
                   listener: m.Listener, vip_families: set[int], path: str = "") -> None:
    terminated = terminates_tls(listener)
    if listener.protocol == "TERMINATED_HTTPS" and not cfg.api.allow_tls_terminated_listeners:
        raise errors.InvalidField(f"{path}protocol", listener.protocol,
                                  "The selected protocol is not allowed in this deployment: "
                                  "TERMINATED_HTTPS")
    if not terminated:
        used = [f for f in _TERMINATION_ONLY if getattr(listener, f) is not None]
        used += [f for f in ("sni_container_refs",) if getattr(listener, f)]
        used += [f for f in ("hsts_include_subdomains", "hsts_preload") if getattr(listener, f)]
        if listener.client_authentication != "NONE":
            used.append("client_authentication")
        if used:
            raise errors.InvalidField(
                f"{path}{used[0]}", getattr(listener, used[0]),
                f"{used[0]} is only allowed on TERMINATED_HTTPS listeners (and PROMETHEUS "
                f"listeners with a certificate).")
        check_tls_options(cfg, listener.tls_ciphers, listener.tls_versions, path)
    else:
        _check_termination(cfg, session, store, listener, path)
    _check_insert_headers(listener, path)
    _check_cidrs(listener.allowed_cidrs, vip_families, path)


def _check_termination(cfg: Config, session: Session, store: CertificateStore,
                       listener: m.Listener, path: str) -> None:
    if not listener.default_tls_container_ref and not listener.sni_container_refs:
        raise errors.InvalidField(
            f"{path}default_tls_container_ref", None,
            "An SNI or default certificate container reference must be provided for "
            "TERMINATED_HTTPS listeners.")
    project = listener.project_id
    refs = [("default_tls_container_ref", listener.default_tls_container_ref)]
    refs += [("sni_container_refs", r) for r in listener.sni_container_refs or []]
    for field, ref in refs:
        if ref:
            _read(field, ref, path, lambda r=ref: store.certificate(session, r, project))
    if listener.client_authentication != "NONE" and not listener.client_ca_tls_container_ref:
        raise errors.InvalidField(
            f"{path}client_authentication", listener.client_authentication,
            "A client authentication setting other than NONE requires "
            "client_ca_tls_container_ref.")
    _check_ca_crl(session, store, project, listener.client_ca_tls_container_ref,
                  listener.client_crl_container_ref, ("client_ca_tls_container_ref",
                                                      "client_crl_container_ref"), path)
    check_tls_options(cfg, listener.tls_ciphers, listener.tls_versions, path)
    if listener.hsts_max_age is None:
        for flag in ("hsts_include_subdomains", "hsts_preload"):
            if getattr(listener, flag):
                raise errors.InvalidField(f"{path}{flag}", True,
                                          f"{flag} requires hsts_max_age.")


def check_pool(cfg: Config, session: Session, store: CertificateStore, pool: m.Pool,
               path: str = "") -> None:
    tls_fields = ("tls_container_ref", "ca_tls_container_ref", "crl_container_ref",
                  "tls_ciphers", "tls_versions", "alpn_protocols")
    if C.l4_family(pool.protocol) != "TCP":
        used = [f for f in tls_fields if getattr(pool, f) is not None]
        if pool.tls_enabled or used:
            field = "tls_enabled" if pool.tls_enabled else used[0]
            raise errors.InvalidField(f"{path}{field}", getattr(pool, field),
                                      f"TLS is not supported on {pool.protocol} pools.")
        return
    project = pool.project_id
    if pool.tls_container_ref:
        _read("tls_container_ref", pool.tls_container_ref, path,
              lambda: store.certificate(session, str(pool.tls_container_ref), project))
    _check_ca_crl(session, store, project, pool.ca_tls_container_ref, pool.crl_container_ref,
                  ("ca_tls_container_ref", "crl_container_ref"), path)
    check_tls_options(cfg, pool.tls_ciphers, pool.tls_versions, path)


def _check_ca_crl(session: Session, store: CertificateStore, project: str | None,
                  ca_ref: str | None, crl_ref: str | None, names: tuple[str, str],
                  path: str) -> None:
    if ca_ref:
        _read(names[0], ca_ref, path, lambda: store.ca(session, ca_ref, project))
    if crl_ref:
        if not ca_ref:
            raise errors.InvalidField(f"{path}{names[1]}", crl_ref,
                                      f"A CRL requires {names[0]}.")
        _read(names[1], crl_ref, path, lambda: store.crl(session, crl_ref, ca_ref, project))


def _read(field: str, ref: str, path: str, load: Any) -> None:
    try:
        load()
    except SecretUnavailable as exc:
        raise errors.InvalidField(f"{path}{field}", ref,
                                  f"Could not retrieve certificate: {exc}") from None


def check_tls_options(cfg: Config, ciphers: str | None, versions: list[str] | None,
                      path: str) -> None:
    prohibited = {c for c in cfg.api.tls_cipher_prohibit_list.split(":") if c}
    bad = [c for c in (ciphers or "").split(":") if c in prohibited]
    if bad:
        raise errors.InvalidField(f"{path}tls_ciphers", ciphers,
                                  f"The following ciphers have been prohibited by an "
                                  f"administrator: {', '.join(bad)}")
    minimum = cfg.api.minimum_tls_version
    if minimum and versions:
        floor = C.TLS_VERSIONS.index(minimum)
        low = [v for v in versions if C.TLS_VERSIONS.index(v) < floor]
        if low:
            raise errors.InvalidField(f"{path}tls_versions", versions,
                                      f"TLS versions {', '.join(low)} are below the minimum "
                                      f"{minimum} set by an administrator.")


def _check_insert_headers(listener: m.Listener, path: str) -> None:
    headers = listener.insert_headers or {}
    if headers and listener.protocol not in C.HTTP_LISTENERS:
        raise errors.InvalidField(f"{path}insert_headers", headers,
                                  "insert_headers are only allowed on HTTP and "
                                  "TERMINATED_HTTPS listeners.")
    ssl = [h for h in headers if h in C.SSL_INSERT_HEADERS]
    if ssl and listener.protocol != "TERMINATED_HTTPS":
        raise errors.InvalidField(f"{path}insert_headers", headers,
                                  f"{ssl[0]} is only allowed on TERMINATED_HTTPS listeners.")


def _check_cidrs(cidrs: list[str] | None, families: set[int], path: str) -> None:
    for cidr in cidrs or []:
        if ipaddress.ip_network(cidr).version not in families:
            raise errors.InvalidField(f"{path}allowed_cidrs", cidr,
                                      "The CIDR's IP version does not match any VIP address "
                                      "of the load balancer.")
