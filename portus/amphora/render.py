"""Render the haproxy configuration of one amphora from a LoadBalancerSpec.

The renderer works in two steps:

1. ``render_haproxy`` turns the spec into a small, fully validated *view*
   (``_Frontend``, ``_Backend``, ``_Server``...). Every string that ends up in the
   configuration is checked here (ids, addresses, paths, host names, cookie
   names) and every number is range-checked or clamped to what haproxy accepts.
2. ``templates/haproxy.cfg.j2`` prints the view. The template never sees the
   spec objects, so no user-supplied string reaches the config unchecked.

Naming used in the generated configuration:

* frontend ``<listener.id>``
* backend ``<pool.id>:<listener.id>`` (one per listener using the pool)
* server ``<member.id>`` (also the HTTP_COOKIE cookie value)

Semantics worth knowing:

* Disabled listeners, and every listener of a disabled load balancer, are not
  rendered (their ports are closed). UDP and SCTP listeners are not HAProxy's:
  ``render_nft`` renders them.
* A listener whose default pool is missing or disabled answers 503 (HTTP) or
  closes the connection (TCP).
* A listener/pool timeout of 0 means "use the default" (the ``defaults``
  section); haproxy would otherwise read 0 as "no timeout".
* Health monitor delay/timeout are clamped to 1 s .. ~24.8 days (haproxy
  rejects ``inter 0`` and timers above 2^31-1 ms).
* Cookie-based persistence (HTTP_COOKIE, APP_COOKIE) needs an HTTP-mode
  backend; on a TCP-mode backend it is not rendered (haproxy ignores it anyway).
* A PING health monitor is an haproxy external check: the agent's ``ping-check``
  script pings the target named on the backend's ``# ping-target`` line (the
  member, or its monitor_address) with the monitor's timeout. haproxy hands
  external checks the server address only, so the target travels this way.
* A PROMETHEUS listener serves ``/metrics`` and answers 404 to anything else. Its
  requests go to the agent's metrics proxy, which reads haproxy's built-in exporter
  (an internal frontend on 127.0.0.1) and renames it as Octavia does
  (``metrics_proxy.py``).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from portus.amphora.spec import (
    AmphoraRuntime,
    HealthMonitorSpec,
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
)
from portus.amphora import metrics_proxy
from portus.amphora import PING_CHECK, render_l7  # noqa: E402 (it uses this module's checks at call time)
from portus.amphora import render_tls  # noqa: E402 (likewise)
from portus.common import constants

TEMPLATE_NAME = "haproxy.cfg.j2"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

# Global limits. The sandbox's FD hard limit is 20000 and haproxy needs about two
# FDs per connection, so the global maxconn must stay at or below 9000.
MAX_GLOBAL_MAXCONN = 9000
UNLIMITED_CONNECTIONS = constants.DEFAULT_CONNECTION_LIMIT  # 50000 for limit -1
STICK_TABLE_SIZE = "10k"
PEERS_SECTION = "portus_peers"
PEER_PORT = 1025  # on the VRRP addresses, as Octavia's peers
APP_COOKIE_LEN = 64
# haproxy: "socket path ... too long (max 97)".
MAX_SOCKET_PATH = 97
# haproxy timers are signed 32-bit milliseconds.
MAX_TIMER_MS = 2_147_483_647
MAX_TIMER_S = MAX_TIMER_MS // 1000

# Fallbacks used in the defaults section (Octavia's [haproxy_amphora] defaults).
DEFAULT_TIMEOUT_CONNECT_MS = 5000
DEFAULT_TIMEOUT_CLIENT_MS = 50000
DEFAULT_TIMEOUT_SERVER_MS = 50000

_ALGORITHMS = {
    "ROUND_ROBIN": "roundrobin",
    "LEAST_CONNECTIONS": "leastconn",
    "SOURCE_IP": "source",
}

# Pool protocol -> what the backend server line needs.
_SEND_PROXY = {"PROXY": "send-proxy", "PROXYV2": "send-proxy-v2"}

# Listener protocol -> pool protocols the listener may forward to (this is
# constants.LISTENER_POOL_PROTOCOLS restricted to what this renderer supports).
_COMPATIBLE_POOLS = {
    "HTTP": ("HTTP", "PROXY", "PROXYV2"),
    "HTTPS": ("HTTPS", "PROXY", "PROXYV2", "TCP"),
    "TCP": ("HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2"),
    "TERMINATED_HTTPS": ("HTTP", "PROXY", "PROXYV2"),
    "PROMETHEUS": (),
}
# Where the PING check script finds ping (and the shell tools it uses).
PING_CHECK_PATH = "/usr/bin:/bin"

# Health monitor types HAProxy runs (UDP-CONNECT and SCTP belong to the nftables data plane).
_HAPROXY_HM_TYPES = ("HTTP", "HTTPS", "TCP", "TLS-HELLO", "PING")

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
# RFC 3986 path + query characters, minus "#" (comment), "'" / '"' (haproxy
# quoting), "\" (haproxy escaping) and anything that is not printable ASCII.
_URL_PATH_RE = re.compile(r"/[A-Za-z0-9\-._~%!$&()*+,;=:@/?]{0,4095}")
_HOST_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DOMAIN_RE = re.compile(rf"(?=.{{1,255}}$){_HOST_LABEL}(\.{_HOST_LABEL})*\.?")
# RFC 7230 token characters minus "#", "$" and "'" (special to haproxy's parser).
_COOKIE_NAME_RE = re.compile(r"[A-Za-z0-9!%&*+.^_`|~-]{1,255}")
_PATH_RE = re.compile(r"/[A-Za-z0-9_./-]*")
_CODES_ITEM_RE = re.compile(r"(\d{3})(?:-(\d{3}))?")


class RenderError(ValueError):
    """The spec cannot be turned into a safe, valid haproxy configuration."""


# --------------------------------------------------------------------------
# small pure helpers


def haproxy_algorithm(lb_algorithm: str) -> str:
    """Map an API lb_algorithm to haproxy's ``balance`` keyword."""
    try:
        return _ALGORITHMS[lb_algorithm]
    except (KeyError, TypeError):
        raise RenderError(f"unsupported lb_algorithm {lb_algorithm!r}") from None


