"""additional_vips on load balancer create: more VIPs, each on another declared subnet.

Octavia wants them on the VIP's network; without Neutron each declared subnet is its own
network by default, so here any declared subnet other than the VIP's is accepted.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy.orm import Session

from portus.api import errors, schemas as s
from portus.common.config import Config, SubnetConfig
from portus.db import ipam, models as m


def validate(cfg: Config, req: s.LoadBalancerPOST, vip_subnet: Any) -> list[SubnetConfig]:
    """The declared subnet of each additional VIP, in request order; 400 on a bad one."""
    out: list[SubnetConfig] = []
    seen = {vip_subnet.id}
    for i, extra in enumerate(req.additional_vips or []):
        field = f"loadbalancer.additional_vips.{i}"
        subnet = cfg.subnet(extra.subnet_id)
        if subnet is None:
            raise errors.InvalidField(f"{field}.subnet_id", extra.subnet_id, "Subnet not found.")
        if subnet.id in seen:
            raise errors.InvalidField(f"{field}.subnet_id", extra.subnet_id,
                                      "Each VIP needs its own subnet; this one is used twice.")
        seen.add(subnet.id)
        if extra.ip_address and ipaddress.ip_address(extra.ip_address) not in subnet.network:
            raise errors.InvalidField(f"{field}.ip_address", extra.ip_address,
                                      f"The address is not in subnet {subnet.id} ({subnet.cidr}).")
        out.append(subnet)
    return out


def attach(cfg: Config, session: Session, lb: m.LoadBalancer, req: s.LoadBalancerPOST) -> None:
    """Allocate the addresses like the VIP's and add the rows."""
    for extra in req.additional_vips or []:
        subnet = cfg.subnet(extra.subnet_id)
        assert subnet is not None  # validate() ran first
        address = allocate(session, subnet, ipam.OWNER_ADDITIONAL_VIP, lb.id, extra.ip_address)
        lb.additional_vips.append(m.AdditionalVip(
            subnet_id=subnet.id, network_id=subnet.network_id, ip_address=address,
            port_id=m.new_id()))


def allocate(session: Session, subnet: SubnetConfig, kind: str, lb_id: str,
             requested: str | None) -> str:
    """The address of a VIP (``kind``: ipam.OWNER_VIP) or an additional VIP of the load
    balancer, requested or the lowest free one; 409 when it cannot be had."""
    try:
        return ipam.allocate(session, subnet, kind, lb_id, requested)
    except ipam.AddressUnavailable as exc:
        if requested:
            raise errors.Conflict(str(exc)) from None
        raise errors.APIError(f"No VIP address available in subnet {subnet.id}", 409) from None
