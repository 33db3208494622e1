"""The desired state of one load balancer as the renderers see it.

Plain, frozen dataclasses built by the worker from the database. Renderers and
tests use these, never ORM objects. Every string here has passed API validation;
names and descriptions are deliberately absent so no free text reaches a config.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HealthMonitorSpec:
    id: str
    type: str  # HTTP | HTTPS | TCP | TLS-HELLO | UDP-CONNECT | SCTP
    delay: int  # seconds
    timeout: int  # seconds
    rise: int  # API max_retries
    fall: int  # API max_retries_down
    http_method: str | None = None
    url_path: str | None = None
    expected_codes: str | None = None  # "200", "200, 202" or "200-204"
    http_version: float | None = None
    domain_name: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class MemberSpec:
    id: str
    address: str
    port: int
    weight: int = 1
    backup: bool = False
    enabled: bool = True
    monitor_address: str | None = None
    monitor_port: int | None = None


@dataclass(frozen=True)
class TLSOptions:
    """Protocol options of one TLS side (a listener's bind or a pool's servers)."""
    ciphers: str | None = None  # OpenSSL cipher list (TLS 1.3 suites are named TLS_*)
    versions: tuple[str, ...] = ("TLSv1.2", "TLSv1.3")
    alpn: tuple[str, ...] = ()


@dataclass(frozen=True)
class PoolTLSSpec:
    """Re-encryption to the members. File names are in AmphoraRuntime.certs_dir."""
    options: TLSOptions
    client_cert: str | None = None  # PEM: certificate, chain and key
    ca: str | None = None  # verify the members against it (else: no verification)
    crl: str | None = None


@dataclass(frozen=True)
class ListenerTLSSpec:
    """TLS termination. File names are in AmphoraRuntime.certs_dir."""
    certificates: tuple[str, ...]  # the first is the default, the rest are chosen by SNI
    options: TLSOptions
    client_auth: str = "NONE"  # NONE | OPTIONAL | MANDATORY
    client_ca: str | None = None
    client_crl: str | None = None
    hsts_max_age: int | None = None
    hsts_include_subdomains: bool = False
    hsts_preload: bool = False


@dataclass(frozen=True)
class PoolSpec:
    id: str
    protocol: str  # HTTP | HTTPS | TCP | PROXY | PROXYV2 | UDP | SCTP
    lb_algorithm: str  # ROUND_ROBIN | LEAST_CONNECTIONS | SOURCE_IP
    enabled: bool = True
    # {"type": ..., "cookie_name": ...}; UDP/SCTP: persistence_timeout, _granularity
    session_persistence: dict | None = None
    members: tuple[MemberSpec, ...] = ()
    health_monitor: HealthMonitorSpec | None = None
    tls: PoolTLSSpec | None = None


@dataclass(frozen=True)
class L7RuleSpec:
    id: str
    type: str  # HOST_NAME | PATH | FILE_TYPE | HEADER | COOKIE | SSL_*
    compare_type: str  # REGEX | STARTS_WITH | ENDS_WITH | CONTAINS | EQUAL_TO
    value: str
    key: str | None = None
    invert: bool = False


@dataclass(frozen=True)
class L7PolicySpec:
    """An enabled policy with at least one enabled rule (the rules are ANDed)."""
    id: str
    action: str  # REJECT | REDIRECT_TO_URL | REDIRECT_TO_POOL | REDIRECT_PREFIX
    position: int
    rules: tuple[L7RuleSpec, ...]
    redirect_pool: PoolSpec | None = None
    redirect_url: str | None = None
    redirect_prefix: str | None = None
    redirect_http_code: int | None = None


@dataclass(frozen=True)
class ListenerSpec:
    id: str
    protocol: str  # HTTP | HTTPS | TCP (render.py) | UDP | SCTP (render_nft.py)
    port: int
    connection_limit: int = -1  # -1: unlimited (rendered as 50000)
    enabled: bool = True
    timeout_client_data: int = 50000  # ms
    timeout_member_connect: int = 5000
    timeout_member_data: int = 50000
    timeout_tcp_inspect: int = 0
    insert_headers: dict = field(default_factory=dict)
    default_pool: PoolSpec | None = None
    l7policies: tuple[L7PolicySpec, ...] = ()  # in position order
    tls: ListenerTLSSpec | None = None  # TERMINATED_HTTPS
    allowed_cidrs: tuple[str, ...] = ()  # empty: every source


@dataclass(frozen=True)
class LoadBalancerSpec:
    id: str
    project_id: str
    vip_address: str
    generation: int
    enabled: bool = True
    listeners: tuple[ListenerSpec, ...] = ()
    # More VIPs (other subnets) that every listener also binds.
    additional_vips: tuple[str, ...] = ()
    # TLS material the configuration names: (file name, PEM content).
    files: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class AmphoraRuntime:
    """Where things live inside one amphora (its own directory on the host)."""
    amphora_id: str
    base_dir: str  # holds the stats socket and pid files
    maxconn: int = 8000
    certs_dir: str = ""  # TLS files, on a memory file system
    # (amphora id, VRRP address) of every amphora of an ACTIVE_STANDBY pair, this one
    # included: their HAProxies share stick tables (persistence survives a failover).
    peers: tuple[tuple[str, str], ...] = ()
