"""Configuration: embedded defaults, one TOML file, environment overrides.

Precedence (highest first): command-line flags (applied by the CLI), environment
variables ``PORTUS_<SECTION>__<OPTION>`` (``PORTUS_DATA_DIR`` for the top-level
``data_dir``), the TOML file, the defaults below. Every option is documented in
docs/config.md; keep the two in step.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portus.common.constants import ALPN_PROTOCOLS, TLS_VERSIONS

# Stable ids for subnets declared without one, so `vip_subnet_id` survives restarts.
_SUBNET_NS = uuid.UUID("6f1d3c52-1f0e-4c4b-9b3e-7c2d0a9e5a11")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the option."""


# Amphora resource limits: a CFS quota below 1 ms per 100 ms period starves it.
MIN_VCPUS = 0.01
MIN_RAM_MB = 64


def _default_providers() -> dict[str, str]:
    return {"amphora": "The Octavia Amphora driver.",
            "octavia": "Deprecated alias of the Octavia Amphora driver.",
            "noop": "A driver that builds nothing: load balancers go ACTIVE at once "
                    "(tests and benchmarks)."}


# OWASP "Suite B" recommendation, Octavia's default for listeners and pools.
OWASP_SUITE_B = ("TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:"
                 "DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:"
                 "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                 "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")


def _default_tls_versions() -> list[str]:
    return ["TLSv1.2", "TLSv1.3"]


def _default_alpn() -> list[str]:
    return ["h2", "http/1.1", "http/1.0"]


@dataclass
class ApiConfig:
    bind_host: str = "127.0.0.1"
    bind_port: int = 9876
    auth_strategy: str = "noauth"  # noauth | token | keystone
    policy_file: str = ""  # oslo.policy YAML/JSON overriding the built-in rules; empty: none
    token_file: str = ""  # TOML [[token]] entries (hashes only) besides the api_token table
    pagination_max_limit: int = 1000
    api_base_uri: str = ""
    # Provider name -> description, as Octavia's enabled_provider_drivers; "octavia" is
    # Octavia's alias of "amphora", kept so clients that name it keep working.
    enabled_provider_drivers: dict[str, str] = field(default_factory=_default_providers)
    default_provider_driver: str = "amphora"
    # true: Octavia's 409 while the load balancer is PENDING_*; false: a change to a
    # converging tree is recorded and folded into the next convergence.
    strict_pending_lock: bool = False
    max_request_body_size: int = 1048576  # bytes; larger bodies get 413
    cors_allowed_origins: list[str] = field(default_factory=list)  # empty: CORS off
    # TLS termination (TERMINATED_HTTPS listeners) and re-encryption (pools), as Octavia.
    allow_tls_terminated_listeners: bool = True
    default_listener_ciphers: str = OWASP_SUITE_B
    default_pool_ciphers: str = OWASP_SUITE_B
    default_listener_tls_versions: list[str] = field(default_factory=_default_tls_versions)
    default_pool_tls_versions: list[str] = field(default_factory=_default_tls_versions)
    default_listener_alpn_protocols: list[str] = field(default_factory=_default_alpn)
    default_pool_alpn_protocols: list[str] = field(default_factory=_default_alpn)
    minimum_tls_version: str = ""  # empty: no minimum
    tls_cipher_prohibit_list: str = ""  # colon-separated cipher names refused in tls_ciphers
    # Smallest delay (s) of a UDP-CONNECT health monitor; negative: no minimum (Octavia's).
    udp_connect_min_interval_health_monitor: int = 3
    # Octavia's [api_settings] switches: false refuses new objects of that kind (400).
    allow_ping_health_monitors: bool = True
    allow_prometheus_listeners: bool = True


@dataclass
class DatabaseConfig:
    # Empty means SQLite at <data_dir>/portus.db.
    connection: str = ""


@dataclass
class ControllerConfig:
    host_id: str = ""  # empty: the host name
    workers: int = 4
    sweep_interval: float = 1.0
    lease_ttl: float = 15.0
    amp_boot_timeout: float = 20.0
    converge_attempts: int = 3
    retry_backoff: float = 1.0
    # Topology of a load balancer whose flavor does not set loadbalancer_topology.
    loadbalancer_topology: str = "SINGLE"  # SINGLE | ACTIVE_STANDBY


@dataclass
class HealthManagerConfig:
    bind_ip: str = ""  # empty: the management network's gateway address
    bind_port: int = 5555
    heartbeat_interval: float = 2.0
    heartbeat_timeout: float = 10.0
    heartbeat_key: str = ""  # empty: generated at first start, kept in <data_dir>
    replay_window: float = 30.0
    failover_enabled: bool = True


@dataclass
class HouseKeepingConfig:
    interval: float = 30.0
    deleted_expiry_age: float = 604800.0
    orphan_cleanup: bool = True
    # Rotate amphora agent certificates expiring within this many seconds (14 days).
    cert_expiry_buffer: float = 1209600.0


@dataclass
class QuotasConfig:
    # -1: unlimited (Octavia's defaults).
    default_load_balancer_quota: int = -1
    default_listener_quota: int = -1
    default_member_quota: int = -1
    default_pool_quota: int = -1
    default_health_monitor_quota: int = -1
    default_l7policy_quota: int = -1
    default_l7rule_quota: int = -1


@dataclass
class ComputeFlavorConfig:
    """Resources of an amphora built for a flavor whose compute_flavor names this entry."""
    maxconn: int = 8000
    vcpus: float = 0.0  # CPUs the amphora may use (a CFS quota); 0: no limit
    ram_mb: int = 0  # memory limit of the amphora's processes; 0: no limit


@dataclass
class AmphoraConfig(ComputeFlavorConfig):
    """[amphora]; its ComputeFlavorConfig fields are the resources of amphorae
    whose flavor names no compute_flavor."""
    agent_port: int = 9443
    haproxy_bin: str = "haproxy"
    # Amphora "images": a flavor's amp_image_tag picks the HAProxy executable its
    # amphorae run (tag -> path); without a tag, haproxy_bin.
    images: dict[str, str] = field(default_factory=dict)
    # Amphorae keep TLS keys here, one directory each: a memory file system, so a
    # private key never reaches a disk.
    secrets_dir: str = "/dev/shm/portus"
    # Control group of each amphora: <cgroup_parent>/<namespace>, in the host's
    # CPU and memory hierarchies.
    cgroup_parent: str = "portus"
    namespace_prefix: str = "portus-amp-"
    interface_prefix: str = "pa"
    timeout_client_data: int = 50000
    timeout_member_connect: int = 5000
    timeout_member_data: int = 50000
    timeout_tcp_inspect: int = 0
    request_timeout: float = 10.0
    # ACTIVE_STANDBY: keepalived (VRRPv3, unicast) in each amphora of a pair.
    keepalived_bin: str = "keepalived"
    vrrp_advert_int: float = 0.1  # seconds; the standby takes over after ~3.5 adverts
    vrrp_check_interval: int = 1  # seconds between checks that HAProxy runs (keepalived: >= 1)
    # Names a flavor profile's compute_flavor may use ([amphora.compute_flavors.<name>]).
    compute_flavors: dict[str, ComputeFlavorConfig] = field(default_factory=dict)


@dataclass
class KeystoneConfig:
    """keystonemiddleware auth_token options, used when api.auth_strategy = "keystone"."""
    www_authenticate_uri: str = ""
    auth_url: str = ""
    auth_type: str = "password"
    username: str = ""
    password: str = ""
    project_name: str = "service"
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    region_name: str = ""
    interface: str = "internal"
    service_token_roles_required: bool = True
    cafile: str = ""
    insecure: bool = False
    memcached_servers: str = ""  # comma-separated host:port; empty: in-process cache
    token_cache_time: int = 300
    http_connect_timeout: int = 0  # 0: keystonemiddleware's default


@dataclass
class CertificatesConfig:
    ca_dir: str = ""  # empty: <data_dir>/ca
    validity_days: int = 30
    # Fernet key that encrypts stored TLS secrets; every API and controller host needs it.
    secret_key_file: str = ""  # empty: <data_dir>/secrets.key


@dataclass
class SubnetConfig:
    name: str
    cidr: str
    id: str = ""
    network_id: str = ""
    gateway: str = ""  # empty: first host address; it is put on the bridge
    allocation_start: str = ""
    allocation_end: str = ""
    bridge: str = ""
    uplink: str = ""

    def finish(self, index: int) -> None:
        try:
            net = ipaddress.ip_network(self.cidr, strict=True)
        except ValueError as exc:
            raise ConfigError(f"network.subnets[{index}].cidr: {exc}") from None
        hosts = list(_host_bounds(net))
        if not self.id:
            self.id = str(uuid.uuid5(_SUBNET_NS, "subnet:" + self.name))
        if not self.network_id:
            self.network_id = str(uuid.uuid5(_SUBNET_NS, "network:" + self.name))
        if not self.gateway:
            self.gateway = str(hosts[0])
        if not self.allocation_start:
            self.allocation_start = str(hosts[0] + 9)
        if not self.allocation_end:
            self.allocation_end = str(hosts[1] - 16)
        if not self.bridge:
            self.bridge = ("pbr-" + self.name)[:15]
        for key in ("gateway", "allocation_start", "allocation_end"):
            if ipaddress.ip_address(getattr(self, key)) not in net:
                raise ConfigError(f"network.subnets[{index}].{key}: not inside {self.cidr}")
        if len(self.bridge) > 15:
            raise ConfigError(f"network.subnets[{index}].bridge: at most 15 characters")

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.cidr)


