"""Render the keepalived (VRRP) configuration of one amphora of an ACTIVE_STANDBY pair.

One ``vrrp_instance`` per load balancer, VRRPv3 so adverts can be sub-second,
unicast between the amphorae's own VRRP addresses (no multicast on the shared
bridges), the VIP and the additional VIPs as virtual addresses, and a track
script that gives the VIP up when this amphora's HAProxy master is gone. As in
render.py, every value is checked here and the template only prints.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

import jinja2

from portus.amphora.render import _ENV, RenderError, _PATH_RE, check_identifier
from portus.common import constants

TEMPLATE_NAME = "keepalived.conf.j2"
_IFNAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,15}")
_ROLES = (constants.ROLE_MASTER, constants.ROLE_BACKUP)


@dataclass(frozen=True)
class VirtualAddress:
    address: str
    prefixlen: int
    interface: str


@dataclass(frozen=True)
class KeepalivedSpec:
    lb_id: str
    generation: int
    role: str  # MASTER | BACKUP: the initial state; priority decides who holds the VIP
    priority: int
    vrid: int
    interface: str  # the interface adverts leave by (the VIP subnet's)
    source_ip: str  # this amphora's VRRP address
    peers: tuple[str, ...]  # the other amphorae's VRRP addresses
    vips: tuple[VirtualAddress, ...]  # the VIP first, then the additional VIPs
    advert_int: float  # seconds
    check_interval: int  # seconds between HAProxy checks (keepalived takes whole seconds)
    base_dir: str  # the amphora's directory (holds haproxy.pid)


def _address(value: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except (ValueError, TypeError):
        raise RenderError(f"invalid {what} {value!r}") from None


def _ifname(value: str) -> str:
    if not isinstance(value, str) or not _IFNAME_RE.fullmatch(value):
        raise RenderError(f"invalid interface name {value!r}")
    return value


def _seconds(value: float, what: str, low: float, high: float) -> str:
    if not isinstance(value, (int, float)) or not low <= value <= high:
        raise RenderError(f"{what} {value!r} is outside {low}..{high} s")
    return f"{value:g}"


def check_command(base_dir: str) -> str:
    """True while the HAProxy master of ``base_dir`` runs. A zombie (state Z) is dead:
    kill -0 would call it alive, and dead daemons are reaped late on some hosts."""
    if not isinstance(base_dir, str) or not _PATH_RE.fullmatch(base_dir):
        raise RenderError(f"unsafe amphora base_dir {base_dir!r}")
    pidfile = base_dir.rstrip("/") + "/haproxy.pid"
    return (f"/bin/sh -c 'read -r pid < {pidfile} && read -r _ _ state _ < /proc/$pid/stat "
            f"&& [ $state != Z ]'")


def render_keepalived(spec: KeepalivedSpec) -> str:
    if spec.role not in _ROLES:
        raise RenderError(f"unsupported VRRP role {spec.role!r}")
    if not spec.peers:
        raise RenderError("a VRRP instance needs at least one peer")
    if not spec.vips:
        raise RenderError("a VRRP instance needs at least one virtual address")
    source = _address(spec.source_ip, "VRRP source address")
    peers = [_address(p, "VRRP peer address") for p in spec.peers]
    if source in peers:
        raise RenderError(f"VRRP peer {source} is this amphora's own address")
    vips = []
    for vip in spec.vips:
        iface = ipaddress.ip_interface(f"{_address(vip.address, 'virtual address')}/"
                                       f"{int(vip.prefixlen)}")
        vips.append(f"{iface} dev {_ifname(vip.interface)}")
    for name, value, low, high in (("priority", spec.priority, 1, 254),
                                   ("check interval", spec.check_interval, 1, 3600),
                                   ("virtual_router_id", spec.vrid, 1, 255),
                                   ("generation", spec.generation, 0, 2**63)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise RenderError(f"{name} {value!r} is outside {low}..{high}")
    lb_id = check_identifier(spec.lb_id, "load balancer id")
    text = _template().render(
        generation=spec.generation, lb_id=lb_id, role=spec.role,
        instance="lb_" + lb_id.replace("-", "").replace(".", ""),
        check_command=check_command(spec.base_dir),
        check_interval=spec.check_interval,
        interface=_ifname(spec.interface), vrid=spec.vrid, priority=spec.priority,
        advert_int=_seconds(spec.advert_int, "advert_int", 0.01, 40.95),
        source_ip=source, peers=peers, vips=vips)
    return text if text.endswith("\n") else text + "\n"


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    return _ENV.get_template(TEMPLATE_NAME)