def expand_expected_codes(expected_codes: str | None) -> list[int]:
    """Expand "200", "200, 202", "200-204" (or a mix) to a sorted list of codes.

    None or an empty string means the default, 200.
    """
    if expected_codes is None or not str(expected_codes).strip():
        return [200]
    if not isinstance(expected_codes, str):
        raise RenderError(f"expected_codes must be a string, got {expected_codes!r}")
    codes: set[int] = set()
    for item in expected_codes.split(","):
        match = _CODES_ITEM_RE.fullmatch(item.strip())
        if match is None:
            raise RenderError(f"invalid expected_codes {expected_codes!r}")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if not 100 <= low <= high <= 599:
            raise RenderError(f"invalid expected_codes {expected_codes!r}")
        codes.update(range(low, high + 1))
    return sorted(codes)


def expected_codes_regex(expected_codes: str | None) -> str:
    """Build the ``http-check expect rstatus`` regex, e.g. ``^(200|202)$``."""
    return "^(" + "|".join(str(c) for c in expand_expected_codes(expected_codes)) + ")$"


def check_identifier(value: Any, what: str = "id") -> str:
    """An object id used as a haproxy proxy/server/cookie name."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise RenderError(f"unsafe {what} {value!r}")
    return value


def check_url_path(value: Any) -> str:
    if not isinstance(value, str) or not _URL_PATH_RE.fullmatch(value):
        raise RenderError(f"unsafe url_path {value!r}")
    return value


def check_domain_name(value: Any) -> str:
    if not isinstance(value, str) or not _DOMAIN_RE.fullmatch(value):
        raise RenderError(f"unsafe domain_name {value!r}")
    return value


def check_cookie_name(value: Any) -> str:
    if not isinstance(value, str) or not _COOKIE_NAME_RE.fullmatch(value):
        raise RenderError(f"unsafe cookie_name {value!r}")
    return value


def check_ip(value: Any, what: str = "address") -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A literal IPv4/IPv6 address (no host names, no scope ids)."""
    if not isinstance(value, str) or not value or value != value.strip() or "%" in value:
        raise RenderError(f"unsafe {what} {value!r}")
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise RenderError(f"unsafe {what} {value!r}") from None


def format_address(value: Any, port: int | None = None, what: str = "address") -> str:
    """Render an IP (and port) for haproxy; IPv6 goes in brackets: ``[::1]:80``."""
    ip = check_ip(value, what)
    host = f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    if port is None:
        return host
    return f"{host}:{check_int(port, f'{what} port', constants.MIN_PORT, constants.MAX_PORT)}"


