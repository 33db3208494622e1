"""Address allocation from the subnets declared in configuration.

Addresses in use are the rows that hold them; a unique constraint settles races
(the caller retries on IntegrityError)."""
from __future__ import annotations

import ipaddress
import socket

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from portus.common.config import ManagementConfig, SubnetConfig
from portus.db import models as m


class AddressUnavailable(Exception):
    pass


def _as_int(text: str) -> int:
    # inet_pton is several times faster than ipaddress for thousands of rows.
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    return int.from_bytes(socket.inet_pton(family, text), "big")


def _pick(start: ipaddress._BaseAddress, end: ipaddress._BaseAddress, used: set[str],
          reserved: set[str]) -> str:
    """The lowest address in [start, end] that is neither used nor reserved."""
    taken = {_as_int(a) for a in used | reserved}
    for value in range(int(start), int(end) + 1):
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
                                       extra.ip_address.is_not(None)))
    return {r for r in session.connection().execute(query).scalars().all() if r}


def _taken(session: Session, subnet_id: str, address: str) -> bool:
    for model in (m.Vip, m.AdditionalVip):
        if session.execute(select(model.subnet_id).where(
                model.subnet_id == subnet_id, model.ip_address == address).limit(1)).first():
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


def allocate_management_ip(session: Session, mgmt: ManagementConfig) -> str:
    net = ipaddress.ip_network(mgmt.cidr)
    used = {r for r in session.execute(select(m.Amphora.lb_network_ip)
                                       .where(m.Amphora.lb_network_ip.is_not(None))).scalars() if r}
    return _pick(net.network_address + 2, net.broadcast_address - 1, used, {mgmt.gateway})