@dataclass
class ManagementConfig:
    bridge: str = "portus-mgmt"
    cidr: str = "198.18.0.0/24"
    gateway: str = ""  # empty: first host address; the controller listens here

    def finish(self) -> None:
        net = ipaddress.ip_network(self.cidr, strict=True)
        if not self.gateway:
            self.gateway = str(next(net.hosts()))


def _default_subnets() -> list[SubnetConfig]:
    return [SubnetConfig(name="demo", cidr="198.18.1.0/24", bridge="portus-demo")]


@dataclass
class NetworkConfig:
    management: ManagementConfig = field(default_factory=ManagementConfig)
    subnets: list[SubnetConfig] = field(default_factory=_default_subnets)


@dataclass
class Config:
    data_dir: str = "/var/lib/portus"
    run_dir: str = "/run/portus"
    log_level: str = "INFO"
    api: ApiConfig = field(default_factory=ApiConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    health_manager: HealthManagerConfig = field(default_factory=HealthManagerConfig)
    house_keeping: HouseKeepingConfig = field(default_factory=HouseKeepingConfig)
    amphora: AmphoraConfig = field(default_factory=AmphoraConfig)
    quotas: QuotasConfig = field(default_factory=QuotasConfig)
    keystone: KeystoneConfig = field(default_factory=KeystoneConfig)
    certificates: CertificatesConfig = field(default_factory=CertificatesConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)

    # -- derived values -------------------------------------------------
    @property
    def database_url(self) -> str:
        return self.database.connection or f"sqlite:///{Path(self.data_dir) / 'portus.db'}"

    @property
    def ca_dir(self) -> Path:
        return Path(self.certificates.ca_dir or Path(self.data_dir) / "ca")

    @property
    def secret_key_path(self) -> Path:
        return Path(self.certificates.secret_key_file or Path(self.data_dir) / "secrets.key")

    @property
    def host_id(self) -> str:
        return self.controller.host_id or socket.gethostname()

    @property
    def heartbeat_bind_ip(self) -> str:
        return self.health_manager.bind_ip or self.network.management.gateway

    def subnet(self, subnet_id: str) -> SubnetConfig | None:
        for subnet in self.network.subnets:
            if subnet.id == subnet_id:
                return subnet
        return None

    def finish(self) -> "Config":
        """Fill derived defaults and check cross-option rules."""
        self.network.management.finish()
        names: set[str] = set()
        for i, subnet in enumerate(self.network.subnets):
            subnet.finish(i)
            if subnet.name in names:
                raise ConfigError(f"network.subnets[{i}].name: duplicate name {subnet.name!r}")
            names.add(subnet.name)
        if self.api.auth_strategy not in ("noauth", "token", "keystone"):
            raise ConfigError(f"api.auth_strategy: unsupported value {self.api.auth_strategy!r} "
                              f"(noauth, token, keystone)")
        if self.api.auth_strategy == "keystone" and not self.keystone.auth_url:
            raise ConfigError("keystone.auth_url: required when api.auth_strategy = \"keystone\"")
        if self.api.auth_strategy == "noauth" and not _is_loopback(self.api.bind_host):
            raise ConfigError(
                f"api.auth_strategy: noauth is refused unless api.bind_host is a loopback "
                f"address (got {self.api.bind_host!r})"
            )
        _check_providers_quotas_flavors(self)
        _check_tls(self.api)
        _check_topology(self)
        return self


def _check_tls(api: ApiConfig) -> None:
    if api.minimum_tls_version not in ("", *TLS_VERSIONS):
        raise ConfigError(f"api.minimum_tls_version: one of {', '.join(TLS_VERSIONS)} or empty")
    for name in ("default_listener_tls_versions", "default_pool_tls_versions"):
        if not getattr(api, name) or set(getattr(api, name)) - set(TLS_VERSIONS):
            raise ConfigError(f"api.{name}: a non-empty list of {', '.join(TLS_VERSIONS)}")
    for name in ("default_listener_alpn_protocols", "default_pool_alpn_protocols"):
        if not getattr(api, name) or set(getattr(api, name)) - set(ALPN_PROTOCOLS):
            raise ConfigError(f"api.{name}: a non-empty list of {', '.join(ALPN_PROTOCOLS)}")


def _check_providers_quotas_flavors(cfg: "Config") -> None:
    if cfg.api.default_provider_driver not in cfg.api.enabled_provider_drivers:
        raise ConfigError(f"api.default_provider_driver: {cfg.api.default_provider_driver!r} "
                          f"is not in api.enabled_provider_drivers")
    for f in dataclasses.fields(cfg.quotas):
        value = getattr(cfg.quotas, f.name)
        if not -1 <= value <= 2_000_000_000:
            raise ConfigError(f"quotas.{f.name}: must be -1 (unlimited) to 2000000000")
    resources: dict[str, ComputeFlavorConfig] = {
        "amphora.": cfg.amphora,
        **{f"amphora.compute_flavors.{name}.": c for name, c in cfg.amphora.compute_flavors.items()}}
    for prefix, options in resources.items():
        if not 1 <= options.maxconn <= 9000:
            raise ConfigError(f"{prefix}maxconn: must be 1 to 9000 "
                              f"(the amphora's open-file limit)")
        if options.vcpus and not MIN_VCPUS <= options.vcpus <= 1024:
            raise ConfigError(f"{prefix}vcpus: must be 0 (no limit) or {MIN_VCPUS} to 1024")
        if options.ram_mb and not MIN_RAM_MB <= options.ram_mb <= 1 << 30:
            raise ConfigError(f"{prefix}ram_mb: must be 0 (no limit) or {MIN_RAM_MB} to "
                              f"{1 << 30} (the agent and HAProxy need about 40 MB)")
    parent = cfg.amphora.cgroup_parent
    if not parent or parent.startswith("/") or ".." in parent.split("/"):
        raise ConfigError("amphora.cgroup_parent: must be a relative path without '..'")


def _check_topology(cfg: "Config") -> None:
    if cfg.controller.loadbalancer_topology not in ("SINGLE", "ACTIVE_STANDBY"):
        raise ConfigError(f"controller.loadbalancer_topology: unsupported value "
                          f"{cfg.controller.loadbalancer_topology!r} (SINGLE, ACTIVE_STANDBY)")
    # VRRPv3 counts adverts in centiseconds, 12 bits.
    if not 0.01 <= cfg.amphora.vrrp_advert_int <= 40.95:
        raise ConfigError("amphora.vrrp_advert_int: must be 0.01 to 40.95 seconds")
    if not 1 <= cfg.amphora.vrrp_check_interval <= 3600:
        raise ConfigError("amphora.vrrp_check_interval: must be 1 to 3600 seconds")


def _host_bounds(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[Any, Any]:
    if net.num_addresses < 32:
        raise ConfigError(f"{net}: a subnet needs at least 32 addresses")
    return net.network_address + 1, net.broadcast_address - 1


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _coerce(value: str, current: Any, name: str) -> Any:
    if isinstance(current, bool):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: expected a boolean, got {value!r}")
    if isinstance(current, int):
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {value!r}") from None
    if isinstance(current, float):
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {value!r}") from None
    return value


# Options that are tables of strings, and what a line of them looks like.
_STRING_TABLES = {"enabled_provider_drivers": 'provider = "description"',
                  "images": 'tag = "/path/to/haproxy"'}


def _apply(obj: Any, data: dict[str, Any], prefix: str) -> None:
    known = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(f"{name}: unknown option")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{name}: expected a table")
            _apply(current, value, name + ".")
        elif key == "subnets":
            if not isinstance(value, list):
                raise ConfigError(f"{name}: expected an array of tables")
            subnets = []
            for i, item in enumerate(value):
                try:
                    subnets.append(SubnetConfig(**item))
                except TypeError as exc:
                    raise ConfigError(f"{name}[{i}]: {exc}") from None
            setattr(obj, key, subnets)
        elif key == "compute_flavors":
            setattr(obj, key, _compute_flavors(value, name))
        elif key in _STRING_TABLES:
            if not isinstance(value, dict) or not all(
                    isinstance(v, str) for v in value.values()):
                raise ConfigError(f"{name}: expected a table of {_STRING_TABLES[key]}")
            setattr(obj, key, dict(value))
        else:
            if isinstance(current, bool) and not isinstance(value, bool):
                raise ConfigError(f"{name}: expected a boolean")
            if isinstance(current, (int, float)) and not isinstance(current, bool):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"{name}: expected a number")
                value = type(current)(value)
            elif isinstance(current, str) and not isinstance(value, str):
                raise ConfigError(f"{name}: expected a string")
            setattr(obj, key, value)


def _compute_flavors(value: Any, name: str) -> dict[str, ComputeFlavorConfig]:
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a table of tables")
    flavors = {}
    for flavor, options in value.items():
        if not isinstance(options, dict):
            raise ConfigError(f"{name}.{flavor}: expected a table")
        flavors[flavor] = ComputeFlavorConfig()
        _apply(flavors[flavor], options, f"{name}.{flavor}.")
    return flavors


def _apply_env(cfg: Config, environ: dict[str, str]) -> None:
    if "PORTUS_DATA_DIR" in environ:
        cfg.data_dir = environ["PORTUS_DATA_DIR"]
    for key, value in environ.items():
        if not key.startswith("PORTUS_") or "__" not in key:
            continue
        path = key[len("PORTUS_"):].lower().split("__")
        obj: Any = cfg
        for part in path[:-1]:
            if not hasattr(obj, part) or not dataclasses.is_dataclass(getattr(obj, part)):
                raise ConfigError(f"{key}: unknown section {part!r}")
            obj = getattr(obj, part)
        leaf = path[-1]
        if not hasattr(obj, leaf) or dataclasses.is_dataclass(getattr(obj, leaf)):
            raise ConfigError(f"{key}: unknown option {leaf!r}")
        setattr(obj, leaf, _coerce(value, getattr(obj, leaf), key))


DEFAULT_CONFIG_PATHS = ("/etc/portus/portus.toml",)


def load(path: str | None = None, environ: dict[str, str] | None = None,
         overrides: dict[str, Any] | None = None) -> Config:
    """Build the configuration. ``path`` falls back to $PORTUS_CONFIG, then
    /etc/portus/portus.toml when it exists; ``overrides`` are flag values."""
    environ = dict(os.environ if environ is None else environ)
    cfg = Config()
    path = path or environ.get("PORTUS_CONFIG")
    if not path:
        path = next((p for p in DEFAULT_CONFIG_PATHS if Path(p).exists()), None)
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        _apply(cfg, data, "")
    _apply_env(cfg, environ)
    for key, value in (overrides or {}).items():
        if value is not None:
            setattr(cfg, key, value)
    return cfg.finish()
