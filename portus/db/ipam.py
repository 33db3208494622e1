"""Address allocation from the subnets declared in configuration.

Addresses in use are the rows that hold them: VIPs, additional VIPs, the VRRP
addresses of ACTIVE_STANDBY amphorae and the amphorae's ports on member subnets.
A unique constraint settles races between VIPs (the caller retries on
IntegrityError). Amphora addresses (VRRP and member ports) are taken from the top
of the allocation range (VIPs from the bottom), and the worker checks after its
commit that nothing else holds the one it took (`amphora_ip_conflict`), giving it
up if so.
"""
from __future__ import annotations

import functools
import ipaddress
import socket

from sqlalchemy import Select, exists, select, union_all
from sqlalchemy.orm import Session

from portus.common import constants as C
from portus.common.config import ManagementConfig, SubnetConfig
from portus.db import models as m


class AddressUnavailable(Exception):
    pass


@functools.lru_cache(maxsize=1 << 17)
def _as_int(text: str) -> int:
    # Every allocation converts every address in use: remembered, an address costs a
    # lookup (many times cheaper than inet_pton, itself cheaper than ipaddress).
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    return int.from_bytes(socket.inet_pton(family, text), "big")


def _pick(start: ipaddress._BaseAddress, end: ipaddress._BaseAddress, used: set[str],
          reserved: set[str], highest: bool = False) -> str:
    """The lowest (or highest) address in [start, end] neither used nor reserved."""
    taken = {_as_int(a) for a in used | reserved}
    values = range(int(start), int(end) + 1)
    for value in reversed(values) if highest else values:
        if value not in taken:
            return str(ipaddress.ip_address(value))
    raise AddressUnavailable(f"no free address between {start} and {end}")


def vip_in_use(session: Session, subnet_id: str) -> set[str]:
    # One Core statement on the session's connection: thousands of plain strings,
    # without the ORM's per-row result processing (so flush what is pending first).
    session.flush()
    vip, extra = m.Vip.__table__.c, m.AdditionalVip.__table__.c
    query = union_all(
        select(vip.ip_address).where(vip.subnet_id == subnet_id, vip.ip_address.is_not(None)),
        select(extra.ip_address).where(extra.subnet_id == subnet_id,
                                       extra.ip_address.is_not(None)),
        *(q.with_only_columns(q.selected_columns[0]) for q in _amphora_addresses(subnet_id)))
    return {r for r in session.connection().execute(query).scalars().all() if r}


def _amphora_addresses(subnet_id: str) -> tuple[Select[str | None, str], Select[str, str]]:
    """(amphora id, address) of the amphorae's own addresses on the subnet: VRRP
    addresses (on their load balancer's VIP subnet) and member ports."""
    port = m.AmphoraMemberPort
    # From the amphorae, which are few: a join from the VIPs read every VIP of the subnet.
    return (select(m.Amphora.vrrp_ip, m.Amphora.id)
            .where(m.Amphora.vrrp_ip.is_not(None), m.Amphora.status != C.AMP_DELETED,
                   exists().where(m.Vip.load_balancer_id == m.Amphora.load_balancer_id,
                                  m.Vip.subnet_id == subnet_id)),
            select(port.ip_address, port.amphora_id).where(port.subnet_id == subnet_id))


def _taken(session: Session, subnet_id: str, address: str,
           amphora_id: str | None = None) -> bool:
    """Whether a VIP, an additional VIP or an address of an amphora other than
    ``amphora_id`` is ``address`` on the subnet."""
    for model in (m.Vip, m.AdditionalVip):
        if session.execute(select(model.subnet_id).where(
                model.subnet_id == subnet_id, model.ip_address == address).limit(1)).first():
            return True
    for query in _amphora_addresses(subnet_id):
        owner = query.selected_columns[1]
        query = query.where(query.selected_columns[0] == address)
        if amphora_id is not None:
            query = query.where(owner != amphora_id)
        if session.execute(query.limit(1)).first() is not None:
            return True
    return False


def allocate_vip(session: Session, subnet: SubnetConfig, requested: str | None) -> str:
    if requested:
        if ipaddress.ip_address(requested) not in subnet.network:
            raise AddressUnavailable(f"{requested} is not in subnet {subnet.id} ({subnet.cidr})")
        if requested == subnet.gateway or _taken(session, subnet.id, requested):
            raise AddressUnavailable(f"IP address {requested} already allocated in subnet {subnet.id}")
        return requested
    return _pick(ipaddress.ip_address(subnet.allocation_start),
                 ipaddress.ip_address(subnet.allocation_end), vip_in_use(session, subnet.id),
                 {subnet.gateway})


def allocate_amphora_ip(session: Session, subnet: SubnetConfig) -> str:
    """An amphora's own address (VRRP or member port), from the top of the range."""
    return _pick(ipaddress.ip_address(subnet.allocation_start),
                 ipaddress.ip_address(subnet.allocation_end), vip_in_use(session, subnet.id),
                 {subnet.gateway}, highest=True)


def amphora_ip_conflict(session: Session, subnet_id: str, amphora_id: str, address: str) -> bool:
    """Whether anything but this amphora holds ``address`` on the subnet (a concurrent
    allocation picked it too). Called after the allocating transaction committed, so
    of two racing amphorae at least the later one sees the other."""
    return _taken(session, subnet_id, address, amphora_id)


def allocate_management_ip(session: Session, mgmt: ManagementConfig) -> str:
    net = ipaddress.ip_network(mgmt.cidr)
    used = {r for r in session.execute(select(m.Amphora.lb_network_ip)
                                       .where(m.Amphora.lb_network_ip.is_not(None))).scalars() if r}
    return _pick(net.network_address + 2, net.broadcast_address - 1, used, {mgmt.gateway})