def check_int(value: Any, what: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RenderError(f"{what} must be an integer, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise RenderError(f"{what} {value} out of range [{minimum}, {maximum}]")
    return value


def timeout_ms(value: Any, what: str) -> int | None:
    """A listener timeout in ms; None (use the defaults section) when 0."""
    ms = check_int(value, what, 0)
    if ms == 0:
        return None
    return min(ms, MAX_TIMER_MS)


def clamp_seconds(value: Any, what: str) -> int:
    """A health monitor delay/timeout in seconds, clamped to what haproxy takes."""
    return max(1, min(check_int(value, what, 0), MAX_TIMER_S))


def frontend_maxconn(connection_limit: Any, amp_maxconn: int) -> int:
    """connection_limit, 50000 when unlimited (-1 or 0), never above amp_maxconn."""
    limit = check_int(connection_limit, "connection_limit", -1)
    if limit <= 0:
        limit = UNLIMITED_CONNECTIONS
    return min(limit, amp_maxconn)


def header_enabled(insert_headers: dict, name: str) -> bool:
    value = insert_headers.get(name)
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def backend_name(pool_id: str, listener_id: str) -> str:
    return f"{check_identifier(pool_id, 'pool id')}:{check_identifier(listener_id, 'listener id')}"


# --------------------------------------------------------------------------
# the view the template prints


@dataclass(frozen=True)
class _Check:
    inter: int  # seconds
    fall: int
    rise: int
    timeout: int  # seconds
    http: bool
    ssl: bool = False  # check-ssl verify none on the servers
    http_method: str = ""
    url_path: str = ""
    http_version: str = ""  # "" or "HTTP/1.1"
    host: str = ""
    rstatus: str = ""
    ping: bool = False  # an external check running the agent's ping script


@dataclass(frozen=True)
class _Server:
    name: str
    address: str  # addr:port
    weight: int
    check: bool
    check_addr: str  # "" or formatted address
    check_port: int | None
    cookie: str  # "" or cookie value
    send_proxy: str  # "", "send-proxy" or "send-proxy-v2"
    backup: bool
    disabled: bool
    ssl: str = ""  # re-encryption options ("ssl verify ..."), or ""
    ping_target: str = ""  # PING: the address to ping (monitor_address or the member)


@dataclass(frozen=True)
class _Backend:
    name: str
    mode: str
    balance: str
    timeout_connect: int | None
    timeout_server: int | None
    persistence: str  # "", SOURCE_IP, HTTP_COOKIE, APP_COOKIE
    cookie_name: str
    check: _Check | None
    servers: tuple[_Server, ...]


@dataclass(frozen=True)
class _Frontend:
    name: str
    mode: str
    maxconn: int
    bind: str
    timeout_client: int | None
    inspect_delay: int | None
    forwardfor: bool
    forwarded_port: bool
    forwarded_proto: str  # "" or the scheme
    default_backend: str  # "" when the listener has no (enabled) default pool
    extra_binds: tuple[str, ...] = ()  # the same port on each additional VIP
    l7_rules: tuple[str, ...] = ()  # acl + http-request lines (render_l7)
    l7_backends: tuple[str, ...] = ()  # use_backend lines, before default_backend
    no_pool_condition: str = ""  # lets L7-routed requests past the "no default pool" deny
    bind_options: str = ""  # TLS termination options after each bind address
    allowed_src: str = ""  # space-separated CIDRs; "" admits every source
    ssl_headers: tuple[tuple[str, str], ...] = ()  # (header, sample) pairs
    hsts: str = ""  # Strict-Transport-Security value, or ""
    prometheus: bool = False  # serves haproxy's Prometheus exporter instead of a pool


# --------------------------------------------------------------------------


def _check_view(hm: HealthMonitorSpec) -> _Check:
    hm_type = hm.type
    if hm_type not in _HAPROXY_HM_TYPES:
        raise RenderError(f"unsupported health monitor type {hm_type!r}")
    check_identifier(hm.id, "health monitor id")
    inter = clamp_seconds(hm.delay, "health monitor delay")
    timeout = clamp_seconds(hm.timeout, "health monitor timeout")
    rise = check_int(hm.rise, "health monitor rise", 1, 100)
    fall = check_int(hm.fall, "health monitor fall", 1, 100)
    # HTTPS and TLS-HELLO checks run over TLS; the member's certificate is not verified.
    ssl = hm_type in ("HTTPS", "TLS-HELLO")
    if hm_type not in constants.HTTP_HM_TYPES:
        return _Check(inter=inter, fall=fall, rise=rise, timeout=timeout, http=False, ssl=ssl,
                      ping=hm_type == "PING")
    method = hm.http_method or "GET"
    if method not in constants.HTTP_METHODS:
        raise RenderError(f"unsupported http_method {method!r}")
    url_path = check_url_path(hm.url_path if hm.url_path is not None else "/")
    if hm.http_version is None or hm.http_version == 1.0:
        version = ""
    elif hm.http_version == 1.1:
        version = "HTTP/1.1"
    else:
        raise RenderError(f"unsupported http_version {hm.http_version!r}")
    host = ""
    if hm.domain_name is not None:
        domain = check_domain_name(hm.domain_name)
        if version:  # the Host header only goes with HTTP/1.1
            host = domain
    return _Check(
        inter=inter,
        fall=fall,
        rise=rise,
        timeout=timeout,
        http=True,
        ssl=ssl,
        http_method=method,
        url_path=url_path,
        http_version=version,
        host=host,
        rstatus=expected_codes_regex(hm.expected_codes),
    )


def _server_view(member: MemberSpec, check: _Check | None, cookie: bool, send_proxy: str,
                 ssl: str = "") -> _Server:
    name = check_identifier(member.id, "member id")
    check_addr = ""
    check_port = None
    ping_target = ""
    if check is not None and check.ping:
        # haproxy ignores addr/port for external checks; ping has no port.
        if member.monitor_address is not None:
            ping_target = check_ip(member.monitor_address, "monitor_address").compressed
        else:
            ping_target = check_ip(member.address, "member address").compressed
    elif check is not None:
        if member.monitor_address is not None:
            check_addr = format_address(member.monitor_address, what="monitor_address")
        if member.monitor_port is not None:
            check_port = check_int(
                member.monitor_port, "monitor_port", constants.MIN_PORT, constants.MAX_PORT
            )
    return _Server(
        name=name,
        address=format_address(member.address, member.port, what="member address"),
        weight=check_int(member.weight, "member weight", constants.MIN_WEIGHT, constants.MAX_WEIGHT),
        check=check is not None,
        check_addr=check_addr,
        check_port=check_port,
        cookie=name if cookie else "",
        send_proxy=send_proxy,
        backup=bool(member.backup),
        disabled=not member.enabled,
        ssl=ssl,
        ping_target=ping_target,
    )


def _backend_view(listener: ListenerSpec, pool: PoolSpec, mode: str, certs_dir: str) -> _Backend:
    if pool.protocol not in _COMPATIBLE_POOLS[listener.protocol]:
        raise RenderError(
            f"listener {listener.id} ({listener.protocol}) cannot use pool "
            f"{pool.id} ({pool.protocol})"
        )
    persistence = ""
    cookie_name = ""
    sp = pool.session_persistence
    if sp:
        if not isinstance(sp, dict):
            raise RenderError(f"invalid session_persistence {sp!r}")
        sp_type = sp.get("type")
        if sp_type not in constants.SESSION_PERSISTENCE_TYPES:
            raise RenderError(f"unsupported session persistence type {sp_type!r}")
        if sp_type == "APP_COOKIE":
            cookie_name = check_cookie_name(sp.get("cookie_name"))
        # Cookies only exist in HTTP mode; haproxy ignores them in TCP mode.
        if sp_type == "SOURCE_IP" or mode == "http":
            persistence = sp_type
    hm = pool.health_monitor
    check = _check_view(hm) if hm is not None and hm.enabled else None
    send_proxy = _SEND_PROXY.get(pool.protocol, "")
    ssl = ""
    if pool.tls is not None:
        ssl = render_tls.server_options(pool.tls, render_tls.check_certs_dir(certs_dir),
                                        mode == "http", listener.protocol == "TERMINATED_HTTPS")
    servers = tuple(
        _server_view(m, check, persistence == "HTTP_COOKIE", send_proxy, ssl)
        for m in pool.members
    )
    names = [s.name for s in servers]
    if len(set(names)) != len(names):
        raise RenderError(f"duplicate member id in pool {pool.id}")
    return _Backend(
        name=backend_name(pool.id, listener.id),
        mode=mode,
        balance=haproxy_algorithm(pool.lb_algorithm),
        timeout_connect=timeout_ms(listener.timeout_member_connect, "timeout_member_connect"),
        timeout_server=timeout_ms(listener.timeout_member_data, "timeout_member_data"),
        persistence=persistence,
        cookie_name=cookie_name,
        check=check,
        servers=servers,
    )


def _listener_view(
    listener: ListenerSpec, vip: str, amp_maxconn: int, extra_vips: tuple[str, ...] = (),
    certs_dir: str = "",
) -> tuple[_Frontend, list[_Backend]]:
    name = check_identifier(listener.id, "listener id")
    if listener.protocol not in _COMPATIBLE_POOLS:
        raise RenderError(f"unsupported listener protocol {listener.protocol!r}")
    prometheus = listener.protocol == "PROMETHEUS"
    mode = "http" if listener.protocol in constants.HTTP_LISTENERS or prometheus else "tcp"
    terminated = listener.protocol == "TERMINATED_HTTPS"
    if terminated and listener.tls is None:
        raise RenderError(f"TERMINATED_HTTPS listener {listener.id} has no TLS settings")
    # A PROMETHEUS listener serves its metrics over TLS when it has certificates.
    tls = listener.tls if terminated or prometheus else None
    bind_options = ""
    if tls is not None:
        bind_options = " " + render_tls.bind_options(tls, render_tls.check_certs_dir(certs_dir))
    inspect = check_int(listener.timeout_tcp_inspect, "timeout_tcp_inspect", 0)
    headers = listener.insert_headers or {}
    if not isinstance(headers, dict):
        raise RenderError(f"invalid insert_headers {headers!r}")
    if prometheus and (listener.default_pool is not None or listener.l7policies):
        raise RenderError(f"PROMETHEUS listener {listener.id} cannot have pools or L7 policies")
    http = mode == "http" and not prometheus

    backend = _pool_backend(listener, listener.default_pool, mode, certs_dir)
    # Enabled redirect pools of L7 policies get a backend of their own (once).
    backends = {b.name: b for b in [backend] if b is not None}
    redirect_names: dict[str, str] = {}
    for policy in listener.l7policies:
        extra = _pool_backend(listener, policy.redirect_pool, mode, certs_dir)
        if extra is not None and policy.redirect_pool is not None:
            backends.setdefault(extra.name, extra)
            redirect_names[policy.redirect_pool.id] = extra.name
    l7 = render_l7.l7_lines(listener, redirect_names)

    frontend = _Frontend(
        name=name,
        mode=mode,
        maxconn=frontend_maxconn(listener.connection_limit, amp_maxconn),
        bind=f"{vip}:{check_int(listener.port, 'listener port', constants.MIN_PORT, constants.MAX_PORT)}",
        timeout_client=timeout_ms(listener.timeout_client_data, "timeout_client_data"),
        inspect_delay=min(inspect, MAX_TIMER_MS) if inspect > 0 else None,
        forwardfor=http and header_enabled(headers, "X-Forwarded-For"),
        forwarded_port=http and header_enabled(headers, "X-Forwarded-Port"),
        forwarded_proto=("https" if terminated else "http")
        if http and header_enabled(headers, "X-Forwarded-Proto") else "",
        default_backend=backend.name if backend is not None else "",
        extra_binds=tuple(f"{extra}:{listener.port}" for extra in extra_vips),
        l7_rules=l7.rules,
        l7_backends=l7.backends,
        no_pool_condition=render_l7.no_pool_condition(l7),
        bind_options=bind_options,
        allowed_src=render_tls.allowed_src(listener.allowed_cidrs),
        ssl_headers=render_tls.ssl_headers(headers) if terminated else (),
        hsts=render_tls.hsts(tls) if tls is not None else "",
        prometheus=prometheus,
    )
    return frontend, list(backends.values())


def _pool_backend(listener: ListenerSpec, pool: PoolSpec | None, mode: str,
                  certs_dir: str) -> _Backend | None:
    if pool is None or not pool.enabled:
        return None
    if pool.protocol not in constants.POOL_PROTOCOLS:
        raise RenderError(f"unsupported pool protocol {pool.protocol!r}")
    # PROXY/PROXYV2 pools carry the listener's traffic type.
    pool_mode = {"HTTP": "http", "HTTPS": "tcp", "TCP": "tcp"}.get(pool.protocol, mode)
    return _backend_view(listener, pool, pool_mode, certs_dir)


def _base_dir(base_dir: Any) -> str:
    if not isinstance(base_dir, str) or not _PATH_RE.fullmatch(base_dir):
        raise RenderError(f"unsafe amphora base_dir {base_dir!r}")
    return base_dir.rstrip("/")


def _socket_path(base_dir: str) -> str:
    path = base_dir + "/haproxy.sock"
    if len(path) > MAX_SOCKET_PATH:
        raise RenderError(f"stats socket path {path!r} longer than {MAX_SOCKET_PATH} characters")
    return path


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,
)


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    return _ENV.get_template(TEMPLATE_NAME)


def _peer_name(amphora_id: str) -> str:
    return amphora_id.replace("-", "")


def _peers(amp: AmphoraRuntime) -> list[dict[str, str]]:
    """The peers section's entries; the local one is the amphora's own (`localpeer`)."""
    if not amp.peers:
        return []
    names = [_peer_name(check_identifier(amphora_id, "peer amphora id"))
             for amphora_id, _ in amp.peers]
    if _peer_name(amp.amphora_id) not in names or len(set(names)) != len(names):
        raise RenderError("peers must name this amphora once and each peer once")
    return [{"name": name, "address": format_address(address, PEER_PORT, "peer address")}
            for name, (_, address) in zip(names, amp.peers)]


def render_haproxy(lb: LoadBalancerSpec, amp: AmphoraRuntime) -> str:
    """Return the complete haproxy.cfg for ``lb`` running on amphora ``amp``.

    Raises RenderError when a value is unsafe or cannot be rendered validly.
    """
    lb_id = check_identifier(lb.id, "load balancer id")
    check_identifier(amp.amphora_id, "amphora id")
    generation = check_int(lb.generation, "generation", 0)
    maxconn = check_int(amp.maxconn, "amphora maxconn", 1, MAX_GLOBAL_MAXCONN)
    base_dir = _base_dir(amp.base_dir)
    socket = _socket_path(base_dir)
    vip = format_address(lb.vip_address, what="vip_address")
    extra_vips = tuple(format_address(a, what="additional vip") for a in lb.additional_vips)

    frontends: list[_Frontend] = []
    backends: list[_Backend] = []
    ports: set[int] = set()
    listener_ids: set[str] = set()
    for listener in lb.listeners:
        if listener.id in listener_ids:
            raise RenderError(f"duplicate listener id {listener.id!r}")
        listener_ids.add(listener.id)
        if not (lb.enabled and listener.enabled) or listener.protocol in constants.L4_PROTOCOLS:
            continue  # UDP and SCTP listeners: render_nft
        frontend, listener_backends = _listener_view(listener, vip, maxconn, extra_vips,
                                                     amp.certs_dir)
        if listener.port in ports:
            raise RenderError(f"two enabled listeners on port {listener.port}")
        ports.add(listener.port)
        frontends.append(frontend)
        backends.extend(listener_backends)

    metrics = None
    if any(fe.prometheus for fe in frontends):
        metrics = {"frontend": f"{metrics_proxy.INTERNAL}-internal",
                   "backend": f"{metrics_proxy.INTERNAL}-proxy",
                   "exporter": "%s:%d" % metrics_proxy.EXPORTER,
                   "proxy": "%s:%d" % metrics_proxy.PROXY}
    sticky = any(b.persistence in ("SOURCE_IP", "APP_COOKIE") for b in backends)
    peers = _peers(amp) if sticky else []
    text = _template().render(
        lb_id=lb_id,
        peers=peers,
        peers_section=PEERS_SECTION,
        metrics=metrics,
        local_peer=_peer_name(amp.amphora_id),
        generation=generation,
        maxconn=maxconn,
        stats_socket=socket,
        external_checks=any(b.check is not None and b.check.ping for b in backends),
        ping_command=f"{base_dir}/{PING_CHECK}",
        ping_path=PING_CHECK_PATH,
        defaults={
            "timeout_connect": DEFAULT_TIMEOUT_CONNECT_MS,
            "timeout_client": DEFAULT_TIMEOUT_CLIENT_MS,
            "timeout_server": DEFAULT_TIMEOUT_SERVER_MS,
        },
        stick_table_size=STICK_TABLE_SIZE,
        app_cookie_len=APP_COOKIE_LEN,
        frontends=frontends,
        backends=backends,
    )
    if not text.endswith("\n"):
        text += "\n"
    return text
